"""Reading a text/event-stream as a browser's EventSource would: messages of id, event and
data lines, a blank line ending each; comment lines (heartbeats) counted apart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import attrs


@attrs.frozen
class Message:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


class EventStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0
        self.last_id: str | None = None

    async def next(self, timeout: float = 10.0) -> Message | None:
        """The next message; None when the server closed the stream."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Message | None:
        event, message_id = "message", None
        data: list[str] = []
        while True:
            raw = await self.response.content.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if not line:
                if data:
                    if message_id is not None:
                        self.last_id = message_id
                    return Message(event, "\n".join(data), message_id)
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                message_id = value

    async def until(self, event: str, timeout: float = 10.0) -> list[Message]:
        """Every message up to and including the first of that event."""
        seen: list[Message] = []
        while True:
            message = await self.next(timeout)
            assert message is not None, f"closed before {event}: {seen}"
            seen.append(message)
            if message.event == event:
                return seen
