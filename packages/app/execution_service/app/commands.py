"""What the CLI's commands do, apart from parsing them: `migrate`, `prune`, and the one
start-up path that `serve` and `dev` share (migrations, the container, the app and its
runtime)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import uvloop
from aiohttp import web
from dependency_injector import providers

from execution_service.adapters.nats import find_stream, stream_max_age
from execution_service.adapters.postgres import apply_migrations
from execution_service.app import logs
from execution_service.app.container import Container
from execution_service.app.settings import Settings
from execution_service.app.web import create_app, with_runtime
from execution_service.domain import Pruned, prune

log = logging.getLogger("execution_service")
SHUTDOWN_TIMEOUT_SECONDS = 10.0
# Started after the runtime (NATS connected, consumer running), stopped before it.
Extra = Callable[[Container], Callable[[web.Application], AsyncIterator[None]]]


def migrate(settings: Settings) -> None:
    url = settings.require_database()
    applied = apply_migrations(url)
    log.info("migrations: %s on %s", ", ".join(applied) or "none pending", url.redacted())


def serve(
    settings: Settings,
    container: Container | None = None,
    extras: tuple[Extra, ...] = (),
    announce: str | None = None,
) -> None:
    """Apply pending migrations, then serve until SIGINT/SIGTERM; in-flight requests get
    SHUTDOWN_TIMEOUT_SECONDS to finish."""
    migrate(settings)
    container = container or Container(settings=settings)
    app = with_runtime(create_app(container), container)
    for extra in extras:
        app.cleanup_ctx.append(extra(container))
    app.on_shutdown.insert(0, _say_stopping)
    if announce is not None:
        print(announce, flush=True)
    web.run_app(
        app,
        # uvloop: +26% on a bare NATS drain, +30% on a minimal read here (issue 14); nats-py,
        # asyncpg and aiohttp all run on it (the tests of serve and dev use it)
        loop=uvloop.new_event_loop(),
        host=settings.host,
        port=settings.port,
        access_log_class=logs.AccessLog,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )


async def _say_stopping(_: web.Application) -> None:
    """First thing on SIGINT or SIGTERM: finishing the batch in hand and closing every
    connection takes a moment, and a second Ctrl-C meanwhile would break that off."""
    log.info("stopping…")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, log.info, "still stopping…")


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
    """`execution-service prune`: one pass, and what it deleted per table."""
    container = Container(settings=settings, pool_size=providers.Object((1, 1)))
    if not container.retention().prunes_anything:
        print("execution-service: nothing to prune: EXECUTION_RETENTION and "
              "DEAD_LETTER_RETENTION are unset (keep forever)", file=sys.stderr)  # fmt: skip
        return 0
    pruned = asyncio.run(_prune_once(container, dry_run))
    if pruned is None:
        print("execution-service: another pass is running (another replica); nothing done",
              file=sys.stderr)  # fmt: skip
        return 1
    verb = "would delete" if dry_run else "deleted"
    for name, n in pruned.as_dict().items():
        print(f"{_TABLES[name]:<22}{n:>12} {verb}")
    return 0


async def _prune_once(container: Container, dry_run: bool) -> Pruned | None:
    """The stream's max age from NATS when it answers, else TOMBSTONE_RETENTION alone (said
    on stderr)."""
    try:
        max_age = await asyncio.wait_for(_stream_max_age(container), timeout=5)
    except Exception as exc:  # noqa: BLE001 - the stream only lengthens tombstones' life
        log.warning(
            "NATS did not say the stream's max age (%r): tombstones kept by TOMBSTONE_RETENTION",
            exc,
        )
        max_age = None
    database = container.database()
    await database.connect()
    try:
        policy = container.retention(max_age)
        return await prune(container.pruner(), container.clock(), policy, dry_run)
    finally:
        await database.disconnect()


async def _stream_max_age(container: Container) -> timedelta | None:
    nc = await container.nats_connector().once("prune")
    try:
        js = nc.jetstream()
        stream = await find_stream(js, container.subjects().started)
        return None if stream is None else await stream_max_age(js, stream)
    finally:
        await nc.close()
