"""ONE suite for the ExecutionRecorder and ExecutionQueries ports, run on the in-memory fake and
on PostgreSQL: what one side records, the other reads back."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.domain import (
    EXECUTION,
    DeadLetter,
    Event,
    ExecutionFilter,
    ExecutionQueries,
    ExecutionRecorder,
    ExecutionView,
    Outcome,
    Page,
    RawMessage,
    Status,
    parse_message,
    project,
    record_events,
)
from execution_service.domain.views import RetryRequest
from support.events import Workflow, at, message
from support.histories import histories, shuffled_with_duplicates
from support.snapshots import snapshot

from .conftest import StoreFactory


def workflow(execution: str, start_ms: int, fail: bool = False) -> list[Any]:
    return (
        Workflow(execution, start_ms)
        .started(0, workflowId="wf", input={"q": 1})
        .node_started("b", 10)
        .node_started("a", 20)
        .node_ended("a", 30, output=[1])
        .node_ended("b", 40, failed=fail, error="boom" if fail else None)
        .ended(50, failed=fail, error="b failed" if fail else None)
        .messages
    )


async def test_record_applies_new_events_once(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    events = workflow("e1", 0)
    first = await record_events(recorder, events)
    second = await record_events(recorder, events + events)
    assert first.count(Outcome.APPLIED) == 6
    assert second.count(Outcome.DUPLICATE) == 12
    execution = await queries.execution("e1")
    assert execution is not None
    assert execution.status is Status.COMPLETED
    assert execution.input == {"q": 1}
    assert execution.started_at == at(0) and execution.completed_at == at(50)
    assert execution.duration == 50
    assert (execution.nodes.total, execution.nodes.completed) == (2, 2)


async def test_a_key_seen_again_with_other_content_changes_nothing(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    """The first event of a key is the event: a later one under the same key, even in a batch
    with new events, is a duplicate however it reads."""
    base = {"executionId": "e1", "nodeId": "a"}
    first = message("execution.node.completed", base | {"output": "A"}, ms=10, event_id="k1")
    await record_events(recorder, [first])
    again = message("execution.node.completed", base | {"output": "B"}, ms=20, event_id="k1")
    fresh = message("execution.node.started", base | {"nodeName": "A"}, ms=5, event_id="k2")
    report = await record_events(recorder, [again, fresh])
    assert report.outcomes == [Outcome.DUPLICATE, Outcome.APPLIED]
    (run,) = (await queries.node_runs("e1", Page())).items
    assert (run.output, run.node_name, run.completed_at) == ("A", "A", at(10))


async def test_a_key_is_an_event_within_its_execution(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    """An orchestrator that numbers each execution's events from 1 reuses keys across
    executions: each execution keeps all of its events, in one batch or in several."""

    def started(execution: str, key: str) -> Any:
        return message("execution.started", {"executionId": execution}, ms=0, event_id=key)

    first = await record_events(recorder, [started("e1", "1"), started("e2", "1")])
    second = await record_events(recorder, [started("e3", "1"), started("e1", "1")])
    assert first.outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    assert second.outcomes == [Outcome.APPLIED, Outcome.DUPLICATE]
    for execution in ("e1", "e2", "e3"):
        assert [m.headers["Nats-Msg-Id"] for m in await queries.history(execution)] == ["1"]


async def test_the_trace_context_of_a_start_is_kept_with_it_whichever_way_it_was_recorded(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    """A traceparent header on execution.started is stored at ingest: the trace is exported
    later, perhaps by another replica (CONTRACT §7). Other subjects' headers are not kept."""
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    def with_header(subject: str, key: str) -> RawMessage:
        m = message(subject, {"executionId": "t1", "nodeId": "n"}, ms=0, event_id=key)
        return RawMessage(m.subject, m.data, {"traceparent": parent})

    await record_events(recorder, [with_header("execution.started", "a")])
    # a duplicate in the next batch sends it the careful way (adapters/postgres/recorder.py)
    await record_events(
        recorder, [with_header("execution.started", "a"), with_header("execution.started", "b")]
    )
    await record_events(recorder, [with_header("execution.node.started", "c")])

    history = await queries.history("t1")
    assert [m.headers.get("traceparent") for m in history] == [parent, parent, None]
    assert [parse_message(m).traceparent for m in history] == [parent, parent, None]  # type: ignore[union-attr]


