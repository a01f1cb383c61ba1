"""The pool, its connections, and which database errors are passing.

asyncpg's own pool, opened and closed explicitly, and the SQL on its connections: arrays,
COPY, json and $n parameters native everywhere. (The `databases` package owned the pool
before; every request then paid it a task, a context variable and a shielded release, about
45 µs of CPU, for nothing the service used.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar, cast

import asyncpg
import orjson

from execution_service.adapters.postgres.url import PostgresUrl
from execution_service.domain import Unavailable, may_hold_a_long_integer

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


def json_value(data: bytes) -> object:
    """orjson where it reads what the standard library would (domain/json_text.py): the
    standard library keeps an integer beyond 64 bits exact."""
    if may_hold_a_long_integer(data):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _jsonb_value(data: bytes) -> object:
    return json_value(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary, so that rows of composite types with JSON in them can be sent (asyncpg encodes a
    # composite only in binary).
    await conn.set_type_codec(
        "json", encoder=json_bytes, decoder=json_value, schema="pg_catalog", format="binary"
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


class Database:
    """A pool of connections to one database, between connect() and disconnect()."""

    def __init__(self, url: PostgresUrl, min_size: int, max_size: int) -> None:
        self.url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        self._pool = await asyncpg.create_pool(
            min_size=self._min_size,
            max_size=self._max_size,
            init=_init_connection,
            reset=_release,
            **self.url.connect_kwargs(),
        )

    async def disconnect(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection of the pool, for the `async with` block."""
        if self._pool is None:
            raise asyncpg.exceptions.InterfaceError("the pool is not connected")
        return cast(AbstractAsyncContextManager[asyncpg.Connection], self._pool.acquire())

    def in_use(self) -> int:
        """Connections checked out now (0 while not connected)."""
        if self._pool is None:
            return 0
        return self._pool.get_size() - self._pool.get_idle_size()

    async def execute(self, sql: str, *args: object) -> str:
        async with self.connection() as raw:
            return str(await raw.execute(sql, *args))

    async def fetch_val(self, sql: str, *args: object) -> Any:
        async with self.connection() as raw:
            return await raw.fetchval(sql, *args)


def create_database(url: PostgresUrl, min_size: int = 2, max_size: int = 10) -> Database:
    return Database(url, min_size, max_size)


class Connected:
    """Work on a pooled connection, with the database's passing failures as Unavailable."""

    def __init__(self, database: Database, max_retries: int = 8) -> None:
        self._db = database
        self._max_retries = max_retries

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            async with self._db.connection() as raw:
                try:
                    return await work(raw)
                except asyncpg.exceptions.ReadOnlySQLTransactionError:
                    # a primary demoted under a live connection (a failover that kept it
                    # up): drop the connection, so the pool's next one finds the new primary
                    raw.terminate()
                    raise
        except (*_PASSING, asyncpg.exceptions.ReadOnlySQLTransactionError) as exc:
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
