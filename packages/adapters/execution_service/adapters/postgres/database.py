"""The pool, its connections, and which database errors are passing.

`databases` owns the pool and the connections; the SQL goes through the raw asyncpg
connection, because bulk writes need it (`databases`' execute_many runs one statement per
row) and so that arrays, jsonb and $n parameters are native everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import orjson
from databases import Database

from execution_service.adapters.postgres.url import PostgresUrl
from execution_service.domain import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
# The database is down, restarting or out of connections: a passing failure.
_PASSING = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)

_encode_json = json.JSONEncoder(separators=(",", ":")).encode


def json_bytes(value: object) -> bytes:
    """orjson, several times faster, for what it takes; the standard library for what it
    refuses (an integer beyond 64 bits, a lone surrogate), which PostgreSQL then judges."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _encode_json(value).encode(errors="surrogatepass")


def encode_json(value: object) -> str:
    return json_bytes(value).decode(errors="surrogatepass")


def _jsonb_bytes(value: object) -> bytes:
    return b"\x01" + json_bytes(value)  # jsonb's binary form: a version byte, then the text


def _jsonb_value(data: bytes) -> object:
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary, so that rows of composite types with JSON in them can be sent (asyncpg encodes a
    # composite only in binary); decoded by the standard library: orjson reads an integer
    # beyond 64 bits as a float.
    await conn.set_type_codec(
        "json", encoder=json_bytes, decoder=json.loads, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_bytes, decoder=_jsonb_value, schema="pg_catalog",
        format="binary",
    )  # fmt: skip


async def _release(conn: asyncpg.Connection) -> None:
    """The service keeps no session state (no SET, LISTEN or advisory locks), so a released
    connection needs no reset query: one round trip less per request. A transaction left
    open by a cancelled task is still rolled back."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def create_database(url: PostgresUrl, min_size: int = 2, max_size: int = 10) -> Database:
    return Database(
        url.url(),
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_release,
        **url.connect_kwargs(),
    )


class Connected:
    """Work on a pooled connection, with the database's passing failures as Unavailable."""

    def __init__(self, database: Database, max_retries: int = 8) -> None:
        self._db = database
        self._max_retries = max_retries

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            async with self._db.connection() as connection:
                raw: asyncpg.Connection = connection.raw_connection
                return await work(raw)
        except _PASSING as exc:
            raise Unavailable(f"PostgreSQL unavailable: {type(exc).__name__}: {exc}") from exc

    async def _in_transaction(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Deadlocks and serialization failures between replicas are retried, never raised."""

        async def transaction(raw: asyncpg.Connection) -> T:
            async with raw.transaction():
                return await work(raw)

        for attempt in range(self._max_retries + 1):
            try:
                return await self._run(transaction)
            except _RETRYABLE as exc:
                if attempt == self._max_retries:
                    raise
                log.info("retrying a transaction after %s", type(exc).__name__)
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    async def ping(self) -> None:
        await self._run(lambda raw: raw.fetchval("SELECT 1"))
