"""The change feed on PostgreSQL: LISTEN on one dedicated connection per process.

Writers notify channel `execution_changes` inside their transaction (migrations/0005), so a
notification arrives only once its change is committed and readable, on every replica. One
connection serves every subscriber of the process: clients never cost a connection each.

When that connection drops, notifications sent meanwhile are lost for good. So the listener
reconnects (backing off), listens again, and only then tells every subscriber there was a
gap: whatever they read after that sees every change they may have missed. A connection that
hangs without closing is found by a periodic probe with a timeout, and one to a primary that a
failover demoted by the probe's answer; reconnecting then finds the new primary among
DATABASE_URL's hosts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg

from execution_service.adapters.postgres.url import PostgresUrl
from execution_service.domain import DEFAULT_PENDING_LIMIT, ChangeSubscription, Subscribers

log = logging.getLogger(__name__)

CHANNEL = "execution_changes"
_PROBE = "SELECT pg_is_in_recovery()"


class PostgresChanges:
    def __init__(
        self,
        url: PostgresUrl,
        probe_every: float = 5.0,
        probe_timeout: float = 5.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._url = url
        self._probe_every = probe_every
        self._probe_timeout = probe_timeout
        self._max_backoff = max_backoff
        self._subscribers = Subscribers()
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def subscribe(
        self, execution_id: str | None = None, limit: int = DEFAULT_PENDING_LIMIT
    ) -> ChangeSubscription:
        return self._subscribers.subscribe(execution_id, limit)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self, timeout: float = 30.0) -> None:
        """Listen in the background; return once listening (or raise if it can't in time:
        the process should not serve live views it can't feed)."""
        self._task = asyncio.create_task(self._run(), name="execution-changes")
        waiting = asyncio.ensure_future(self._listening.wait())
        done, _ = await asyncio.wait(
            {waiting, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiting not in done:
            waiting.cancel()
            await self.stop()
            raise TimeoutError(f"could not LISTEN {CHANNEL} within {timeout}s")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while True:
            try:
                await self._listen(gap=not first)
                backoff = 0.1
            except (OSError, TimeoutError, asyncpg.PostgresError,
                    asyncpg.InterfaceError) as exc:  # fmt: skip
                log.warning("change listener: %s: %s; reconnecting", type(exc).__name__, exc)
            finally:
                self._listening.clear()
                await self._close()
            first = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _listen(self, gap: bool) -> None:
        """LISTEN, report a gap if this is a reconnection, then probe until the connection
        fails (raising) or terminates (returning)."""
        connection: asyncpg.Connection = await asyncpg.connect(
            self._url.url(), **self._url.connect_kwargs()
        )
        self._connection = connection
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _: closed.set())
        await connection.add_listener(CHANNEL, self._notified)
        self._listening.set()
        if gap:
            log.info("change listener: listening again; live views read everything again")
            self._subscribers.lose()
        while not closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), self._probe_every)
                break
            if await connection.fetchval(_PROBE, timeout=self._probe_timeout):
                # a primary demoted under us: no commit will ever notify here again
                raise OSError("the LISTEN connection's server became a standby")

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            ids = json.loads(payload)
        except ValueError:
            log.warning("change listener: unreadable payload %.80r; treated as a gap", payload)
            self._subscribers.lose()
            return
        self._subscribers.publish(ids)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()  # no goodbye round trip to a server that may be gone
