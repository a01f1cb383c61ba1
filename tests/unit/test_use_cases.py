"""The use cases, driven through the in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from execution_service.adapters.memory import FixedClock, MemoryRetryPublisher, MemoryStore
from execution_service.domain import (
    Conflict,
    NotFound,
    Outcome,
    Page,
    PublishFailed,
    RawMessage,
    Status,
    get_execution,
    get_history,
    get_node_runs,
    get_retry_requests,
    record_events,
    request_retry,
)
from execution_service.domain.events import parse_time
from support.events import Workflow, message


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def store(clock: FixedClock) -> MemoryStore:
    return MemoryStore(clock)


@pytest.fixture
def publisher() -> MemoryRetryPublisher:
    return MemoryRetryPublisher()


def failing_workflow(execution: str = "e1", attempt: int = 1) -> list[RawMessage]:
    return (
        Workflow(execution, attempt=attempt)
        .started(0, workflowId="wf", userId="u")
        .node_started("a", 10)
        .node_ended("a", 20, duration=5)
        .node_started("b", 30)
        .node_ended("b", 40, failed=True, error="boom")
        .ended(50, failed=True, error="node b failed")
        .messages
    )


async def test_record_events_reports_each_outcome(store: MemoryStore) -> None:
    events = failing_workflow()
    batch = [
        *events,
        events[0],  # duplicate inside the batch
        RawMessage("execution.started", b"garbage"),
        RawMessage("execution.retry.requested", b"{}"),
    ]
    report = await record_events(store, batch)
    assert report.count(Outcome.APPLIED) == 6
    assert report.count(Outcome.DUPLICATE) == 1
    assert report.count(Outcome.REJECTED) == 1
    assert report.count(Outcome.IGNORED) == 1
    assert "not JSON" in report.rejections[0].reason
    again = await record_events(store, events)
    assert again.count(Outcome.DUPLICATE) == 6


async def test_a_recorded_execution_reads_back_with_node_counts(store: MemoryStore) -> None:
    await record_events(store, failing_workflow())
    execution = await get_execution(store, "e1")
    assert execution.status is Status.FAILED
    assert (execution.workflow_id, execution.user_id, execution.error) == (
        "wf",
        "u",
        "node b failed",
    )
    assert execution.duration == 50
    assert (execution.nodes.total, execution.nodes.completed, execution.nodes.failed) == (2, 1, 1)
    runs = await get_node_runs(store, "e1", Page(1, 10))
    assert [(r.node_id, r.status, r.duration) for r in runs.items] == [
        ("a", Status.COMPLETED, 5),
        ("b", Status.FAILED, 10),
    ]
    listed = await store.executions(Page(1, 10))
    assert [e.id for e in listed.items] == ["e1"] and listed.total == 1


async def test_unknown_execution_is_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFound):
        await get_execution(store, "nope")
    with pytest.raises(NotFound):
        await get_node_runs(store, "nope", Page())
    with pytest.raises(NotFound):
        await get_history(store, "nope")
    with pytest.raises(NotFound):
        await get_retry_requests(store, "nope")


async def test_history_retries_and_dead_letters_read_back_what_was_recorded(
    store: MemoryStore, publisher: MemoryRetryPublisher, clock: FixedClock
) -> None:
    events = failing_workflow()
    await record_events(store, [*events, RawMessage("execution.failed", b"[")])
    assert len(await get_history(store, "e1")) == len(events)
    assert await get_retry_requests(store, "e1") == []
    request = await request_retry(store, store, publisher, clock, "e1")
    assert await get_retry_requests(store, "e1") == [request]
    letters = await store.dead_letters(Page(1, 10))
    assert [d.subject for d in letters.items] == ["execution.failed"]


async def test_retry_publishes_the_next_attempt_from_the_failed_node(
    store: MemoryStore, publisher: MemoryRetryPublisher, clock: FixedClock
) -> None:
    await record_events(store, failing_workflow())
    clock.at = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    request = await request_retry(store, store, publisher, clock, "e1")
    assert (request.failed_node_id, request.attempt) == ("b", 2)
    assert request.requested_at == clock.at
    envelope = publisher.published["retry:e1:2"]
    assert envelope["eventType"] == "execution.retry.requested"
    assert parse_time(envelope["timestamp"]) == clock.at
    assert envelope["data"] | {"requestedAt": parse_time(envelope["data"]["requestedAt"])} == {
        "executionId": "e1",
        "workflowId": "wf",
        "userId": "u",
        "failedNodeId": "b",
        "attempt": 2,
        "requestedAt": clock.at,
    }
    assert await store.retry_requests("e1") == [request]


async def test_retry_twice_for_the_same_attempt_publishes_once_and_answers_the_same(
    store: MemoryStore, publisher: MemoryRetryPublisher, clock: FixedClock
) -> None:
    await record_events(store, failing_workflow())
    first = await request_retry(store, store, publisher, clock, "e1")
    clock.advance(seconds=5)
    publisher.published.clear()
    second = await request_retry(store, store, publisher, clock, "e1")
    assert second == first
    assert publisher.published == {}


async def test_retry_after_the_resumed_attempt_failed_again_asks_for_attempt_three(
    store: MemoryStore, publisher: MemoryRetryPublisher, clock: FixedClock
) -> None:
    await record_events(store, failing_workflow(attempt=1) + failing_workflow(attempt=2))
    request = await request_retry(store, store, publisher, clock, "e1")
    assert request.attempt == 3


@pytest.mark.parametrize(
    "events",
    [
        failing_workflow()[:4],  # still RUNNING
        failing_workflow()[:3] + [message("execution.completed", {"executionId": "e1"})],
        failing_workflow()[:3] + [message("execution.cancelled", {"executionId": "e1"})],
        failing_workflow()[:3] + [message("execution.failed", {"executionId": "e1"}, ms=99)],
    ],
    ids=["running", "completed", "cancelled", "failed-without-failed-node"],
)
async def test_retry_of_an_execution_that_cannot_be_retried_is_a_conflict(
    store: MemoryStore, publisher: MemoryRetryPublisher, clock: FixedClock, events: list[RawMessage]
) -> None:
    await record_events(store, events)
    with pytest.raises(Conflict):
        await request_retry(store, store, publisher, clock, "e1")
    assert publisher.published == {}
    assert await store.retry_request("e1", 2) is None


async def test_retry_of_an_unknown_execution_is_not_found(
    store: MemoryStore, publisher: MemoryRetryPublisher, clock: FixedClock
) -> None:
    with pytest.raises(NotFound):
        await request_retry(store, store, publisher, clock, "nope")


async def test_retry_that_cannot_be_published_records_nothing(
    store: MemoryStore, publisher: MemoryRetryPublisher, clock: FixedClock
) -> None:
    await record_events(store, failing_workflow())
    publisher.available = False
    with pytest.raises(PublishFailed):
        await request_retry(store, store, publisher, clock, "e1")
    assert await store.retry_request("e1", 2) is None
    publisher.available = True
    assert (await request_retry(store, store, publisher, clock, "e1")).attempt == 2
