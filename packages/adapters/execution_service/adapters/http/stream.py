"""Live updates as Server-Sent Events (aiohttp-sse): one execution with its node runs, or the
executions that change and match a filter. What to send is read from the database when the
change feed says an execution changed; the feed, not NATS, says when (live.py, resume.py).

Every message's id is a resume point (resume.py): a client holding it has everything up to
it. A change that takes several messages gives the earlier ones the previous point, so a
client cut off half-way through gets the whole change again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from execution_service.adapters.http import serialize
from execution_service.adapters.http.bodies import dumps
from execution_service.adapters.http.errors import error_response
from execution_service.adapters.http.filters import execution_filter_of
from execution_service.adapters.http.live import LiveStreams, TooManyClients
from execution_service.adapters.http.services import SERVICES
from execution_service.domain import (
    Changes,
    ChangeSubscription,
    ExecutionFilter,
    ExecutionQueries,
    ExecutionView,
    NodeRunView,
    Page,
    Status,
    Unavailable,
    get_execution,
)

log = logging.getLogger(__name__)

NODE_RUNS_PER_READ = 1000
LIST_SNAPSHOT = 100  # a list stream that can't tell what it missed resends this many newest
LIST_REMEMBERED = 10_000  # executions a list stream remembers sending (to say they left it)
_TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
Message = tuple[str, str]  # event, data


def _dumps(body: Any) -> str:
    """SSE data is text: the REST body's bytes, as text."""
    return dumps(body).decode()


class _Stream:
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


def _last_event_id(request: web.Request) -> str | None:
    return request.headers.get("Last-Event-ID")


