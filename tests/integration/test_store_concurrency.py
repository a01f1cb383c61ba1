"""Two replicas record overlapping halves of the same histories at the same time, each on its
own connection: the rows end exactly as one writer in order would leave them, and their times
read in order."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.adapters.postgres import Database, create_database
from execution_service.domain import Outcome, Page, RawMessage, record_events
from support.events import history, message
from support.postgres import BothSides, fresh_database, reset
from support.snapshots import snapshot


@pytest.fixture
async def databases() -> AsyncIterator[tuple[Database, Database]]:
    """Two pools, as two replicas would have."""
    with fresh_database() as url:
        first, second = create_database(url, max_size=2), create_database(url, max_size=2)
        await first.connect()
        await second.connect()
        try:
            yield first, second
        finally:
            await first.disconnect()
            await second.disconnect()


async def test_two_writers_with_overlapping_batches_lose_nothing(
    databases: tuple[Database, Database],
) -> None:
    stores = [BothSides(database) for database in databases]
    events = history(executions=12, nodes=6)
    reference = MemoryStore(FixedClock())
    await record_events(reference, events)
    expected = await snapshot(reference)
    for seed in range(8):  # a lost update needs an unlucky interleaving: try several
        await reset(databases[0])
        rng = random.Random(seed)
        overlap = rng.sample(events, len(events) // 3)
        halves = [events[: len(events) // 2] + overlap, events[len(events) // 2 :] + overlap]
        for half in halves:
            rng.shuffle(half)
        applied = await asyncio.gather(
            *(replica(store, half) for store, half in zip(stores, halves, strict=True))
        )
        assert sum(applied) == len(events), seed  # each event applied by exactly one replica
        assert await snapshot(stores[0]) == expected, seed


async def replica(store: BothSides, delivered: list[RawMessage]) -> int:
    applied = 0
    for start in range(0, len(delivered), 11):
        report = await record_events(store, delivered[start : start + 11])
        applied += report.count(Outcome.APPLIED)
    return applied


async def test_updated_at_is_never_before_created_at_with_two_batches_in_flight(
    databases: tuple[Database, Database],
) -> None:
    """The first batch's transaction begins, then waits; meanwhile a second creates the rows
    (an execution, a node run, a dead letter) and commits; then the first updates them."""
    first, second = (BothSides(database) for database in databases)
    completed = message("execution.completed", {"executionId": "e1"}, ms=9)
    started = message("execution.started", {"executionId": "e1", "workflowId": "w"}, ms=0)
    node = {"executionId": "e1", "nodeId": "n1"}
    node_started = message("execution.node.started", node, ms=1)
    node_completed = message("execution.node.completed", node, ms=2)
    poison = message("execution.failed", {"executionId": 42}, event_id="poison")
    # a connection of its own (a pool's would be shared with this task's other work)
    blocker = await asyncpg.connect(**databases[0].url.connect_kwargs())
    try:
        # an uncommitted insert of the first batch's event key holds that batch at its start
        await blocker.execute("BEGIN")
        await blocker.execute(
            """INSERT INTO execution_events (event_key, execution_id, subject, payload)
                   VALUES ($1, 'e1', 'execution.completed', '')""",
            json.loads(completed.data)["eventId"],
        )
        held = asyncio.ensure_future(record_events(first, [completed, node_completed, poison]))
        await _until(lambda: _waiting_for_a_lock(blocker))
        await record_events(second, [started, node_started, poison])
        await blocker.execute("ROLLBACK")
        report = await held
    finally:
        await blocker.close()
    assert report.count(Outcome.APPLIED) == 2
    view = await first.execution("e1")
    assert view is not None and view.status.value == "COMPLETED"
    assert view.updated_at >= view.created_at, (view.created_at, view.updated_at)
    (run,) = (await first.node_runs("e1", Page(1, 10))).items
    assert run.status.value == "COMPLETED"
    assert run.updated_at >= run.created_at, (run.created_at, run.updated_at)
    (letter,) = (await first.dead_letters(Page(1, 10))).items
    assert letter.count == 2
    assert letter.first_seen is not None and letter.last_seen is not None
    assert letter.last_seen >= letter.first_seen, (letter.first_seen, letter.last_seen)


async def _waiting_for_a_lock(conn: asyncpg.Connection) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
    )


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
