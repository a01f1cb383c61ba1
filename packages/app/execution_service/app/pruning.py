"""Retention in the running service: the policy from the settings and the stream, the pass
that runs every PRUNE_INTERVAL in the serving process (web.py), and `execution-service prune`."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from datetime import timedelta

import nats

from execution_service.adapters.nats import Subjects, find_stream, stream_max_age
from execution_service.adapters.postgres import PostgresPruner, create_database
from execution_service.adapters.system import SystemClock
from execution_service.app.settings import Settings
from execution_service.domain import Clock, Pruned, Pruner, Retention, prune

log = logging.getLogger(__name__)


def retention(settings: Settings, stream_max_age: timedelta | None) -> Retention:
    """A tombstone outlives every copy of its execution's events the stream still holds."""
    tombstones = settings.tombstone_retention
    if tombstones is not None and stream_max_age is not None:
        tombstones = max(tombstones, stream_max_age)
    # a trace waiting for export keeps its execution one retention period longer at most
    waiting = settings.execution_retention if settings.traces_endpoint else None
    return Retention(
        settings.execution_retention, settings.dead_letter_retention, tombstones, waiting
    )


class PeriodicPruning:
    """One pass every `interval`, the first one at start-up; a failed pass waits for the next."""

    def __init__(
        self,
        pruner: Pruner,
        clock: Clock,
        policy: Retention,
        interval: timedelta,
        on_pruned: Callable[[Pruned], None] | None = None,
    ) -> None:
        self._on_pruned = on_pruned
        self._pruner = pruner
        self._clock = clock
        self._policy = policy
        self._interval = interval.total_seconds()

    async def run(self) -> None:
        while True:
            try:
                pruned = await prune(self._pruner, self._clock, self._policy)
            except Exception:  # noqa: BLE001 - the next pass may do; say why this one did not
                log.exception("a pruning pass failed")
            else:
                if pruned is None:
                    log.info("pruning: another replica is pruning; skipped")
                elif any(pruned.as_dict().values()):
                    log.info("pruned %s", describe(pruned))
                    if self._on_pruned is not None:
                        self._on_pruned(pruned)
            await asyncio.sleep(self._interval)


def describe(pruned: Pruned) -> str:
    return ", ".join(f"{name} {n}" for name, n in pruned.as_dict().items())


async def stream_max_age_of(settings: Settings, nc: nats.NATS) -> timedelta | None:
    js = nc.jetstream()
    stream = await find_stream(js, Subjects(settings.nats_subject_prefix).started)
    return None if stream is None else await stream_max_age(js, stream)


async def _stream_max_age_from(settings: Settings) -> timedelta | None:
    nc = await nats.connect(
        servers=list(settings.nats_urls), connect_timeout=2, allow_reconnect=False
    )
    try:
        return await stream_max_age_of(settings, nc)
    finally:
        await nc.close()


async def prune_once(settings: Settings, dry_run: bool) -> Pruned | None:
    """`execution-service prune`: the stream's max age from NATS when it answers, else
    TOMBSTONE_RETENTION alone (said on stderr by the caller's log)."""
    try:
        max_age = await asyncio.wait_for(_stream_max_age_from(settings), timeout=5)
    except Exception as exc:  # noqa: BLE001 - the stream only lengthens tombstones' life
        log.warning(
            "NATS did not say the stream's max age (%r): tombstones kept by TOMBSTONE_RETENTION",
            exc,
        )
        max_age = None
    database = create_database(settings.require_database(), min_size=1, max_size=1)
    await database.connect()
    try:
        policy = retention(settings, max_age)
        return await prune(PostgresPruner(database), SystemClock(), policy, dry_run)
    finally:
        await database.disconnect()


_TABLES = {  # what each count of Pruned is, as the tables hold it
    "executions": "executions",
    "node_runs": "execution_logs",
    "events": "execution_events",
    "retry_requests": "retry_requests",
    "dead_letters": "dead_letters",
    "tombstones": "execution_tombstones",
    "traces_dropped": "waiting_traces",  # trace_outbox rows not yet exported
}


def print_prune(settings: Settings, dry_run: bool) -> int:
    if not (settings.execution_retention or settings.dead_letter_retention):
        print("execution-service: nothing to prune: EXECUTION_RETENTION and "
              "DEAD_LETTER_RETENTION are unset (keep forever)", file=sys.stderr)  # fmt: skip
        return 0
    pruned = asyncio.run(prune_once(settings, dry_run))
    if pruned is None:
        print("execution-service: another pass is running (another replica); nothing done",
              file=sys.stderr)  # fmt: skip
        return 1
    verb = "would delete" if dry_run else "deleted"
    for name, n in pruned.as_dict().items():
        print(f"{_TABLES[name]:<22}{n:>12} {verb}")
    return 0
