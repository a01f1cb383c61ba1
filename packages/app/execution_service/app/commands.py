"""What the CLI's commands do, apart from parsing them: `migrate`, and the one start-up path
that `serve` and `dev` share (migrations, the container, the app and its runtime)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable

import uvloop
from aiohttp import web

from execution_service.adapters.postgres import apply_migrations
from execution_service.app import logs
from execution_service.app.container import Container
from execution_service.app.settings import Settings
from execution_service.app.web import create_app, with_runtime

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
