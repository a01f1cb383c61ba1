"""What the service does, in the domain's words."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import attrs

from execution_service.domain.cursors import decode_cursor, encode_cursor
from execution_service.domain.derived import derive, execution_view, node_run_views
from execution_service.domain.errors import Conflict, NotFound
from execution_service.domain.events import (
    MAX_EVENT_BYTES,
    REPLAY_OF_HEADER,
    Event,
    EventIdentity,
    Ignored,
    RawMessage,
    Rejected,
)
from execution_service.domain.parsing import FastDecoder, parse_message
from execution_service.domain.ports import (
    Clock,
    ExecutionQueries,
    ExecutionRecorder,
    Pruner,
    ReplayPublisher,
    RetryPublisher,
)
from execution_service.domain.retention import Pruned, Retention
from execution_service.domain.status import Status
from execution_service.domain.views import (
    DeadLetter,
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


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    IGNORED = "ignored"


@attrs.frozen
class BatchReport:
    outcomes: Sequence[Outcome]
    rejections: Sequence[DeadLetter]
    _tally: Counter[Outcome] = attrs.field(init=False)

    @_tally.default
    def _count(self) -> Counter[Outcome]:
        return Counter(self.outcomes)

    def count(self, outcome: Outcome) -> int:
        return self._tally[outcome]


async def record_events(
    recorder: ExecutionRecorder,
    messages: Sequence[RawMessage],
    max_bytes: int = MAX_EVENT_BYTES,
    fast: FastDecoder | None = None,
) -> BatchReport:
    """Record a batch in one unit of work; say per message what became of it."""
    parsed = [parse_message(message, max_bytes, fast) for message in messages]
    events: dict[EventIdentity, Event] = {}
    rejections = []
    for item, message in zip(parsed, messages, strict=True):
        if type(item) is Event:
            events.setdefault((item.execution_id, item.key), item)
        elif type(item) is Rejected:
            rejections.append(
                DeadLetter(item.key, message.subject, message.data, dict(message.headers),
                           item.reason)
            )  # fmt: skip
    recorded = await recorder.record(list(events.values()), rejections)
    applied, pruned = recorded.applied, recorded.of_pruned_executions
    outcomes = []
    claimed: set[EventIdentity] = set()
    for item in parsed:
        if isinstance(item, Rejected):
            outcomes.append(Outcome.REJECTED)
            continue
        if isinstance(item, Ignored):
            outcomes.append(Outcome.IGNORED)
            continue
        identity = (item.execution_id, item.key)
        if identity in pruned:
            outcomes.append(Outcome.IGNORED)
        elif identity in applied and identity not in claimed:
            claimed.add(identity)
            outcomes.append(Outcome.APPLIED)
        else:
            outcomes.append(Outcome.DUPLICATE)
    return BatchReport(outcomes, rejections)


async def get_execution(queries: ExecutionQueries, execution_id: str) -> ExecutionView:
    execution = await queries.execution(execution_id)
    if execution is None:
        raise NotFound(f"execution {execution_id} not found")
    return execution


@attrs.frozen
class Slice:
    """A keyset page: its executions, and the cursor of the next page (None at the end)."""

    items: Sequence[ExecutionView]
    next_cursor: str | None


async def walk_executions(
    queries: ExecutionQueries,
    cursor: str,
    limit: int,
    where: ExecutionFilter = ExecutionFilter(),
    order: ExecutionOrder = ExecutionOrder.NEWEST_STARTED,
) -> Slice:
    """The keyset page after `cursor` ("" for the first); InvalidCursor if it is not one of
    this list's. One row more than asked tells whether another page follows."""
    after = decode_cursor(cursor, where, order)
    rows = await queries.executions_after(where, order, after, limit + 1)
    items = list(rows[:limit])
    if len(rows) <= limit:
        return Slice(items, None)
    last = items[-1]
    at = last.updated_at if order is ExecutionOrder.LAST_UPDATED else last.started_at
    return Slice(items, encode_cursor(where, order, Position(at, last.id)))


async def get_node_runs(
    queries: ExecutionQueries,
    execution_id: str,
    page: Page,
    where: NodeRunFilter = NodeRunFilter(),
) -> Paged[NodeRunView]:
    await get_execution(queries, execution_id)
    return await queries.node_runs(execution_id, page, where)


