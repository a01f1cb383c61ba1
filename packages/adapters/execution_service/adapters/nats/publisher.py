"""Retry requests (CONTRACT §5) and dead-letter replays: through JetStream, de-duplicated on
Nats-Msg-Id, when a stream captures the subject; as a plain NATS message otherwise."""

from __future__ import annotations

import json

import orjson

from execution_service.adapters.nats.stream import find_stream
from execution_service.adapters.nats.subjects import Subjects
from execution_service.domain import PublishFailed, RawMessage, RetryRequest
from nats.aio.client import Client


class NatsRetryPublisher:
    def __init__(self, nc: Client, subjects: Subjects, timeout: float = 2.0) -> None:
        self._nc = nc
        self._subjects = subjects
        self._timeout = timeout

    async def publish_retry(self, request: RetryRequest) -> None:
        payload = _dumps(request.envelope())
        headers = {"Nats-Msg-Id": request.message_id}
        await self._publish(self._subjects.retry_requested, payload, headers)

    async def publish_replay(self, message: RawMessage, message_id: str) -> None:
        """Dead letters keep the subject as the event contract names it: it goes back under
        this deployment's prefix."""
        headers = dict(message.headers) | {"Nats-Msg-Id": message_id}
        await self._publish(self._subjects.prefix + message.subject, message.data, headers)

    async def _publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        if not self._nc.is_connected:
            raise PublishFailed("not connected to NATS")
        try:
            js = self._nc.jetstream(timeout=self._timeout)
            if await find_stream(js, subject) is not None:
                await js.publish(subject, payload, headers=headers, timeout=self._timeout)
            else:
                await self._nc.publish(subject, payload, headers=headers)
                await self._nc.flush(timeout=max(1, round(self._timeout)))
        except Exception as exc:  # noqa: BLE001 - any failure means it did not go out
            raise PublishFailed(f"{subject} not published: {exc!r}") from exc


def _dumps(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # what orjson refuses, e.g. an integer beyond 64 bits
        return json.dumps(value).encode()
