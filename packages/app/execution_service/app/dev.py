"""`execution-service dev`: zero set-up. Embedded PostgreSQL and NATS in a local data folder
unless DATABASE_URL / NATS_URL are given, demo executions, then serve. Ctrl-C stops
everything it started; a second run reuses the data."""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import attrs
from aiohttp import web

from execution_service.adapters.nats import EmbeddedNats
from execution_service.adapters.nats.embedded import free_port
from execution_service.adapters.postgres import EmbeddedPostgres
from execution_service.app.banner import banner
from execution_service.app.commands import Extra, serve
from execution_service.app.container import Container
from execution_service.app.demo import demo_events, execution_ids, publish
from execution_service.app.settings import Settings
from execution_service.app.stand_in import answer_retries

log = logging.getLogger("execution_service.dev")


def dev(settings: Settings, demo: bool, data_dir: str) -> None:
    root = Path(data_dir)
    postgres = None if settings.database_url else EmbeddedPostgres(root / "postgres")
    broker = (
        None
        if settings.nats_urls_given
        else EmbeddedNats(root / "nats", _nats_port(), own_session=True)
    )
    try:
        if postgres is not None:
            log.info("starting embedded PostgreSQL in %s", root / "postgres")
            settings = attrs.evolve(settings, database_url=postgres.start())
        if broker is not None:
            log.info("starting embedded NATS in %s", root / "nats")
            settings = attrs.evolve(settings, nats_urls=(broker.start().url,))
        extras: tuple[Extra, ...] = (_publish_demo, answer_retries) if demo else ()
        serve(settings, extras=extras, announce=banner(settings, stand_in=demo))
    except KeyboardInterrupt:  # Ctrl-C before the service ran, which handles its own
        log.info("stopping…")
    finally:
        # In order: the service has closed its connections; now NATS, then PostgreSQL.
        signal.signal(signal.SIGINT, _still_stopping)
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()
        log.info("embedded servers stopped")


def _still_stopping(*_: object) -> None:
    log.info("still stopping…")


def _nats_port() -> int:
    """4222 when free (what NATS tools expect), else any free port."""
    try:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 4222))
        return 4222
    except OSError:
        return free_port()


def _publish_demo(container: Container) -> Callable[[web.Application], AsyncIterator[None]]:
    async def demo(_: web.Application) -> AsyncIterator[None]:
        events = demo_events(fixed_ids=True)
        await publish(container.nats_client(), container.subjects(), events)
        ids = ", ".join(execution_ids(events))
        log.info("published the demo executions %s (%d events)", ids, len(events))
        yield

    return demo
