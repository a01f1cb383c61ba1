"""What the service does, in the domain's words."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence

import attrs

from execution_service.domain.events import (
    MAX_EVENT_BYTES,
    Event,
    FastDecoder,
    Ignored,
    RawMessage,
    Rejected,
    parse_message,
)
from execution_service.domain.model import Status
from execution_service.domain.ports import (
    Clock,
    ExecutionQueries,
    ExecutionRecorder,
    RetryPublisher,
)
from execution_service.domain.views import (
    DeadLetter,
    ExecutionFilter,
    ExecutionView,
    NodeRunView,
    Page,
    Paged,
    RetryRequest,
)


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class PublishFailed(Exception):
    pass


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    IGNORED = "ignored"


@attrs.frozen
class BatchReport:
    outcomes: Sequence[Outcome]
    rejections: Sequence[DeadLetter]

    def count(self, outcome: Outcome) -> int:
        return Counter(self.outcomes)[outcome]


async def record_events(
    recorder: ExecutionRecorder,
    messages: Sequence[RawMessage],
    max_bytes: int = MAX_EVENT_BYTES,
    fast: FastDecoder | None = None,
) -> BatchReport:
    """Record a batch in one unit of work; say per message what became of it."""
    parsed = [parse_message(message, max_bytes, fast) for message in messages]
    events: dict[str, Event] = {}
    for item in parsed:
        if isinstance(item, Event):
            events.setdefault(item.key, item)
    rejections = [
        DeadLetter(item.key, message.subject, message.data, dict(message.headers), item.reason)
        for item, message in zip(parsed, messages, strict=True)
        if isinstance(item, Rejected)
    ]
    recorded = await recorder.record(list(events.values()), rejections)
    applied, pruned = recorded.applied, recorded.of_pruned_executions
    outcomes = []
    claimed: set[str] = set()
    for item in parsed:
        if isinstance(item, Rejected):
            outcomes.append(Outcome.REJECTED)
        elif isinstance(item, Ignored) or item.key in pruned:
            outcomes.append(Outcome.IGNORED)
        elif item.key in applied and item.key not in claimed:
            claimed.add(item.key)
            outcomes.append(Outcome.APPLIED)
        else:
            outcomes.append(Outcome.DUPLICATE)
    return BatchReport(outcomes, rejections)


async def get_execution(queries: ExecutionQueries, execution_id: str) -> ExecutionView:
    execution = await queries.execution(execution_id)
    if execution is None:
        raise NotFound(f"execution {execution_id} not found")
    return execution


async def list_executions(
    queries: ExecutionQueries, page: Page, where: ExecutionFilter = ExecutionFilter()
) -> Paged[ExecutionView]:
    return await queries.executions(page, where)


async def get_node_runs(
    queries: ExecutionQueries, execution_id: str, page: Page
) -> Paged[NodeRunView]:
    await get_execution(queries, execution_id)
    return await queries.node_runs(execution_id, page)


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


async def list_dead_letters(queries: ExecutionQueries, page: Page) -> Paged[DeadLetter]:
    return await queries.dead_letters(page)


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