async def execution_at(
    queries: ExecutionQueries, execution_id: str, at: datetime
) -> tuple[ExecutionView, list[NodeRunView]]:
    """The execution and its node runs as the service knew them at `at`: the fold of the
    events recorded by then, with createdAt and updatedAt the recorded times of the first and
    the last of them that touched each. NotFound if none had been recorded."""
    derived = derive(await queries.logged(execution_id, at))
    view = execution_view(derived, execution_id, revision=f"at-{at.isoformat()}")
    if view is None:
        raise NotFound(f"execution {execution_id} was not known at {at.isoformat()}")
    return view, node_run_views(derived, execution_id)


async def get_node_runs_at(
    queries: ExecutionQueries,
    execution_id: str,
    at: datetime,
    page: Page,
    where: NodeRunFilter = NodeRunFilter(),
) -> Paged[NodeRunView]:
    """get_node_runs as the service knew them at `at` (execution_at)."""
    _, runs = await execution_at(queries, execution_id, at)
    admitted = [r for r in runs if where.admits(r.status, r.node_id, r.attempt)]
    return Paged(admitted[page.offset : page.offset + page.limit], len(admitted), page)


async def get_history(queries: ExecutionQueries, execution_id: str) -> Sequence[RawMessage]:
    """The events recorded for a known execution, in recorded order."""
    execution = await get_execution(queries, execution_id)
    return await queries.history(execution.id)


async def get_retry_requests(
    queries: ExecutionQueries, execution_id: str
) -> Sequence[RetryRequest]:
    """The retries requested for a known execution, by attempt."""
    execution = await get_execution(queries, execution_id)
    return await queries.retry_requests(execution.id)


async def get_dead_letter(queries: ExecutionQueries, key: str) -> DeadLetter:
    letter = await queries.dead_letter(key)
    if letter is None:
        raise NotFound(f"dead letter {key} not found")
    return letter


async def replay_dead_letter(
    queries: ExecutionQueries,
    recorder: ExecutionRecorder,
    publisher: ReplayPublisher,
    clock: Clock,
    key: str,
) -> DeadLetter:
    """Put a dead letter back on its subject, as received, once per failure.

    Once replayed, asking again publishes nothing until it fails again (which clears the mark
    and counts it up). Two requests at once both publish under the same message id, which the
    broker keeps once, and only one marks it. The replay carries the letter's key, so that it
    is the same event to de-duplication."""
    letter = await get_dead_letter(queries, key)
    if letter.replayed_at is not None:
        return letter
    headers = dict(letter.headers) | {REPLAY_OF_HEADER: letter.key}
    message = RawMessage(letter.subject, letter.payload, headers)
    await publisher.publish_replay(message, letter.replay_message_id)
    at = clock.now()
    await recorder.mark_replayed(letter.key, letter.count, at)
    return await get_dead_letter(queries, key)


async def discard_dead_letter(
    queries: ExecutionQueries, recorder: ExecutionRecorder, key: str
) -> DeadLetter:
    """Forget a dead letter (its cause will not be fixed); the letter as it was."""
    letter = await get_dead_letter(queries, key)
    if not await recorder.discard_dead_letter(key):
        raise NotFound(f"dead letter {key} not found")
    return letter


async def request_retry(
    queries: ExecutionQueries,
    recorder: ExecutionRecorder,
    publisher: RetryPublisher,
    clock: Clock,
    execution_id: str,
) -> RetryRequest:
    """Ask the orchestrator to resume a failed execution from its failed node.

    The request is recorded only once it is published; asking again for the same attempt
    answers with the recorded request and publishes nothing."""
    execution = await get_execution(queries, execution_id)
    if execution.status is not Status.FAILED:
        raise Conflict(
            f"execution {execution_id} is {execution.status.value}; only a FAILED one can be"
            " retried"
        )
    next_attempt = execution.attempt + 1
    existing = await queries.retry_request(execution_id, next_attempt)
    if existing is not None:
        return existing
    failed_node = await queries.failed_node(execution_id, execution.attempt)
    if failed_node is None:
        raise Conflict(
            f"execution {execution_id} has no failed node in attempt {execution.attempt}"
        )
    request = RetryRequest(
        execution_id=execution_id,
        attempt=next_attempt,
        failed_node_id=failed_node,
        workflow_id=execution.workflow_id,
        user_id=execution.user_id,
        requested_at=clock.now(),
    )
    await publisher.publish_retry(request)
    return await recorder.record_retry_request(request)


async def prune(
    pruner: Pruner, clock: Clock, retention: Retention, dry_run: bool = False
) -> Pruned | None:
    """One pass of the retention policy, as of now."""
    return await pruner.prune(retention.cutoffs(clock.now()), dry_run)
