"""ONE suite for the Pruner port, on the in-memory fake and on PostgreSQL: what a pass deletes,
what it keeps, the counts after it, and the tombstones it leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.adapters.postgres import (
    PostgresPruner,
    PostgresQueries,
    PostgresRecorder,
    create_database,
)
from execution_service.domain import (
    DeadLetter,
    ExecutionFilter,
    ExecutionQueries,
    ExecutionRecorder,
    Outcome,
    Page,
    Pruned,
    Pruner,
    Retention,
    Status,
    prune,
    record_events,
)
from execution_service.domain.views import RetryRequest
from support.events import T0, Workflow
from support.postgres import reset

DAY_MS = 24 * 3600 * 1000
MONTH = timedelta(days=30)


@attrs.frozen
class Store:
    recorder: ExecutionRecorder
    queries: ExecutionQueries
    pruner: Pruner
    clock: FixedClock | None = None  # the fake's; PostgreSQL keeps its own time


@pytest.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        clock = FixedClock(datetime.now(UTC))  # stamps as PostgreSQL's now() would
        fake = MemoryStore(clock)
        yield Store(fake, fake, fake, clock)
        return
    database = create_database(request.getfixturevalue("database_url"))
    await database.connect()
    await reset(database)
    try:
        yield Store(
            PostgresRecorder(database), PostgresQueries(database), PostgresPruner(database, 50)
        )
    finally:
        await database.disconnect()


def finished(execution: str, day: int, how: str = "completed") -> list[Any]:
    run = Workflow(execution, day * DAY_MS).started(0, workflowId="wf")
    run.node("a", 1, 2, failed=how == "failed").node("b", 3, 4)
    if how == "running":
        return run.messages
    if how == "cancelled":
        return run.emit("cancelled", 5).messages
    return run.ended(5, failed=how == "failed").messages


def clock_at(day: int) -> FixedClock:
    return FixedClock(T0 + timedelta(days=day))


async def statuses(queries: ExecutionQueries) -> dict[str, int]:
    return {
        s.value: (await queries.executions(Page(1, 1), ExecutionFilter(statuses=[s]))).total
        for s in Status
    }


async def test_only_executions_finished_before_the_retention_go_with_all_they_hold(
    store: Store,
) -> None:
    old = {"old-ok": "completed", "old-failed": "failed", "old-cancelled": "cancelled"}
    for execution, how in old.items():
        await record_events(store.recorder, finished(execution, 0, how))
    await record_events(store.recorder, finished("old-running", 0, "running"))
    # failed long ago, but a retry was just asked for: the orchestrator is resuming it
    await record_events(store.recorder, finished("old-retried", 0, "failed"))
    await record_events(store.recorder, finished("fresh-ok", 40))
    await record_events(store.recorder, finished("fresh-failed", 40, "failed"))
    await store.recorder.record_retry_request(RetryRequest("old-retried", 2, "a", "wf", None, T0))
    await store.recorder.record_retry_request(RetryRequest("fresh-failed", 2, "a", "wf", None, T0))

    dry = await prune(store.pruner, clock_at(45), Retention(executions=MONTH), dry_run=True)
    pruned = await prune(store.pruner, clock_at(45), Retention(executions=MONTH))

    assert pruned == dry == Pruned(executions=3, node_runs=6, events=18)
    for execution in old:
        assert await store.queries.execution(execution) is None
        assert (await store.queries.node_runs(execution, Page())).total == 0
        assert await store.queries.history(execution) == []
        assert await store.queries.retry_requests(execution) == []
    kept = await store.queries.executions(Page(1, 10))
    assert sorted(e.id for e in kept.items) == [
        "fresh-failed", "fresh-ok", "old-retried", "old-running",
    ]  # fmt: skip
    assert kept.total == 4
    assert await statuses(store.queries) == {
        "PENDING": 0, "RUNNING": 1, "COMPLETED": 1, "FAILED": 2, "CANCELLED": 0,
    }  # fmt: skip
    assert len(await store.queries.retry_requests("old-retried")) == 1
    assert len(await store.queries.history("fresh-ok")) == 6
    assert len(await store.queries.retry_requests("fresh-failed")) == 1
    assert (await store.queries.node_runs("old-running", Page())).total == 2


async def test_a_late_event_of_a_pruned_execution_is_ignored_until_its_tombstone_goes(
    store: Store,
) -> None:
    events = finished("gone", 0)
    await record_events(store.recorder, events)
    policy = Retention(executions=MONTH, tombstones=MONTH)
    assert (await prune(store.pruner, clock_at(31), policy) or Pruned()).executions == 1

    late = Workflow("gone", 10).node("c", 1, 2).messages
    report = await record_events(store.recorder, [*late, events[0]])
    assert report.outcomes == [Outcome.IGNORED] * 3
    assert await store.queries.execution("gone") is None
    assert (await store.queries.executions(Page())).total == 0
    assert await store.queries.history("gone") == []

    # The tombstone outlives no retention: a month after, the id is free again.
    assert await prune(store.pruner, clock_at(31), policy) == Pruned()
    a_month_on = FixedClock(datetime.now(UTC) + MONTH + timedelta(days=1))
    assert await prune(store.pruner, a_month_on, policy) == Pruned(tombstones=1)
    report = await record_events(store.recorder, late)
    assert report.outcomes == [Outcome.APPLIED] * 2
    # ...and comes back whole as what the late events say, whatever a writer remembered of it
    again = await store.queries.execution("gone")
    assert again is not None and (again.status, again.nodes.total) == (Status.RUNNING, 1)


async def test_dead_letters_go_by_when_they_were_last_seen(store: Store) -> None:
    await store.recorder.record([], [DeadLetter("k1", "execution.started", b"x", {}, "bad")])
    if store.clock is not None:
        store.clock.advance(seconds=1)
    await store.recorder.record([], [DeadLetter("k2", "execution.started", b"y", {}, "bad")])
    second, first = (await store.queries.dead_letters(Page())).items  # most recent first
    assert first.last_seen is not None and second.last_seen is not None
    assert first.last_seen < second.last_seen
    between = second.last_seen - (second.last_seen - first.last_seen) / 2
    policy = Retention(dead_letters=timedelta(seconds=0))
    pruned = await prune(store.pruner, FixedClock(between), policy)
    assert pruned == Pruned(dead_letters=1)
    assert [d.key for d in (await store.queries.dead_letters(Page())).items] == [second.key]


async def test_a_dry_run_deletes_nothing_and_says_what_a_pass_would(store: Store) -> None:
    await record_events(store.recorder, finished("old", 0) + finished("fresh", 40))
    policy = Retention(executions=MONTH)
    before = await store.queries.executions(Page())
    dry = await prune(store.pruner, clock_at(45), policy, dry_run=True)
    assert dry == Pruned(executions=1, node_runs=2, events=6)
    assert await store.queries.executions(Page()) == before
    assert await prune(store.pruner, clock_at(45), policy) == dry


async def test_nothing_is_pruned_when_nothing_is_old_enough(store: Store) -> None:
    await record_events(store.recorder, finished("a", 0) + finished("b", 1))
    policy = Retention(executions=MONTH, dead_letters=MONTH, tombstones=MONTH)
    assert await prune(store.pruner, clock_at(30), policy) == Pruned()
    assert (await store.queries.executions(Page())).total == 2
