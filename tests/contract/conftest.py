from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

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
            fake = MemoryStore(FixedClock())
            return Store(fake, fake)

        yield memory
        return
    database = create_database(request.getfixturevalue("database_url"))
    await database.connect()

    async def postgres() -> Store:
        await reset(database)
        return Store(PostgresRecorder(database), PostgresQueries(database))

    try:
        yield postgres
    finally:
        await database.disconnect()


@pytest.fixture
async def store(new_store: StoreFactory) -> Store:
    return await new_store()


@pytest.fixture
def recorder(store: Store) -> ExecutionRecorder:
    return store.recorder


@pytest.fixture
def queries(store: Store) -> ExecutionQueries:
    return store.queries
