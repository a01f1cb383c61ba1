"""The composition root: which adapter serves which port, for one deployable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dependency_injector import containers, providers
from nats.aio.client import Client
from prometheus_client import CollectorRegistry

from execution_service.adapters.http import HttpMetrics, LiveStreams
from execution_service.adapters.nats import (
    ConsumerSettings,
    EventConsumer,
    NatsConnector,
    NatsRetryPublisher,
    Subjects,
)
from execution_service.adapters.nats.decoding import decode_event_body
from execution_service.adapters.otel import OtlpTraceExporter, TraceOptions, resource_from_env
from execution_service.adapters.postgres import (
    Database,
    PostgresChanges,
    PostgresEventLog,
    PostgresPruner,
    PostgresQueries,
    PostgresRecorder,
    PostgresTraceOutbox,
    create_database,
)
from execution_service.adapters.prometheus import (
    PrometheusBatchObserver,
    PrometheusTraceMetrics,
    RuntimeGauges,
)
from execution_service.adapters.system import SystemClock
from execution_service.app.pruning import retention
from execution_service.app.sampling import SAMPLE_SECONDS, GaugeSampler
from execution_service.app.settings import Settings

VERSION = "1.0.0"


def _consumer_settings(settings: Settings) -> ConsumerSettings:
    return ConsumerSettings(
        stream=settings.nats_stream,
        stream_replicas=settings.nats_stream_replicas,
        durable=settings.nats_consumer,
        batch_size=settings.batch_size,
        concurrency=settings.batches_in_flight,
        ack_wait=float(settings.ack_wait_seconds),
    )


def _read_database(settings: Settings) -> Database | None:
    url = settings.database_read_url
    return None if url is None else create_database(url)


def _read_queries(queries: PostgresQueries, read_database: Database | None) -> PostgresQueries:
    return queries if read_database is None else PostgresQueries(read_database)


def _trace_delay(settings: Settings) -> float | None:
    """While traces are exported, finished attempts wait this long in the outbox."""
    return settings.export_delay.total_seconds() if settings.traces_endpoint else None


def _trace_exporter(settings: Settings) -> OtlpTraceExporter:
    if settings.traces_endpoint is None:
        raise ValueError("no OTLP endpoint is set: traces are not exported")
    options = TraceOptions(resource_from_env(), payloads=settings.export_payloads)
    return OtlpTraceExporter(settings.traces_endpoint, options, processes=1)


def _health_checks(
    queries: PostgresQueries, nc: Client
) -> dict[str, Callable[[], Awaitable[object]]]:
    async def nats_check() -> bool:
        if not nc.is_connected:
            return False
        await nc.flush(timeout=2)
        return True

    return {"database": queries.ping, "nats": nats_check}


def _readiness_checks(
    health_checks: dict[str, Callable[[], Awaitable[object]]],
    consumer: EventConsumer,
    queries: PostgresQueries,
    read_queries: PostgresQueries,
) -> dict[str, Callable[[], Awaitable[object]]]:
    async def consumer_check() -> bool:
        return consumer.running

    checks = {**health_checks, "consumer": consumer_check}
    if read_queries is not queries:  # the replica's own check: reads fail without it
        checks["database_read"] = read_queries.ping
    return checks


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    clock = providers.Singleton(SystemClock)
    # One registry per container (so per app): tests and several apps in a process never clash.
    metrics_registry = providers.Singleton(CollectorRegistry)
    # The pool's (min, max) connections; a command that runs once (prune) overrides it.
    pool_size = providers.Object((2, 10))
    database = providers.Singleton(
        lambda settings, size: create_database(settings.require_database(), *size),
        settings,
        pool_size,
    )
    # The two sides of the store share the database's pool.
    recorder = providers.Singleton(
        PostgresRecorder, database, trace_delay=providers.Callable(_trace_delay, settings)
    )
    queries = providers.Singleton(PostgresQueries, database)
    # the query side, on a read replica when DATABASE_READ_URL names one
    read_database = providers.Singleton(_read_database, settings)
    read_queries = providers.Singleton(_read_queries, queries, read_database)
    pruner = providers.Singleton(PostgresPruner, database)
    # The policy from the settings; called with the stream's max age once NATS has said it.
    retention = providers.Callable(retention, settings)
    # Every NATS connection is opened by this: the service's at start-up, a command's once.
    nats_connector = providers.Singleton(lambda s: NatsConnector(s.nats_urls), settings)
    event_log = providers.Singleton(PostgresEventLog, database)
    trace_outbox = providers.Singleton(PostgresTraceOutbox, database, decode_event_body)
    trace_exporter = providers.Singleton(_trace_exporter, settings)
    trace_metrics = providers.Singleton(
        PrometheusTraceMetrics,
        metrics_registry,
        providers.Callable(lambda recorder: lambda: recorder.late_trace_events, recorder),
    )
    # The service's connected client, provided at start-up (web.py's with_runtime): connecting
    # is async, and ordered after the pool and before the consumer.
    nats_client = providers.Dependency(instance_of=Client)
    subjects = providers.Singleton(lambda s: Subjects(s.nats_subject_prefix), settings)
    publisher = providers.Singleton(NatsRetryPublisher, nats_client, subjects)
    # The same publisher puts dead letters back (overriding `publisher` overrides this too).
    replayer = providers.Callable(lambda publisher: publisher, publisher)
    consumer = providers.Singleton(
        EventConsumer,
        nats_client,
        recorder,
        subjects,
        providers.Callable(_consumer_settings, settings),
        observer=providers.Singleton(PrometheusBatchObserver, metrics_registry),
    )
    health_checks = providers.Singleton(_health_checks, queries, nats_client)
    readiness_checks = providers.Singleton(
        _readiness_checks, health_checks, consumer, queries, read_queries
    )
    http_metrics = providers.Singleton(HttpMetrics, metrics_registry)
    runtime_gauges = providers.Singleton(RuntimeGauges, metrics_registry, VERSION)
    gauge_sample_seconds = providers.Object(SAMPLE_SECONDS)
    gauge_sampler = providers.Singleton(
        GaugeSampler,
        runtime_gauges,
        nats_client,
        consumer,
        database,
        gauge_sample_seconds,
        verifications=providers.Callable(lambda log: log.last_verification, event_log),
    )
    # live updates: one LISTEN connection per process, fanned out to its SSE clients
    changes = providers.Singleton(lambda s: PostgresChanges(s.require_database()), settings)
    live_streams = providers.Singleton(
        lambda changes, s: LiveStreams(changes, max_clients=s.sse_max_clients), changes, settings
    )
