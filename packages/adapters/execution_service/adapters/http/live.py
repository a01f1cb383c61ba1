"""What the SSE endpoints share in one process: the change feed, the history that answers
Last-Event-ID, the count of clients, and reads shared by the clients that need the same one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any, TypeVar

from execution_service.adapters.http.resume import ChangeHistory
from execution_service.domain import ExecutionChanges

T = TypeVar("T")


class TooManyClients(Exception):
    pass


class SharedReads:
    """Clients that follow the same execution are told of a change at the same moment and
    would each read the same rows: they share one read instead, if it began after what each
    needs it to see (so that nobody gets a state older than one it was already sent). Reads
    of live views take at most `concurrency` connections, leaving the pool to the writers."""

    def __init__(self, concurrency: int = 4) -> None:
        self._gate = asyncio.Semaphore(concurrency)
        self._running: dict[Hashable, tuple[float, asyncio.Future[Any]]] = {}

    async def read(self, key: Hashable, fetch: Callable[[], Awaitable[T]], not_before: float) -> T:
        running = self._running.get(key)
        if running is None or running[0] < not_before:
            running = (time.monotonic(), asyncio.ensure_future(self._gated(fetch)))
            self._running[key] = running
            running[1].add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(running[1])  # one client leaving cancels nobody's read

    async def _gated(self, fetch: Callable[[], Awaitable[T]]) -> T:
        async with self._gate:
            return await fetch()

    def _forget(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        if self._running.get(key, (0.0, None))[1] is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: whoever awaited it has it


class LiveStreams:
    def __init__(
        self,
        changes: ExecutionChanges,
        max_clients: int = 1000,
        interval: float = 0.25,
        ping_interval: float = 15.0,
        send_timeout: float = 10.0,
        history: ChangeHistory | None = None,
    ) -> None:
        self.changes = changes
        self.max_clients = max_clients
        self.interval = interval  # at most one message per execution per interval
        self.ping_interval = ping_interval
        self.send_timeout = send_timeout  # a client that takes nothing for this long is dropped
        self.history = history or ChangeHistory()
        self.reads = SharedReads()
        self.clients = 0
        self.open: set[Any] = set()  # the open responses, to end them at shut-down
        self._following: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._following = self.history.follow(self.changes)

    async def stop(self) -> None:
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following

    def close_all(self) -> None:
        """End every stream now (at shut-down: a server waits for open responses)."""
        for response in list(self.open):
            response.stop_streaming()

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        if self.clients >= self.max_clients:
            raise TooManyClients(f"{self.max_clients} live clients already")
        self.clients += 1
        try:
            yield
        finally:
            self.clients -= 1
