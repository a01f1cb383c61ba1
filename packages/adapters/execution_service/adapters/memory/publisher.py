"""An in-memory RetryPublisher and ReplayPublisher that de-duplicate on the message id, as
JetStream does."""

from __future__ import annotations

from typing import Any

from execution_service.domain import PublishFailed, RawMessage, RetryRequest


class MemoryRetryPublisher:
    def __init__(self) -> None:
        self.available = True
        self.published: dict[str, dict[str, Any]] = {}  # message id -> envelope
        self.replayed: dict[str, RawMessage] = {}  # message id -> message

    async def publish_retry(self, request: RetryRequest) -> None:
        if not self.available:
            raise PublishFailed("the in-memory broker is switched off")
        self.published.setdefault(request.message_id, request.envelope())

    async def publish_replay(self, message: RawMessage, message_id: str) -> None:
        if not self.available:
            raise PublishFailed("the in-memory broker is switched off")
        headers = dict(message.headers) | {"Nats-Msg-Id": message_id}
        self.replayed.setdefault(message_id, RawMessage(message.subject, message.data, headers))
