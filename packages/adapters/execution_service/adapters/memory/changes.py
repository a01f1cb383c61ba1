"""The change feed in memory: whoever writes says what changed (tests, the dev demo)."""

from __future__ import annotations

from collections.abc import Iterable

from execution_service.domain import DEFAULT_PENDING_LIMIT, ChangeSubscription, Subscribers


class MemoryChanges:
    def __init__(self) -> None:
        self._subscribers = Subscribers()

    def subscribe(
        self, execution_id: str | None = None, limit: int = DEFAULT_PENDING_LIMIT
    ) -> ChangeSubscription:
        return self._subscribers.subscribe(execution_id, limit)

    def committed(self, execution_ids: Iterable[str]) -> None:
        """What a committed write of these executions notifies."""
        self._subscribers.publish(execution_ids)

    def lose(self) -> None:
        """What a listener that lost its connection says once it listens again."""
        self._subscribers.lose()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
