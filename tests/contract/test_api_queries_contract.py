"""The API's queries (issue 13) on both stores: filters, sorts, keyset pages, node-run filters
and dead letters (one, filtered, replayed, discarded)."""

from __future__ import annotations

from typing import Any

import pytest

from execution_service.domain import (
    DeadLetter,
    DeadLetterFilter,
    ExecutionFilter,
    ExecutionOrder,
    ExecutionQueries,
    ExecutionRecorder,
    ExecutionView,
    NodeRunFilter,
    Page,
    Position,
    Status,
    record_events,
)
from support.events import Workflow, at, message


def run(execution: str, start_ms: int, end: str | None = "done") -> list[Any]:
    flow = Workflow(execution, start_ms).started(0, workflowId="wf").node_started("a", 1)
    if end is not None:
        flow.node_ended("a", 2, failed=end == "fail").ended(3, failed=end == "fail")
    return flow.messages


def unstarted(execution: str) -> list[Any]:
    """Only a node's event has arrived: the execution's start is unknown."""
    return [message("execution.node.started", {"executionId": execution, "nodeId": "a"})]


async def seed(recorder: ExecutionRecorder) -> None:
    # x2 and x3 start at the same instant: ties are broken by id
    events = (
        run("x1", 0)
        + run("x2", 1000, "fail")
        + run("x3", 1000, None)
        + run("x4", 2000)
        + run("x5", 3000, "fail")
        + unstarted("u1")
        + unstarted("u2")
    )
    await record_events(recorder, events)


async def ids(queries: ExecutionQueries, where: ExecutionFilter, order: Any = None) -> list[str]:
    order = order or ExecutionOrder.NEWEST_STARTED
    return [e.id for e in (await queries.executions(Page(1, 100), where, order)).items]