async def _live(
    request: web.Request,
    live: LiveStreams,
    subscribe: Callable[[], ChangeSubscription],
    before: Callable[[], Awaitable[None]],
    run: Callable[[_Stream, ChangeSubscription, str], Awaitable[None]],
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
                    await run(_Stream(sse, live, "0"), subscription, mark)
                except (Unavailable, ConnectionError, TimeoutError) as exc:
                    # the client reconnects with its Last-Event-ID and loses nothing
                    log.info("live stream %s closed: %s", request.path, exc)
                finally:
                    live.open.discard(sse)
            return sse
    except TooManyClients as exc:
        return error_response(request, 503, f"too many live clients, try again later ({exc})")


# One execution ---------------------------------------------------------------------------


class _ExecutionState:
    """What this client was last sent of one execution, to send only what differs."""

    def __init__(self, store: ExecutionQueries, live: LiveStreams, execution_id: str) -> None:
        self.store = store
        self.live = live
        self.execution_id = execution_id
        self.sent: dict[str, str] = {}  # "execution" or a node run id -> the data sent
        self.finished = False

    async def read(self, not_before: float) -> list[Message]:
        """The messages that bring the client to the state read now (at least as new as any
        change heard by `not_before`)."""
        reads = self.live.reads
        view = await reads.read(("e", self.execution_id), self._execution, not_before)
        runs = await reads.read(("n", self.execution_id), self._node_runs, not_before)
        messages: list[Message] = []
        if view is not None:
            self._diff("execution", "execution", _dumps(serialize.execution(view)), messages)
        for run in runs:
            self._diff(run.id, "node", _dumps(serialize.node_run(run)), messages)
        self.finished = view is not None and _settled(view, runs)
        return messages

    def _diff(self, key: str, event: str, data: str, messages: list[Message]) -> None:
        if self.sent.get(key) != data:
            self.sent[key] = data
            messages.append((event, data))

    async def _execution(self) -> ExecutionView | None:
        return await self.store.execution(self.execution_id)

    async def _node_runs(self) -> list[NodeRunView]:
        runs: list[NodeRunView] = []
        number = 1
        while True:
            paged = await self.store.node_runs(self.execution_id, Page(number, NODE_RUNS_PER_READ))
            runs += paged.items
            if len(runs) >= paged.total or not paged.items:
                return runs
            number += 1


def _settled(view: ExecutionView, runs: Sequence[NodeRunView]) -> bool:
    """Terminal, and no node run still on its way to an end."""
    return view.status in _TERMINAL and all(r.status in _TERMINAL for r in runs)


async def execution_stream_handler(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    store, live = services.queries(), services.live_streams()
    execution_id = request.match_info["id"]
    state = _ExecutionState(store, live, execution_id)
    subscribed_at = time.monotonic()

    first: list[Message] = []

    async def exists() -> None:
        """404 as JSON before the stream starts; and the first state, read at once."""
        await get_execution(store, execution_id)
        first.extend(await state.read(subscribed_at))
        missed = live.history.changed_since(_last_event_id(request))
        if missed is not None and execution_id not in missed:
            first.clear()  # nothing changed since the client's id: it has all this already

    async def run(stream: _Stream, subscription: ChangeSubscription, mark: str) -> None:
        if not first:
            stream.position = _last_event_id(request) or "0"
        await stream.send(first, mark)
        while not (state.finished and not subscription.pending()):
            changes = await stream.next_changes(subscription)
            if changes is None:
                return
            taken_at, position = time.monotonic(), stream.mark()
            if changes.gap:
                state.sent.clear()  # can't tell what changed: send it all again
            await stream.send(await state.read(taken_at), position)
        await stream.send([("end", _dumps({"id": execution_id}))], stream.position)

    return await _live(request, live, lambda: live.changes.subscribe(execution_id), exists, run)


# Executions that change ------------------------------------------------------------------


class _ListState:
    """Executions this client was sent, so that one leaving the filter (its status changed)
    is sent once more, showing why it no longer belongs."""

    def __init__(self, store: ExecutionQueries, live: LiveStreams, where: ExecutionFilter) -> None:
        self.store = store
        self.live = live
        self.where = where
        self.shown: OrderedDict[str, None] = OrderedDict()

    async def changed(self, execution_ids: frozenset[str], not_before: float) -> list[Message]:
        async def one(execution_id: str) -> ExecutionView | None:
            return await self.live.reads.read(
                ("e", execution_id), lambda: self.store.execution(execution_id), not_before
            )

        views = await asyncio.gather(*(one(i) for i in sorted(execution_ids)))
        return self._messages(v for v in views if v is not None)

    async def snapshot(self) -> list[Message]:
        paged = await self.store.executions(Page(1, LIST_SNAPSHOT), self.where)
        return self._messages(reversed(paged.items))  # oldest first: newest ends on top

    def _messages(self, views: Any) -> list[Message]:
        messages = []
        for view in views:
            matches = self.where.admits(
                view.status, view.workflow_id, view.user_id, view.started_at
            )
            if matches or view.id in self.shown:
                messages.append(("execution", _dumps(serialize.execution(view))))
                self.shown[view.id] = None
                self.shown.move_to_end(view.id)
                if len(self.shown) > LIST_REMEMBERED:
                    self.shown.popitem(last=False)
        return messages


async def executions_stream_handler(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    store, live = services.queries(), services.live_streams()
    state = _ListState(store, live, await execution_filter_of(request))
    subscribed_at = time.monotonic()

    last_id = _last_event_id(request)
    catch_up: list[Message] = []

    async def missed() -> None:
        """No Last-Event-ID: nothing to catch up (the client has just read the list)."""
        if last_id is not None:
            changed = live.history.changed_since(last_id)
            catch_up.extend(
                await state.snapshot()
                if changed is None
                else await state.changed(changed, subscribed_at)
            )

    async def run(stream: _Stream, subscription: ChangeSubscription, mark: str) -> None:
        stream.position = last_id or "0"
        await stream.send(catch_up, mark)
        while True:
            changes = await stream.next_changes(subscription)
            if changes is None:
                return
            taken_at, position = time.monotonic(), stream.mark()
            messages = await state.changed(changes.execution_ids, taken_at)
            if changes.gap:
                messages = await state.snapshot()
            await stream.send(messages, position)

    return await _live(request, live, live.changes.subscribe, missed, run)


def add_stream_routes(app: web.Application) -> None:
    """Before /api/executions/{id}, which would take "stream" for an id."""
    app.router.add_get("/api/executions/stream", executions_stream_handler)
    app.router.add_get("/api/executions/{id}/stream", execution_stream_handler)
