"""Every port: what the use cases and the service need from the outside world, each a
Protocol an adapter implements (and a fake in adapters/memory, held to it by the port's
contract suite). The values they pass are in views.py, events.py, changes.py and
retention.py; the errors they raise in errors.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import attrs

from execution_service.domain.changes import DEFAULT_PENDING_LIMIT, ChangeSubscription
from execution_service.domain.derived import LoggedEvent
from execution_service.domain.events import Event, EventIdentity, RawMessage
from execution_service.domain.retention import Cutoffs, Pruned
from execution_service.domain.tracing import Exported, FinishedAttempt
from execution_service.domain.views import (
    DeadLetter,
    DeadLetterFilter,
    ExecutionFilter,
    ExecutionOrder,
    ExecutionView,
    NodeRunFilter,
    NodeRunView,
    Page,
    Paged,
    Position,
    RetryRequest,
)

if TYPE_CHECKING:  # use_cases.py, which reports a batch, and event_log.py need these ports
    from execution_service.domain.derived import Derived, Difference
    from execution_service.domain.event_log import Selection, Snapshot, Verification
    from execution_service.domain.use_cases import BatchReport


@attrs.frozen
class Recorded:
    """What became of a batch's events, by Event.identity: those recorded for the first time,
    and those ignored because their execution had been pruned (Pruner)."""

    applied: frozenset[EventIdentity]
    of_pruned_executions: frozenset[EventIdentity] = frozenset()


class ExecutionRecorder(Protocol):
    """The write side. Each call is its own unit of work: atomic, and safe to call from
    concurrent tasks."""

    async def record(self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]) -> Recorded:
        """Atomically store the events not seen before (by identity), bring their executions and
        node runs to the fold of all their events, and store the dead letters (a repeated
        key counts up). Events of an execution that was pruned are left out. Says which
        events were new, and which were left out."""
        ...

    async def record_retry_request(self, request: RetryRequest) -> RetryRequest:
        """Store the request; if one for the same execution and attempt exists, keep and
        return that one."""
        ...

    async def mark_replayed(self, key: str, count: int, at: datetime) -> bool:
        """Mark the dead letter replayed at `at` (and count one replay more) if it still has
        that count and is not marked yet; say whether it was marked now."""
        ...

    async def discard_dead_letter(self, key: str) -> bool:
        """Forget the dead letter; say whether there was one."""
        ...


class ExecutionQueries(Protocol):
    """The query side: what has been recorded, read back. Safe to call from concurrent tasks."""

    async def execution(self, execution_id: str) -> ExecutionView | None: ...

    async def executions(
        self,
        page: Page,
        where: ExecutionFilter = ExecutionFilter(),
        order: ExecutionOrder = ExecutionOrder.NEWEST_STARTED,
    ) -> Paged[ExecutionView]:
        """In the order (by start time, unknown last, or by update time; then id the same
        way round), with the exact total."""
        ...

    async def executions_after(
        self, where: ExecutionFilter, order: ExecutionOrder, after: Position | None, limit: int
    ) -> Sequence[ExecutionView]:
        """Up to `limit` executions strictly after the position in the order (from the first
        when None): a keyset page, whose cost does not grow with its depth."""
        ...

    async def node_runs(
        self, execution_id: str, page: Page, where: NodeRunFilter = NodeRunFilter()
    ) -> Paged[NodeRunView]:
        """By start time (unknown last), then node id, then attempt."""
        ...

    async def failed_node(self, execution_id: str, attempt: int) -> str | None:
        """The node of that attempt that failed first (by failure time, then node id)."""
        ...

    async def history(self, execution_id: str) -> Sequence[RawMessage]:
        """Every event recorded for the execution, as received, in the order they were
        inserted: a batch's new events in key order, batches in the order they inserted
        them. That is not the order batches committed in (one that inserted first may commit
        last), nor the order of recorded times (a batch's is when its transaction began).
        Not the events' own timestamps either: these are whatever the producer claimed, and
        the history shows what arrived, not what it says."""
        ...

    async def logged(self, execution_id: str, until: datetime) -> Sequence[LoggedEvent]:
        """The execution's events recorded at or before `until`, each with its recorded time,
        in history's order. Raises NotSettled unless every write that could still be recorded
        at or before `until` has ended: an answer, once given, holds forever."""
        ...

    async def dead_letters(
        self, page: Page, where: DeadLetterFilter = DeadLetterFilter()
    ) -> Paged[DeadLetter]:
        """Most recently seen first."""
        ...

    async def dead_letter(self, key: str) -> DeadLetter | None: ...

    async def retry_request(self, execution_id: str, attempt: int) -> RetryRequest | None: ...

    async def retry_requests(self, execution_id: str) -> Sequence[RetryRequest]:
        """Every retry requested for the execution, by attempt."""
        ...


class RetryPublisher(Protocol):
    async def publish_retry(self, request: RetryRequest) -> None:
        """Publish `execution.retry.requested`; raise PublishFailed if it did not go out."""
        ...


class ReplayPublisher(Protocol):
    async def publish_replay(self, message: RawMessage, message_id: str) -> None:
        """Publish the message again on its subject, with its headers, de-duplicated on
        `message_id`; raise PublishFailed if it did not go out."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class Pruner(Protocol):
    async def prune(self, cutoffs: Cutoffs, dry_run: bool = False) -> Pruned | None:
        """Delete what is older than the cutoffs: finished executions with their node runs,
        events, retry requests and traces (each leaving a tombstone; one whose trace waits for
        export only past waiting_traces_before), dead letters and tombstones.
        Works in bounded units of work, never holding up recording for long. Returns None,
        having done nothing, while another pass runs (on this or another replica). A dry run
        deletes nothing and says what a pass would delete now."""
        ...


class ExecutionChanges(Protocol):
    """A feed of changed execution ids, in this process, for changes committed anywhere."""

    def subscribe(
        self, execution_id: str | None = None, limit: int = DEFAULT_PENDING_LIMIT
    ) -> ChangeSubscription:
        """Changes from now on: of one execution, or of all. Up to `limit` pending ids, then
        a gap."""
        ...


class BatchObserver(Protocol):
    """What the event consumer tells whoever watches it (the service's metrics), once per
    batch, never once per event: an implementation counts a whole batch at a time, so that
    watching costs nothing measurable per event."""

    def batch_fetched(self, size: int, redelivered: int) -> None:
        """A batch arrived; `redelivered` of its messages had been delivered before."""
        ...

    def batch_recorded(self, subjects: Sequence[str], report: BatchReport) -> None:
        """The batch is committed: `report.outcomes[i]` is what became of `subjects[i]`
        (rejected ones are stored as dead letters)."""
        ...

    def batch_finished(self, seconds: float) -> None:
        """From fetched to acknowledged (or handed back for redelivery)."""
        ...

    def dead_lettered_after_failures(self, count: int) -> None:
        """Messages stored as dead letters because they failed too many deliveries."""
        ...


class UnobservedBatches:
    """The BatchObserver to use when nobody watches."""

    def batch_fetched(self, size: int, redelivered: int) -> None:
        pass

    def batch_recorded(self, subjects: Sequence[str], report: BatchReport) -> None:
        pass

    def batch_finished(self, seconds: float) -> None:
        pass

    def dead_lettered_after_failures(self, count: int) -> None:
        pass


class TraceExporter(Protocol):
    async def export(self, attempts: Sequence[FinishedAttempt]) -> int:
        """Send one trace per attempt; return the number of spans once the receiver has
        accepted them all; raise ExportFailed otherwise."""
        ...


class TraceOutbox(Protocol):
    """The finished attempts waiting for export, shared by every replica."""

    async def export_due(self, limit: int, exporter: TraceExporter) -> Exported:
        """Claim up to `limit` attempts that are due and that no one else holds, give them to
        the exporter, and mark them exported once it has returned; if it raised ExportFailed,
        put them off (a growing delay) and raise it. Exported(0, 0) when none was due."""
        ...

    async def backlog(self) -> int:
        """How many finished attempts wait for export."""
        ...


class EventLog(Protocol):
    """The recorded events and the rows derived from them."""

    async def execution_ids(
        self, selection: Selection, after: str | None, limit: int
    ) -> Sequence[str]:
        """Up to `limit` executions that have events or a stored row, in id order, after
        `after` (from the first when None)."""
        ...

    async def count(self, selection: Selection) -> int:
        """How many executions execution_ids would walk (for progress)."""
        ...

    async def snapshot(self, execution_ids: Sequence[str]) -> Snapshot:
        """Their events and stored rows, read in one consistent snapshot."""
        ...

    async def replace(
        self, execution_ids: Sequence[str], derive: Callable[[Sequence[LoggedEvent]], Derived]
    ) -> int:
        """Replace the stored rows of each execution that has events by what `derive` makes
        of all of them, atomically with respect to recording: an event recorded meanwhile
        ends up in the rows too. Live views are told of each changed execution. Returns how
        many executions changed. A pruned execution is left alone."""
        ...

    async def recount(self) -> None:
        """Make the per-status counts those of the stored executions."""
        ...

    async def count_differences(self) -> list[Difference]:
        """Where the per-status counts differ from the stored executions."""
        ...

    async def save_verification(self, verification: Verification) -> None: ...

    async def last_verification(self) -> Verification | None: ...
