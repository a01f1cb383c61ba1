"""What the composition root provides besides the ports: the retention policy, the one NATS
connector (a command's connection fails fast), and a command's one-connection pool."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from dependency_injector import providers

from execution_service.adapters.nats.embedded import free_port
from execution_service.app import Container, Settings
from execution_service.app.pruning import retention


def test_the_retention_policy_is_the_settings_lengthened_by_the_stream() -> None:
    settings = Settings.from_env({"DEAD_LETTER_RETENTION": "2d", "TOMBSTONE_RETENTION": "1d"})
    container = Container(settings=settings)
    assert container.retention() == retention(settings)
    assert container.retention().prunes_anything
    assert container.retention(timedelta(days=7)).tombstones == timedelta(days=7)
    assert not Container(settings=Settings.from_env({})).retention().prunes_anything


def test_the_connector_uses_the_settings_servers_and_a_command_may_shrink_the_pool() -> None:
    settings = Settings.from_env(
        {"NATS_URL": "nats://a:4222, nats://b:4222", "DATABASE_URL": "postgresql://db/x"}
    )
    assert Container(settings=settings).nats_connector().servers == (
        "nats://a:4222",
        "nats://b:4222",
    )
    one = Container(settings=settings, pool_size=providers.Object((1, 1))).database()
    assert (one._min_size, one._max_size) == (1, 1)  # noqa: SLF001 - what a pool was asked for


async def test_a_commands_connection_fails_within_seconds_when_no_server_answers() -> None:
    settings = Settings.from_env({"NATS_URL": f"nats://127.0.0.1:{free_port()}"})
    started = time.monotonic()
    with pytest.raises(Exception) as raised:  # noqa: B017 - nats-py's own, whichever it is
        await asyncio.wait_for(Container(settings=settings).nats_connector().once("test"), 30)
    assert not isinstance(raised.value, TimeoutError)
    assert time.monotonic() - started < 6
