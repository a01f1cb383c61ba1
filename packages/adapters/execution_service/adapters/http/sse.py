"""Server-Sent Events (aiohttp-sse), whatever they follow: a client admitted (or a JSON 503),
subscribed to the change feed before anything is read, then sent messages whose ids are
resume points (resume.py), until it goes away. stream.py says what the messages are.

A change that takes several messages gives the earlier ones the previous point, so a client
cut off half-way through gets the whole change again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from execution_service.adapters.http.bodies import dumps
from execution_service.adapters.http.errors import error_response
from execution_service.adapters.http.live import LiveStreams, TooManyClients
from execution_service.domain import Changes, ChangeSubscription, Unavailable

log = logging.getLogger(__name__)

Message = tuple[str, str]  # event, data


def data_of(body: Any) -> str:
    """SSE data is text: the REST body's bytes, as text."""
    return dumps(body).decode()


class Stream:
    """An open SSE response: sends messages with resume ids, and waits for changes while
    noticing a client that went away (its heartbeat fails)."""

    def __init__(self, sse: EventSourceResponse, live: LiveStreams, position: str) -> None:
        self.sse = sse
        self.live = live
        self.position = position
        self._closed = asyncio.ensure_future(sse.wait())
        self._last_take = 0.0

    async def send(self, messages: Sequence[Message], position: str) -> None:
        for i, (event, data) in enumerate(messages):
            last = i == len(messages) - 1
            await self.sse.send(data, id=position if last else self.position, event=event)
        self.position = position

    async def next_changes(self, subscription: ChangeSubscription) -> Changes | None:
        """The changes pending, at most once per interval; None once the client is gone."""
        await asyncio.sleep(max(0.0, self._last_take + self.live.interval - time.monotonic()))
        taking = asyncio.ensure_future(subscription.take())
        await asyncio.wait({taking, self._closed}, return_when=asyncio.FIRST_COMPLETED)
        if not taking.done():
            taking.cancel()
            return None
        self._last_take = time.monotonic()
        return taking.result()

    def mark(self) -> str:
        return str(self.live.history.now_ms())


def last_event_id(request: web.Request) -> str | None:
    return request.headers.get("Last-Event-ID")


async def live_stream(
    request: web.Request,
    live: LiveStreams,
    subscribe: Callable[[], ChangeSubscription],
    before: Callable[[], Awaitable[None]],
    run: Callable[[Stream, ChangeSubscription, str], Awaitable[None]],
) -> web.StreamResponse:
    """Admit the client (or 503), subscribe before reading anything (so no change falls
    between the first read and the feed), check the request, then stream."""
    try:
        with live.admit(), subscribe() as subscription:
            mark = str(live.history.now_ms())
            await before()
            async with sse_response(
                request, ping_interval=live.ping_interval, send_timeout=live.send_timeout
            ) as sse:
                live.open.add(sse)
                try:
                    await run(Stream(sse, live, "0"), subscription, mark)
                except (Unavailable, ConnectionError, TimeoutError) as exc:
                    # the client reconnects with its Last-Event-ID and loses nothing
                    log.info("live stream %s closed: %s", request.path, exc)
                finally:
                    live.open.discard(sse)
            return sse
    except TooManyClients as exc:
        return error_response(request, 503, f"too many live clients, try again later ({exc})")
