"""`dev`'s stand-in for an orchestrator. `dev` runs none, so a retry asked for on the page
would go nowhere: this answers a retry request (CONTRACT §3) of a demo execution with the
next attempt's events, as an orchestrator would, so that a newcomer sees the whole loop
(FAILED → Retry → the next attempt runs and completes). Every other request is left alone,
and `serve` never runs it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from nats.aio.client import Client
from nats.aio.msg import Msg

from execution_service.adapters.nats import Subjects
from execution_service.app.container import Container
from execution_service.app.demo import envelope, is_demo, next_attempt, publish
from execution_service.domain import ExecutionQueries, NotFound, get_execution

log = logging.getLogger("execution_service.demo")
NAME = "demo orchestrator (a stand-in: dev has no orchestrator)"
_FIELDS = {"executionId": str, "attempt": int, "failedNodeId": str}


class DemoOrchestrator:
    def __init__(self, nc: Client, subjects: Subjects, queries: ExecutionQueries) -> None:
        self._nc = nc
        self._subjects = subjects
        self._queries = queries
        self._runs: set[asyncio.Task[None]] = set()
        self._subscription: Any = None

    async def start(self) -> None:
        self._subscription = await self._nc.subscribe(
            self._subjects.retry_requested, cb=self._on_request
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
        for run in list(self._runs):
            run.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)

    async def _on_request(self, message: Msg) -> None:
        try:
            request = json.loads(message.data)["data"]
            readable = all(isinstance(request.get(k), t) for k, t in _FIELDS.items())
        except (ValueError, KeyError, TypeError, AttributeError):
            readable = False
        if not readable:
            log.warning("%s: a retry request it cannot read: %r", NAME, message.data[:200])
            return
        run = asyncio.create_task(self._answer(request), name="demo-retry")
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)

    async def _answer(self, request: dict[str, Any]) -> None:
        execution_id, attempt = request["executionId"], request["attempt"]
        try:
            execution = await get_execution(self._queries, execution_id)
        except NotFound:
            execution = None
        if execution is None or not is_demo(execution.metadata):
            log.info("%s: retry of %s asked for: not a demo execution, left alone",
                     NAME, execution_id)  # fmt: skip
            return
        log.info("%s: retry of %s asked for: running attempt %d from node %s",
                 NAME, execution_id, attempt, request["failedNodeId"])  # fmt: skip
        try:
            for index, (pause, subject, data) in enumerate(next_attempt(request)):
                await asyncio.sleep(pause)
                key = f"attempt {attempt}:{index}"
                event = envelope(execution_id, key, subject, datetime.now(UTC), data)
                await publish(self._nc, self._subjects, [(subject, event)])
        except Exception:  # noqa: BLE001 - a demo's hiccup must not disturb the service
            log.warning("%s: attempt %d of %s broke off", NAME, attempt, execution_id,
                        exc_info=True)  # fmt: skip
            return
        log.info("%s: attempt %d of %s completed", NAME, attempt, execution_id)


def answer_retries(container: Container) -> Callable[[web.Application], AsyncIterator[None]]:
    async def stand_in(_: web.Application) -> AsyncIterator[None]:
        orchestrator = DemoOrchestrator(
            container.nats_client(), container.subjects(), container.queries()
        )
        await orchestrator.start()
        log.info("%s answers retries of demo executions", NAME)
        yield
        await orchestrator.stop()

    return stand_in
