"""The one place a NATS connection is opened, with the options of what it is for: the
service's, which lives as long as the process, or a command's, which runs once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

import nats
from nats.aio.client import Client

NAME = "execution-service"
Callback = Callable[[], Awaitable[None]]


@attrs.frozen
class NatsConnector:
    servers: tuple[str, ...]

    async def serving(self, on_disconnected: Callback, on_reconnected: Callback) -> Client:
        """Reconnects for as long as it takes: the consumer and publishers carry on once the
        server is back, and readiness says when it is not."""
        return await nats.connect(
            servers=list(self.servers),
            name=NAME,
            max_reconnect_attempts=-1,
            reconnect_time_wait=2,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )

    async def once(self, command: str) -> Client:
        """For a command (prune, publish-demo): fails within seconds when no server answers,
        and never reconnects behind its back. nats-py tries each server up to
        max_reconnect_attempts + 1 times even on the first connect, allow_reconnect or not:
        its default (60, 2 s apart) is two minutes of silence."""
        return await nats.connect(
            servers=list(self.servers),
            name=f"{NAME} {command}",
            connect_timeout=5,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=1,
        )
