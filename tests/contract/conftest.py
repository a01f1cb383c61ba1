from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime

import attrs
import pytest

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.adapters.postgres import (
    PostgresQueries,
    PostgresRecorder,
    PostgresUrl,
    create_database,
)
from execution_service.domain import ExecutionQueries, ExecutionRecorder
from support.postgres import fresh_database, reset


@attrs.frozen
class Store:
    """The two sides of one store under test: what `recorder` writes, `queries` reads."""

    recorder: ExecutionRecorder
    queries: ExecutionQueries
    # the store's time passing, and what it is now: recorded times fall between such moments
    tick: Callable[[], Awaitable[None]]
    now: Callable[[], datetime]


StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture(scope="module")
def database_url() -> Iterator[PostgresUrl]:
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["memory", "postgres"])
async def new_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Makes an empty store of the kind under test (each call empties it again)."""
    if request.param == "memory":

        async def memory() -> Store:
            clock = FixedClock()
            fake = MemoryStore(clock)

            async def tick() -> None:
                clock.advance(seconds=1)

            return Store(fake, fake, tick, clock.now)

        yield memory
        return
    database = create_database(request.getfixturevalue("database_url"))
    await database.connect()

    async def postgres() -> Store:
        await reset(database)
        return Store(
            PostgresRecorder(database), PostgresQueries(database), _let_time_pass, _wall_clock
        )

    try:
        yield postgres
    finally:
        await database.disconnect()


async def _let_time_pass() -> None:
    await asyncio.sleep(0.02)


def _wall_clock() -> datetime:
    return datetime.now(UTC)  # the test's server is on this machine: one clock


@pytest.fixture
async def store(new_store: StoreFactory) -> Store:
    return await new_store()


@pytest.fixture
def recorder(store: Store) -> ExecutionRecorder:
    return store.recorder


@pytest.fixture
def queries(store: Store) -> ExecutionQueries:
    return store.queries
