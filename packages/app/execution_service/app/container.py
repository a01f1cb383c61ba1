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
    NatsRetryPublisher,
    Subjects,
)
from execution_service.adapters.postgres import (
    PostgresChanges,
    PostgresEventLog,
    PostgresPruner,
    PostgresQueries,
    PostgresRecorder,
    create_database,
)
from execution_service.adapters.prometheus import PrometheusBatchObserver, RuntimeGauges
from execution_service.adapters.system import SystemClock
from execution_service.app.sampling import SAMPLE_SECONDS, GaugeSampler
from execution_service.app.settings import Settings

VERSION = "1.0.0"


def _consumer_settings(settings: Settings) -> ConsumerSettings:
    return ConsumerSettings(
        stream=settings.nats_stream,
        durable=settings.nats_consumer,
        batch_size=settings.batch_size,
        concurrency=settings.batches_in_flight,
        ack_wait=float(settings.ack_wait_seconds),
    )


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
    health_checks: dict[str, Callable[[], Awaitable[object]]], consumer: EventConsumer
) -> dict[str, Callable[[], Awaitable[object]]]:
    async def consumer_check() -> bool:
        return consumer.running

    return {**health_checks, "consumer": consumer_check}


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    clock = providers.Singleton(SystemClock)
    # One registry per container (so per app): tests and several apps in a process never clash.
    metrics_registry = providers.Singleton(CollectorRegistry)
    database = providers.Singleton(
        lambda settings: create_database(settings.require_database()), settings
    )
    # The two sides of the store share the database's pool.
    recorder = providers.Singleton(PostgresRecorder, database)
    queries = providers.Singleton(PostgresQueries, database)
    pruner = providers.Singleton(PostgresPruner, database)
    event_log = providers.Singleton(PostgresEventLog, database)
    # The connected client, provided at start-up (runtime.py): connecting is async and ordered.
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
    readiness_checks = providers.Singleton(_readiness_checks, health_checks, consumer)
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
