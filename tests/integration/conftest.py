"""A fresh database for each integration test module, emptied before each test that asks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from execution_service.adapters.postgres import Database, PostgresUrl, create_database
from support.postgres import fresh_database, reset


@pytest.fixture(scope="module")
def database_url() -> Iterator[PostgresUrl]:
    with fresh_database() as url:
        yield url


@pytest.fixture
async def database(database_url: PostgresUrl) -> AsyncIterator[Database]:
    database = create_database(database_url)
    await database.connect()
    await reset(database)
    yield database
    await database.disconnect()
