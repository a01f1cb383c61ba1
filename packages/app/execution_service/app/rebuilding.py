"""`execution-service verify` and `execution-service rebuild`: the event log held to, or made
into, the stored rows (domain/event_log.py), each as its own process beside the service."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TextIO, TypeVar

from dependency_injector import providers

from execution_service.adapters.nats.decoding import decode_event_body
from execution_service.adapters.postgres import apply_migrations
from execution_service.adapters.system import SystemClock
from execution_service.app.container import Container
from execution_service.app.settings import Settings
from execution_service.domain import Difference, EventLog, Selection, derive, rebuild, verify

log = logging.getLogger(__name__)
T = TypeVar("T")
derive_fast = functools.partial(derive, fast=decode_event_body)


class Progress:
    """A bar redrawn in place on a terminal; else a log line every `every` seconds."""

    def __init__(self, what: str, out: TextIO = sys.stderr, every: float = 5.0) -> None:
        self._what = what
        self._out = out
        self._tty = out.isatty()
        self._every = every
        self._started = self._said = time.monotonic()
        self.last: str | None = None

    @property
    def on_terminal(self) -> bool:
        return self._tty

    def __call__(self, done: int, total: int, last: str) -> None:
        self.last = last
        now = time.monotonic()
        share = done / total if total else 1.0
        rate = done / max(now - self._started, 1e-9)
        if self._tty:
            bar = "#" * int(share * 30)
            self._out.write(f"\r{self._what} [{bar:<30}] {done}/{total} executions, {rate:.0f}/s ")
            self._out.flush()
        elif now - self._said >= self._every or done >= total:
            self._said = now
            log.info("%s: %d of %d executions (%.0f%%), %.0f/s", self._what, done, total,
                     100 * share, rate)  # fmt: skip

    def end(self) -> None:
        if self._tty:
            self._out.write("\n")


async def _on_the_log(settings: Settings, work: Callable[[EventLog], Awaitable[T]]) -> T:
    apply_migrations(settings.require_database())
    # a rebuild runs two chunks at once, each in a transaction of its own
    container = Container(settings=settings, pool_size=providers.Object((1, 2)))
    database = container.database()
    await database.connect()
    try:
        return await work(container.event_log())
    finally:
        await database.disconnect()


def print_verify(settings: Settings, sample: int | None) -> int:
    """Each difference on stdout, the outcome on stderr; 1 if any difference, else 0."""
    progress = Progress("verify")

    def report(difference: Difference) -> None:
        if progress.on_terminal:
            sys.stderr.write("\r")
        print(difference, flush=True)

    async def work(event_log: EventLog) -> int:
        outcome = await verify(event_log, derive_fast, SystemClock(), report, sample, progress)
        progress.end()
        seconds = (outcome.finished_at - outcome.started_at).total_seconds()
        print(
            f"execution-service: verified {outcome.executions} executions in {seconds:.1f} s: "
            f"{outcome.differences} differences",
            file=sys.stderr,
        )
        return 1 if outcome.differences else 0

    return asyncio.run(_on_the_log(settings, work))


def print_rebuild(
    settings: Settings,
    execution_ids: Sequence[str],
    workflow_id: str | None,
    since: datetime | None,
    after: str | None,
) -> int:
    selection = Selection(frozenset(execution_ids), workflow_id, since)
    progress = Progress("rebuild")

    async def work(event_log: EventLog) -> int:
        started = time.monotonic()
        done, changed = await rebuild(event_log, derive_fast, selection, progress, after)
        progress.end()
        print(
            f"execution-service: rebuilt {done} executions in {time.monotonic() - started:.1f} s:"
            f" {changed} changed",
            file=sys.stderr,
        )
        return 0

    try:
        return asyncio.run(_on_the_log(settings, work))
    except KeyboardInterrupt:
        progress.end()
        resume = f" (or resume with --after {progress.last})" if progress.last else ""
        print(
            "execution-service: rebuild interrupted; each execution is rebuilt whole or not at "
            f"all: run it again{resume}",
            file=sys.stderr,
        )
        return 130
