from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from execution_service.adapters.memory import MemoryStore
from execution_service.adapters.postgres import PostgresStore, PostgresUrl, create_database
from execution_service.adapters.system import FixedClock
from execution_service.domain import ExecutionStore
from support.postgres import fresh_database, reset

StoreFactory = Callable[[], Awaitable[ExecutionStore]]


@pytest.fixture(scope="module")
def database_url() -> Iterator[PostgresUrl]:
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["memory", "postgres"])
async def new_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Makes an empty store of the kind under test (each call empties it again)."""
    if request.param == "memory":

        async def memory() -> ExecutionStore:
            return MemoryStore(FixedClock())

        yield memory
        return
    database = create_database(request.getfixturevalue("database_url"))
    await database.connect()

    async def postgres() -> ExecutionStore:
        await reset(database)
        return PostgresStore(database)

    try:
        yield postgres
    finally:
        await database.disconnect()


@pytest.fixture
async def store(new_store: StoreFactory) -> ExecutionStore:
    return await new_store()
