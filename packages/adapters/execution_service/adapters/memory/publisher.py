"""An in-memory RetryPublisher that de-duplicates on the message id, as JetStream does."""

from __future__ import annotations

from typing import Any

from execution_service.domain import PublishFailed, RetryRequest


class MemoryRetryPublisher:
    def __init__(self) -> None:
        self.available = True
        self.published: dict[str, dict[str, Any]] = {}  # message id -> envelope

    async def publish_retry(self, request: RetryRequest) -> None:
        if not self.available:
            raise PublishFailed("the in-memory broker is switched off")
        self.published.setdefault(request.message_id, request.envelope())
