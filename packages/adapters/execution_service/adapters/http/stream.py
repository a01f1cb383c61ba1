"""Live updates: one execution with its node runs, or the executions that change and match a
filter, sent as Server-Sent Events (sse.py). What to send is read from the database when the
change feed says an execution changed; the feed, not NATS, says when (live.py, resume.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from execution_service.adapters.http import serialize
from execution_service.adapters.http.filters import execution_filter_of
from execution_service.adapters.http.live import LiveStreams
from execution_service.adapters.http.services import SERVICES
from execution_service.adapters.http.sse import (
    Message,
    Stream,
    data_of,
    last_event_id,
    live_stream,
)
from execution_service.domain import (
    ChangeSubscription,
    ExecutionFilter,
    ExecutionQueries,
    ExecutionView,
    NodeRunView,
    Page,
    Status,
    get_execution,
)

log = logging.getLogger(__name__)

NODE_RUNS_PER_READ = 1000
LIST_SNAPSHOT = 100  # a list stream that can't tell what it missed resends this many newest
LIST_REMEMBERED = 10_000  # executions a list stream remembers sending (to say they left it)
_TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


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
            self._diff("execution", "execution", data_of(serialize.execution(view)), messages)
        for run in runs:
            self._diff(run.id, "node", data_of(serialize.node_run(run)), messages)
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
        missed = live.history.changed_since(last_event_id(request))
        if missed is not None and execution_id not in missed:
            first.clear()  # nothing changed since the client's id: it has all this already

    async def run(stream: Stream, subscription: ChangeSubscription, mark: str) -> None:
        if not first:
            stream.position = last_event_id(request) or "0"
        await stream.send(first, mark)
        while not (state.finished and not subscription.pending()):
            changes = await stream.next_changes(subscription)
            if changes is None:
                return
            taken_at, position = time.monotonic(), stream.mark()
            if changes.gap:
                state.sent.clear()  # can't tell what changed: send it all again
            await stream.send(await state.read(taken_at), position)
        await stream.send([("end", data_of({"id": execution_id}))], stream.position)

    return await live_stream(
        request, live, lambda: live.changes.subscribe(execution_id), exists, run
    )


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
                messages.append(("execution", data_of(serialize.execution(view))))
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

    last_id = last_event_id(request)
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

    async def run(stream: Stream, subscription: ChangeSubscription, mark: str) -> None:
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

    return await live_stream(request, live, live.changes.subscribe, missed, run)


def add_stream_routes(app: web.Application) -> None:
    """Before /api/executions/{id}, which would take "stream" for an id."""
    app.router.add_get("/api/executions/stream", executions_stream_handler)
    app.router.add_get("/api/executions/{id}/stream", execution_stream_handler)
