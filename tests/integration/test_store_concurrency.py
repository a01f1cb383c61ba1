"""Two replicas record overlapping halves of the same histories at the same time, each on its
own connection: the rows end exactly as one writer in order would leave them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from databases import Database

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.adapters.postgres import PostgresStore, create_database
from execution_service.domain import Outcome, RawMessage, record_events
from support.events import history
from support.postgres import fresh_database, reset
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
    stores = [PostgresStore(database) for database in databases]
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


async def replica(store: PostgresStore, delivered: list[RawMessage]) -> int:
    applied = 0
    for start in range(0, len(delivered), 11):
        report = await record_events(store, delivered[start : start + 11])
        applied += report.count(Outcome.APPLIED)
    return applied
