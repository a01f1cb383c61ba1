"""create_app(container): the HTTP application served by the container, and the ordered
start and stop of everything it runs on (pool → NATS → consumer; the reverse on the way out)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from dependency_injector import providers

from execution_service.adapters.http import build_app
from execution_service.adapters.nats import stream_max_age
from execution_service.app.container import Container
from execution_service.app.pruning import PeriodicPruning
from execution_service.app.tracing import TraceExport

log = logging.getLogger(__name__)


def create_app(container: Container) -> web.Application:
    # The container is the handlers' HttpServices: mypy checks here that it has every
    # provider they use, of the right type.
    settings = container.settings()
    return build_app(
        container,
        settings.cors_origins,
        metrics=container.http_metrics(),
        api_tokens=settings.api_tokens,
        read_tokens=settings.read_tokens,
        subject_prefix=settings.nats_subject_prefix,
        trace_ui_url=settings.trace_ui_url,
    )


def with_runtime(app: web.Application, container: Container) -> web.Application:
    """Start the pool, NATS and the consumer with the app; stop them in reverse order."""

    async def runtime(_: web.Application) -> AsyncIterator[None]:
        settings = container.settings()
        database = container.database()
        await database.connect()
        read_database = container.read_database()
        if read_database is not None:
            await read_database.connect()
        changes = container.changes()
        await changes.start()  # live views hear of every change committed from now on
        live_streams = container.live_streams()
        live_streams.start()
        closing = asyncio.Event()  # our own close disconnects too: nothing to warn of
        nc = await container.nats_connector().serving(
            on_disconnected=_say("NATS disconnected", unless=closing),
            on_reconnected=_say("NATS reconnected", unless=closing),
        )
        container.nats_client.override(providers.Object(nc))
        consumer = container.consumer()
        await consumer.start()
        sampler = container.gauge_sampler()
        await sampler.sample()  # the first scrape already has the lag
        sampling = asyncio.create_task(sampler.run(), name="gauge-sampler")
        task = asyncio.create_task(consumer.run(), name="consumer")
        trace_metrics = container.trace_metrics()  # its figures are scraped, at 0, when off
        pruning = None
        if container.retention().prunes_anything:
            assert consumer.stream is not None  # bound by start()
            policy = container.retention(await stream_max_age(nc.jetstream(), consumer.stream))
            periodic = PeriodicPruning(
                container.pruner(),
                container.clock(),
                policy,
                settings.prune_interval,
                on_pruned=lambda pruned: trace_metrics.dropped(pruned.traces_dropped),
            )
            pruning = asyncio.create_task(periodic.run(), name="pruning")
        exporting = None
        if settings.traces_endpoint is not None:
            export = TraceExport(
                container.trace_outbox(), container.trace_exporter(), trace_metrics
            )
            exporting = asyncio.create_task(export.run(), name="trace-export")
            log.info("exporting traces to %s", settings.traces_endpoint)
        log.info("consuming %s from stream %s", container.subjects().events, consumer.stream)
        # What start-up made lives as long as the process: spare the collector scanning it
        # again and again while batches churn through (measured: bench/drain_bench.py).
        gc.freeze()
        try:
            yield
        finally:
            for ticking in (sampling, pruning, exporting):
                if ticking is not None:
                    ticking.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await ticking
            if exporting is not None:
                container.trace_exporter().close()
            consumer.stop()  # finish and acknowledge the batch in hand
            await task
            await live_streams.stop()
            await changes.stop()
            closing.set()
            await nc.close()
            await database.disconnect()
            if read_database is not None:
                await read_database.disconnect()
            log.info("stopped")

    async def end_live_streams(_: web.Application) -> None:
        container.live_streams().close_all()

    app.on_shutdown.append(end_live_streams)
    app.cleanup_ctx.append(runtime)
    return app


def _say(message: str, unless: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def callback() -> None:
        if not unless.is_set():
            log.warning(message)

    return callback
