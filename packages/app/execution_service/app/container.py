"""The composition root: which adapter serves which port, for one deployable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dependency_injector import containers, providers
from nats.aio.client import Client

from execution_service.adapters.http import LiveStreams
from execution_service.adapters.nats import (
    ConsumerSettings,
    EventConsumer,
    NatsRetryPublisher,
    Subjects,
)
from execution_service.adapters.postgres import PostgresChanges, PostgresStore, create_database
from execution_service.adapters.system import SystemClock
from execution_service.app.settings import Settings


def _consumer_settings(settings: Settings) -> ConsumerSettings:
    return ConsumerSettings(
        stream=settings.nats_stream,
        durable=settings.nats_consumer,
        batch_size=settings.batch_size,
        concurrency=settings.batches_in_flight,
        ack_wait=float(settings.ack_wait_seconds),
    )


def _health_checks(store: PostgresStore, nc: Client) -> dict[str, Callable[[], Awaitable[object]]]:
    async def nats_check() -> bool:
        if not nc.is_connected:
            return False
        await nc.flush(timeout=2)
        return True

    return {"database": store.ping, "nats": nats_check}


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    clock = providers.Singleton(SystemClock)
    database = providers.Singleton(
        lambda settings: create_database(settings.require_database()), settings
    )
    store = providers.Singleton(PostgresStore, database)
    # The connected client, provided at start-up (runtime.py): connecting is async and ordered.
    nats_client = providers.Dependency(instance_of=Client)
    subjects = providers.Singleton(lambda s: Subjects(s.nats_subject_prefix), settings)
    publisher = providers.Singleton(NatsRetryPublisher, nats_client, subjects)
    consumer = providers.Singleton(
        EventConsumer,
        nats_client,
        store,
        subjects,
        providers.Callable(_consumer_settings, settings),
    )
    health_checks = providers.Singleton(_health_checks, store, nats_client)
    # live updates: one LISTEN connection per process, fanned out to its SSE clients
    changes = providers.Singleton(lambda s: PostgresChanges(s.require_database()), settings)
    live_streams = providers.Singleton(
        lambda changes, s: LiveStreams(changes, max_clients=s.sse_max_clients), changes, settings
    )