async def test_node_runs_come_in_start_order_with_pages(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await record_events(recorder, workflow("e1", 0))
    await record_events(
        recorder, [message("execution.node.completed", {"executionId": "e1", "nodeId": "c"})]
    )
    page1 = await queries.node_runs("e1", Page(1, 2))
    page2 = await queries.node_runs("e1", Page(2, 2))
    assert [r.node_id for r in [*page1.items, *page2.items]] == [
        "b",
        "a",
        "c",
    ]  # unknown start last
    assert (page1.total, page1.total_pages) == (3, 2)
    assert page1.items[1].output == [1] and page1.items[0].error is None


async def test_executions_are_listed_newest_first_with_unknown_starts_last(
    recorder: ExecutionRecorder,
    queries: ExecutionQueries,
) -> None:
    for number, start in enumerate([100, 300, 200]):
        await record_events(recorder, workflow(f"e{number}", start))
    await record_events(
        recorder, [message("execution.node.started", {"executionId": "zz", "nodeId": "n"})]
    )
    listed = await queries.executions(Page(1, 3))
    rest = await queries.executions(Page(2, 3))
    assert [e.id for e in [*listed.items, *rest.items]] == ["e1", "e2", "e0", "zz"]
    assert listed.total == 4 and listed.total_pages == 2
    orphan = rest.items[0]
    assert orphan.status is Status.RUNNING and orphan.workflow_id is None


async def test_failed_node_is_the_first_failure_of_that_attempt(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await record_events(recorder, workflow("e1", 0, fail=True))
    assert await queries.failed_node("e1", 1) == "b"
    assert await queries.failed_node("e1", 2) is None
    assert await queries.failed_node("nope", 1) is None


async def test_unknown_execution_reads_as_none_and_empty(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    assert await queries.execution("nope") is None
    runs = await queries.node_runs("nope", Page())
    assert (runs.items, runs.total) == ([], 0)


async def test_history_rebuilds_the_same_state(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await record_events(recorder, workflow("e1", 0, fail=True) + workflow("e2", 5))
    history = await queries.history("e1")
    assert len(history) == 6
    rebuilt = project(e for e in map(parse_message, history) if isinstance(e, Event))
    view = await queries.execution("e1")
    assert view is not None
    fields = EXECUTION.as_dict(rebuilt.executions["e1"]) | {"id": "e1"}
    assert ExecutionView.of(fields, view.nodes, view.created_at, view.updated_at) == view


async def test_history_is_in_recorded_order_batch_by_batch_and_by_key_within_one(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    def node(key: str, ms: int) -> Any:
        body = {"executionId": "e1", "nodeId": key}
        return message("execution.node.started", body, ms=ms, event_id=key)

    await record_events(recorder, [node("k3", 0), node("k1", 10), node("k2", 5)])
    await record_events(recorder, [node("k0", 1), node("k1", 99)])
    await record_events(recorder, [node("k9", 2)])
    history = await queries.history("e1")
    assert [m.headers["Nats-Msg-Id"] for m in history] == ["k1", "k2", "k3", "k0", "k9"]


async def test_dead_letters_count_repeats(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    letter = DeadLetter("k1", "execution.started", b"\x00garbage", {"h": "v"}, "not JSON")
    await recorder.record([], [letter, letter])
    await recorder.record([], [letter, DeadLetter("k2", "execution.failed", b"{}", {}, "why")])
    listed = await queries.dead_letters(Page(1, 10))
    assert listed.total == 2
    first = next(d for d in listed.items if d.key == "k1")
    assert (first.count, first.payload, first.headers, first.reason) == (
        3,
        b"\x00garbage",
        {"h": "v"},
        "not JSON",
    )
    assert first.first_seen is not None and first.last_seen is not None


async def test_a_retry_request_is_recorded_once(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await record_events(recorder, workflow("e1", 0, fail=True))
    request = RetryRequest("e1", 2, "b", "wf", None, at(99))
    assert await recorder.record_retry_request(request) == request
    again = attrs.evolve(request, requested_at=at(500), failed_node_id="a")
    assert await recorder.record_retry_request(again) == request
    assert await queries.retry_request("e1", 2) == request
    assert await queries.retry_request("e1", 3) is None
    third = RetryRequest("e1", 3, "b", "wf", None, at(700))
    await recorder.record_retry_request(third)
    assert await queries.retry_requests("e1") == [request, third]
    assert await queries.retry_requests("e2") == []


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_delivery_in_any_batches_ends_in_the_in_order_state(
    new_store: StoreFactory, data: st.DataObject
) -> None:
    history = data.draw(histories())
    delivered = data.draw(shuffled_with_duplicates(history))
    reference = MemoryStore(FixedClock())
    await record_events(reference, history)
    store = await new_store()
    size = data.draw(st.integers(1, 25))
    for start in range(0, len(delivered), size):
        await record_events(store.recorder, delivered[start : start + size])
    assert await snapshot(store.queries) == await snapshot(reference)


async def test_executions_can_be_filtered_by_status_workflow_and_user(
    recorder: ExecutionRecorder,
    queries: ExecutionQueries,
) -> None:
    await record_events(recorder, workflow("e1", 0) + workflow("e2", 10, fail=True))
    await record_events(
        recorder, [message("execution.started", {"executionId": "e3", "userId": "u9"})]
    )
    failed = await queries.executions(Page(1, 10), ExecutionFilter(statuses={Status.FAILED}))
    assert [e.id for e in failed.items] == ["e2"] and failed.total == 1
    by_workflow = await queries.executions(Page(1, 10), ExecutionFilter(workflow_id="wf"))
    assert {e.id for e in by_workflow.items} == {"e1", "e2"}
    both = ExecutionFilter(statuses={Status.RUNNING}, user_id="u9")
    assert [e.id for e in (await queries.executions(Page(1, 10), both)).items] == ["e3"]
    none = ExecutionFilter(statuses={Status.CANCELLED}, workflow_id="wf")
    assert (await queries.executions(Page(1, 10), none)).total == 0


async def test_json_values_beyond_64_bits_and_beyond_ascii_are_kept_exactly(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    # orjson writes jsonb parameters and refuses integers beyond 64 bits: they must still
    # be stored, as the standard library writes them, and read back as the same integers
    huge = {"n": 2**70, "m": -(2**64), "text": "é ☃ 𝄞"}
    events = (
        Workflow("big", 0)
        .started(0, workflowId="wf", input=huge)
        .node_started("a", 10, input=huge)
        .node_ended("a", 20, output=huge)
        .ended(30, output=huge)
        .messages
    )
    report = await record_events(recorder, events)
    assert report.count(Outcome.APPLIED) == 4
    execution = await queries.execution("big")
    assert execution is not None
    assert execution.input == huge and execution.output == huge
    runs = await queries.node_runs("big", Page(1, 10))
    assert [(r.input, r.output) for r in runs.items] == [(huge, huge)]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_an_executions_revision_changes_whenever_its_view_does(
    new_store: StoreFactory, data: st.DataObject
) -> None:
    """What a conditional GET relies on (http/conditional.py): equal revisions, equal views.
    Node counts change with node runs alone, which never touch the execution's own row."""
    delivered = data.draw(shuffled_with_duplicates(data.draw(histories())))
    store = await new_store()
    seen: dict[str, tuple[str, object]] = {}
    size = data.draw(st.integers(1, 6))
    for start in range(0, len(delivered), size):
        await record_events(store.recorder, delivered[start : start + size])
        for view in (await store.queries.executions(Page(1, 100))).items:
            before = seen.get(view.id)
            if before is not None and before[1] != view:
                assert view.revision != before[0], (view, before)
            if before is not None and before[0] == view.revision:
                assert before[1] == view
            seen[view.id] = (view.revision, view)
