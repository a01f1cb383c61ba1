"""ONE suite for the EventLog port (issue 22), on the in-memory fake and on PostgreSQL: which
executions a selection walks, verify finding a damaged row, rebuild putting it right."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import attrs
import pytest

from execution_service.adapters.memory import FixedClock, MemoryEventLog, MemoryStore
from execution_service.adapters.postgres import PostgresEventLog, PostgresUrl, create_database
from execution_service.domain import (
    EXECUTION,
    Difference,
    EventLog,
    ExecutionRecorder,
    Selection,
    Status,
    Verification,
    derive,
    rebuild,
    record_events,
    verify,
)
from support.events import Workflow
from support.postgres import BothSides, reset


@attrs.frozen
class Log:
    recorder: ExecutionRecorder
    log: EventLog
    clock: FixedClock
    # damages a stored row behind the log's back: (execution id, status)
    damage: Callable[[str, Status], Awaitable[None]]
    tick: Callable[[], Awaitable[None]]


@pytest.fixture(params=["memory", "postgres"])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[Log]:
    clock = FixedClock()
    if request.param == "memory":
        store = MemoryStore(clock)
        status_at = EXECUTION.slots.index("status")

        async def damage_memory(execution_id: str, status: Status) -> None:
            store._executions[execution_id][status_at] = status

        async def advance() -> None:
            clock.advance(seconds=1)

        yield Log(store, MemoryEventLog(store), clock, damage_memory, advance)
        return
    url: PostgresUrl = request.getfixturevalue("database_url")
    database = create_database(url)
    await database.connect()
    await reset(database)

    async def damage_row(execution_id: str, status: Status) -> None:
        await database.execute(
            "UPDATE executions SET status = $2 WHERE id = $1", execution_id, status.value
        )

    async def pause() -> None:
        await asyncio.sleep(0.02)

    try:
        yield Log(BothSides(database), PostgresEventLog(database), clock, damage_row, pause)
    finally:
        await database.disconnect()


def run(execution: str, workflow: str, fail: bool = False) -> list:  # type: ignore[type-arg]
    return (
        Workflow(execution).started(0, workflowId=workflow)
        .node("a", 1, 2).node("b", 3, 4, failed=fail).ended(5, failed=fail).messages
    )  # fmt: skip


async def test_selections_walk_executions_in_id_order_and_combine(log: Log) -> None:
    for n in range(5):
        await record_events(log.recorder, run(f"x{n}", "even" if n % 2 == 0 else "odd"))
    await log.tick()
    since = log.clock.now() if isinstance(log.log, MemoryEventLog) else None
    await record_events(log.recorder, Workflow("x1").node("late", 6, 7).messages)
    events = log.log
    assert await events.execution_ids(Selection(), None, 10) == ["x0", "x1", "x2", "x3", "x4"]
    assert await events.execution_ids(Selection(), "x1", 2) == ["x2", "x3"]
    assert await events.count(Selection()) == 5
    assert await events.execution_ids(Selection(workflow_id="even"), None, 10) == [
        "x0", "x2", "x4",
    ]  # fmt: skip
    chosen = Selection(execution_ids=frozenset({"x4", "x1", "x2", "nobody"}), workflow_id="even")
    assert await events.execution_ids(chosen, None, 10) == ["x2", "x4"]
    assert await events.count(chosen) == 2
    if since is None:  # PostgreSQL: recorded times are its own clock's
        history = (await events.snapshot(["x1"])).events["x1"]
        since = max(e.recorded_at for e in history) - timedelta(microseconds=1)
    assert await events.execution_ids(Selection(since=since), None, 10) == ["x1"]


async def test_verify_finds_a_damaged_row_and_rebuild_puts_it_right(log: Log) -> None:
    for n in range(4):
        await record_events(log.recorder, run(f"x{n}", "wf", fail=n == 2))
    found: list[Difference] = []
    clean = await verify(log.log, derive, log.clock, found.append)
    assert (clean.executions, clean.differences, found) == (4, 0, [])
    await log.damage("x1", Status.CANCELLED)
    outcome = await verify(log.log, derive, log.clock, found.append)
    assert [(d.execution_id, d.field, d.stored, d.folded) for d in found] == [
        ("x1", "status", "CANCELLED", "COMPLETED")
    ]
    assert await log.log.last_verification() == outcome
    assert outcome == Verification(outcome.started_at, outcome.finished_at, 4, 1)
    assert await rebuild(log.log, derive, chunk=3) == (4, 1)
    assert await rebuild(log.log, derive) == (4, 0)
    found.clear()
    assert (await verify(log.log, derive, log.clock, found.append, sample=2)).executions == 2
    assert (await verify(log.log, derive, log.clock, found.append)).differences == 0