async def test_statuses_any_of_several(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await seed(recorder)
    failed = ExecutionFilter(statuses={Status.FAILED})
    assert await ids(queries, failed) == ["x5", "x2"]
    both = ExecutionFilter(statuses={Status.FAILED, Status.COMPLETED})
    assert await ids(queries, both) == ["x5", "x4", "x2", "x1"]
    assert (await queries.executions(Page(1, 1), both)).total == 4


async def test_start_window_is_half_open_and_leaves_unknown_starts_out(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await seed(recorder)
    window = ExecutionFilter(started_after=at(1000), started_before=at(3000))
    assert await ids(queries, window) == ["x4", "x3", "x2"]
    assert await ids(queries, ExecutionFilter(started_after=at(2000))) == ["x5", "x4"]
    assert await ids(queries, ExecutionFilter(started_before=at(1000))) == ["x1"]
    assert (await queries.executions(Page(1, 2), window)).total == 3
    failed_since = ExecutionFilter(statuses={Status.FAILED}, started_after=at(1))
    assert await ids(queries, failed_since) == ["x5", "x2"]


async def test_each_sort_with_unknown_starts_last(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await seed(recorder)
    everything = ExecutionFilter()
    newest = await ids(queries, everything, ExecutionOrder.NEWEST_STARTED)
    assert newest == ["x5", "x4", "x3", "x2", "x1", "u2", "u1"]
    oldest = await ids(queries, everything, ExecutionOrder.OLDEST_STARTED)
    assert oldest == ["x1", "x2", "x3", "x4", "x5", "u1", "u2"]
    views = (await queries.executions(Page(1, 100), everything, ExecutionOrder.LAST_UPDATED)).items
    assert len(views) == 7
    assert [v.id for v in views] == [
        v.id for v in sorted(views, key=lambda v: (v.updated_at, v.id), reverse=True)
    ]


@pytest.mark.parametrize("order", list(ExecutionOrder))
@pytest.mark.parametrize(
    "where",
    [ExecutionFilter(), ExecutionFilter(statuses={Status.FAILED, Status.RUNNING})],
    ids=["all", "failed-or-running"],
)
async def test_keyset_pages_walk_the_same_list_as_offset_pages(
    recorder: ExecutionRecorder,
    queries: ExecutionQueries,
    order: ExecutionOrder,
    where: ExecutionFilter,
) -> None:
    """Through ties and across the known/unknown boundary, two at a time."""
    await seed(recorder)
    expected = await ids(queries, where, order)
    walked: list[str] = []
    after: Position | None = None
    for _ in range(10):
        page = await queries.executions_after(where, order, after, 2)
        walked += [v.id for v in page]
        if len(page) < 2:
            break
        after = Position(_time(order, page[-1]), page[-1].id)
    assert walked == expected
    assert len(expected) == len(set(expected)) > 0


def _time(order: ExecutionOrder, view: ExecutionView) -> Any:
    return view.updated_at if order is ExecutionOrder.LAST_UPDATED else view.started_at


async def test_node_runs_filter_by_status_node_and_attempt(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    flow = (
        Workflow("e1", 0)
        .started(0)
        .node_started("a", 1)
        .node_ended("a", 2, failed=True)
        .node_started("b", 3)
        .node_started("a", 4, attempt=2)
        .node_ended("a", 5, attempt=2)
    )
    await record_events(recorder, flow.messages)

    async def runs(where: NodeRunFilter) -> list[tuple[str, int]]:
        paged = await queries.node_runs("e1", Page(1, 100), where)
        assert paged.total == len(paged.items)
        return [(r.node_id, r.attempt) for r in paged.items]

    assert await runs(NodeRunFilter()) == [("a", 1), ("b", 1), ("a", 2)]
    assert await runs(NodeRunFilter(statuses={Status.FAILED})) == [("a", 1)]
    assert await runs(NodeRunFilter(statuses={Status.RUNNING, Status.COMPLETED})) == [
        ("b", 1),
        ("a", 2),
    ]
    assert await runs(NodeRunFilter(node_id="a")) == [("a", 1), ("a", 2)]
    assert await runs(NodeRunFilter(node_id="a", attempt=2)) == [("a", 2)]
    assert await runs(NodeRunFilter(attempt=3)) == []


def letter(key: str, subject: str = "execution.started", payload: bytes = b"{") -> DeadLetter:
    return DeadLetter(key, subject, payload, {"Nats-Msg-Id": key}, "not JSON")


async def test_one_dead_letter_as_received(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await recorder.record([], [letter("k1", payload=b"\xff\x00binary")])
    found = await queries.dead_letter("k1")
    assert found is not None
    assert (found.payload, dict(found.headers), found.count) == (
        b"\xff\x00binary",
        {"Nats-Msg-Id": "k1"},
        1,
    )
    assert (found.replayed_at, found.replays) == (None, 0)
    assert await queries.dead_letter("nope") is None


async def test_a_replayed_letter_is_marked_once_per_failure_and_cleared_when_it_fails_again(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await recorder.record([], [letter("k1"), letter("k2", subject="execution.completed")])
    assert await recorder.mark_replayed("k1", 1, at(5))
    assert not await recorder.mark_replayed("k1", 1, at(6))  # the double click
    assert not await recorder.mark_replayed("k2", 7, at(6))  # it failed again meanwhile
    replayed = await queries.dead_letter("k1")
    assert replayed is not None and (replayed.replayed_at, replayed.replays) == (at(5), 1)

    async def keys(where: DeadLetterFilter) -> set[str]:
        return {d.key for d in (await queries.dead_letters(Page(1, 10), where)).items}

    assert await keys(DeadLetterFilter(replayed=True)) == {"k1"}
    assert await keys(DeadLetterFilter(replayed=False)) == {"k2"}
    assert await keys(DeadLetterFilter(subject="execution.completed")) == {"k2"}
    assert await keys(DeadLetterFilter(subject="execution.completed", replayed=True)) == set()
    assert (await queries.dead_letters(Page(1, 1), DeadLetterFilter(replayed=False))).total == 1

    await recorder.record([], [letter("k1")])  # the replay failed too
    again = await queries.dead_letter("k1")
    assert again is not None and (again.count, again.replayed_at, again.replays) == (2, None, 1)
    assert await recorder.mark_replayed("k1", 2, at(9))
    last = await queries.dead_letter("k1")
    assert last is not None and last.replays == 2


async def test_a_discarded_letter_is_gone(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    await recorder.record([], [letter("k1"), letter("k2")])
    assert await recorder.discard_dead_letter("k1")
    assert not await recorder.discard_dead_letter("k1")
    assert await queries.dead_letter("k1") is None
    assert [d.key for d in (await queries.dead_letters(Page())).items] == ["k2"]


async def test_past_an_unknown_start_a_window_holds_nothing_more(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    """A position only a forged cursor gives (cursors are opaque, not sealed): no error."""
    await seed(recorder)
    window = ExecutionFilter(started_after=at(0))
    for order in (ExecutionOrder.NEWEST_STARTED, ExecutionOrder.OLDEST_STARTED):
        assert await queries.executions_after(window, order, Position(None, "u9"), 5) == []
    everything = await queries.executions_after(
        ExecutionFilter(), ExecutionOrder.NEWEST_STARTED, Position(None, "u2"), 5
    )
    assert [v.id for v in everything] == ["u1"]


async def test_an_empty_id_is_a_filter_like_any_other(
    recorder: ExecutionRecorder, queries: ExecutionQueries
) -> None:
    """`workflowId=` asks for the executions whose workflow id is "": none here."""
    await seed(recorder)
    for where in (ExecutionFilter(workflow_id=""), ExecutionFilter(user_id="")):
        paged = await queries.executions(Page(1, 10), where)
        assert (paged.items, paged.total) == ([], 0)
