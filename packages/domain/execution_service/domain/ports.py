"""What the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from execution_service.domain.derived import LoggedEvent
from execution_service.domain.events import Event, EventIdentity, RawMessage
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


class Unavailable(Exception):
    """A passing failure of a port (a database or broker down): try again later."""


class NotSettled(Exception):
    """A moment that writes still in flight may yet be recorded at or before: what was known
    then is not final yet. Ask again in a moment."""


@attrs.frozen
class Recorded:
    """What became of a batch's events, by Event.identity: those recorded for the first time,
    and those ignored because their execution had been pruned (retention.py)."""

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
