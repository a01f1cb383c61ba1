"""GET /metrics and the health probes of the serving app, in process, on real PostgreSQL and
NATS: what a Prometheus and an orchestrator would see."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
from aiohttp.test_utils import TestClient, TestServer
from dependency_injector import providers
from prometheus_client import CollectorRegistry, generate_latest

from execution_service.adapters.nats import EmbeddedNats, EventConsumer
from execution_service.adapters.postgres import (
    PostgresEventLog,
    PostgresUrl,
    create_database,
    pool_in_use,
)
from execution_service.adapters.prometheus import RuntimeGauges
from execution_service.adapters.system import SystemClock
from execution_service.app import Container, Settings, create_app, with_runtime
from execution_service.app.sampling import GaugeSampler
from execution_service.domain import Event, derive, parse_message, verify
from support.events import history, raw
from support.metrics import Scrape
from support.nats import isolated_nats, nats_url, wait_until
from support.postgres import BothSides, fresh_database

SAMPLE_SECONDS = 0.2


@asynccontextmanager
async def serving(database_url: PostgresUrl, server: str) -> AsyncIterator[tuple[TestClient, str]]:
    """The app as `serve` runs it (pool, NATS, consumer, sampler), on its own subjects."""
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        database_url=database_url,
        nats_urls=(server,),
        nats_stream=f"M{tag}",
        nats_consumer=f"m{tag}",
        nats_subject_prefix=f"m{tag}.",
    )
    container = Container(settings=settings)
    container.gauge_sample_seconds.override(providers.Object(SAMPLE_SECONDS))
    app = with_runtime(create_app(container), container)
    try:
        async with TestClient(TestServer(app)) as client:
            yield client, settings.nats_subject_prefix
    finally:
        try:
            nc = await nats.connect(server, max_reconnect_attempts=0)
            await nc.jetstream().delete_stream(settings.nats_stream)
            await nc.close()
        except Exception:  # noqa: BLE001 - a server stopped by the test has none to delete
            pass


async def scrape(client: TestClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    return Scrape.parse(await response.text())


async def test_events_published_through_nats_are_counted_and_the_lag_drains_to_zero(
    database_url: PostgresUrl,
) -> None:
    events = history(20, 3)  # 160 events
    bad = [raw("execution.started", {"no": "envelope"}), raw("execution.someday.new", {})]
    async with serving(database_url, nats_url()) as (client, prefix):
        nc = await nats.connect(nats_url())
        js = nc.jetstream()
        for m in [*events, *bad]:
            await js.publish(prefix + m.subject, m.data)
        await nc.close()

        async def drained() -> bool:
            figures = await scrape(client)
            return (
                figures.sum("execution_service_events_total") == len(events) + len(bad)
                and figures.sum("execution_service_consumer_pending") == 0
                and figures.sum("execution_service_consumer_ack_pending") == 0
            )

        await wait_until(drained, timeout=60, what="every event counted and the lag at 0")
        figures = await scrape(client)
        assert figures.sum("execution_service_events_total", outcome="applied") == len(events)
        assert figures.sum("execution_service_events_total", outcome="rejected") == 1
        assert figures.sum("execution_service_events_total", outcome="ignored") == 1
        assert figures.sum("execution_service_events_total", subject="other") == 1
        assert figures.sum("execution_service_events_total", subject="execution.started") == 21
        assert figures.sum("execution_service_dead_letters_total") == 1
        assert figures.sum("execution_service_batch_size_sum") == len(events) + len(bad)
        assert figures.sum("execution_service_batch_duration_seconds_count") >= 1
        assert figures.sum("execution_service_last_event_age_seconds") < 60
        assert figures.sum("execution_service_nats_connected") == 1
        assert figures.sum("execution_service_build_info", version="1.0.0") == 1
        assert figures.has("execution_service_db_pool_in_use")

        # Requests are labelled by route template, never by the path asked for.
        await client.get("/api/executions/e1")
        await client.get("/api/executions/nobody")
        figures = await scrape(client)
        template = {"method": "GET", "route": "/api/executions/{id}"}
        assert figures.sum("execution_service_http_requests_total", **template) == 2
        assert figures.sum("execution_service_http_requests_total", status="404", **template) == 1
        assert figures.sum("execution_service_http_request_duration_seconds_count", **template) == 2
        assert not any("nobody" in str(labels) for _, labels, _ in figures.samples)


async def test_the_lag_is_what_jetstream_has_not_yet_delivered(database_url: PostgresUrl) -> None:
    events = history(5, 2)
    async with isolated_nats(batch_size=10, fetch_timeout=0.2) as env:
        database = create_database(database_url)
        await database.connect()
        consumer = EventConsumer(env.nc, BothSides(database), env.subjects, env.settings)
        await consumer.start()  # the durable exists; nothing fetched yet
        js = env.nc.jetstream()
        for m in events:
            await js.publish(env.subjects.prefix + m.subject, m.data)
        registry = CollectorRegistry()
        sampler = GaugeSampler(RuntimeGauges(registry, "test"), env.nc, consumer, database)

        await sampler.sample()
        assert Scrape.parse(_text(registry)).sum("execution_service_consumer_pending") == len(
            events
        )

        task = asyncio.create_task(consumer.run())

        async def caught_up() -> bool:
            await sampler.sample()
            figures = Scrape.parse(_text(registry))
            return (
                figures.sum("execution_service_consumer_pending") == 0
                and figures.sum("execution_service_consumer_ack_pending") == 0
            )

        await wait_until(caught_up, timeout=30, what="the lag back to 0")
        consumer.stop()
        await task
        await database.disconnect()


def _text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


async def test_pool_in_use_counts_the_connections_checked_out(database_url: PostgresUrl) -> None:
    database = create_database(database_url)
    assert pool_in_use(database) == 0  # not connected yet
    await database.connect()
    try:
        assert pool_in_use(database) == 0
        async with database.connection() as connection:
            await connection.fetchval("SELECT 1")
            assert pool_in_use(database) == 1
        assert pool_in_use(database) == 0
    finally:
        await database.disconnect()


async def test_without_nats_it_is_live_but_not_ready_and_says_so(
    database_url: PostgresUrl, tmp_path: Path
) -> None:
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        async with serving(database_url, server.url) as (client, _):
            ready = await client.get("/api/health/ready")
            assert ready.status == 200, await ready.text()
            assert (await ready.json())["checks"] == {
                "database": "up",
                "nats": "up",
                "consumer": "up",
            }
            assert (await scrape(client)).sum("execution_service_nats_connected") == 1

            server.stop()

            async def disconnected() -> bool:
                return (await scrape(client)).sum("execution_service_nats_connected") == 0

            await wait_until(disconnected, timeout=30, what="nats_connected at 0")
            ready = await client.get("/api/health/ready")
            assert ready.status == 503
            body = await ready.json()
            assert body["failing"] == ["nats"]
            assert body["checks"]["nats"] == "down"
            live = await client.get("/api/health/live")
            assert live.status == 200
            assert (await live.json())["status"] == "ok"

            server = EmbeddedNats(server.store_dir, port=server.port).start()

            async def ready_again() -> bool:
                return (await client.get("/api/health/ready")).status == 200

            await wait_until(ready_again, timeout=30, what="ready again once NATS is back")
    finally:
        server.stop()


async def test_every_replica_reports_the_last_verify_found_drift() -> None:
    """verify runs as its own process; the serving replicas read its outcome from PostgreSQL."""
    with fresh_database() as url:
        database = create_database(url)
        await database.connect()
        try:
            events = [e for e in map(parse_message, history(3, 2)) if isinstance(e, Event)]
            await BothSides(database).record(events, [])
            await database.execute("UPDATE executions SET error = 'not from any event'")
            async with serving(url, nats_url()) as (client, _):
                figures = await scrape(client)
                assert figures.sum("execution_service_verify_last_run_timestamp_seconds") == 0
                outcome = await verify(
                    PostgresEventLog(database), derive, SystemClock(), lambda _: None
                )
                assert outcome.differences == 3

                async def reported() -> bool:
                    figures = await scrape(client)
                    return figures.sum("execution_service_verify_differences") == 3

                await wait_until(reported, timeout=10, what="the verify's outcome on /metrics")
                figures = await scrape(client)
                assert figures.sum("execution_service_verify_executions") == 3
                finished = figures.sum("execution_service_verify_last_run_timestamp_seconds")
                assert finished == outcome.finished_at.timestamp()
        finally:
            await database.disconnect()
