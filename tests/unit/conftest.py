"""The `api` fixture: the app's container, its providers overridden by the in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from dependency_injector import providers

from execution_service.adapters.memory import FixedClock, MemoryRetryPublisher, MemoryStore
from execution_service.app import Container, Settings, create_app
from support.api import Api


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    clock = FixedClock()
    store, publisher = MemoryStore(clock), MemoryRetryPublisher()
    container = Container(settings=Settings())
    container.recorder.override(providers.Object(store))
    container.queries.override(providers.Object(store))
    container.publisher.override(providers.Object(publisher))
    container.clock.override(providers.Object(clock))
    holder: dict[str, Api] = {}

    async def database() -> bool:
        return store.available

    async def nats() -> bool:
        return holder["api"].nats_up

    container.health_checks.override(providers.Object({"database": database, "nats": nats}))
    async with TestClient(TestServer(create_app(container))) as client:
        holder["api"] = Api(client, store, publisher, clock)
        yield holder["api"]
