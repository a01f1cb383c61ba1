"""Which executions changed: what the feed live views follow (the ExecutionChanges port)
hands each subscriber, whichever replica wrote the change.

A subscriber takes what is pending all at once: an execution that changed ten times since the
last take is in it once (that is the coalescing), and a subscriber that falls far behind
holds a gap, not an ever-growing set (that is the bound)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import attrs

DEFAULT_PENDING_LIMIT = 10_000


@attrs.frozen
class Changes:
    """Executions whose changes committed since the subscriber's last take. A gap means
    some may be missing (the feed lost its source for a while, or the subscriber fell behind):
    read everything it follows again."""

    execution_ids: frozenset[str] = frozenset()
    gap: bool = False


class ChangeSubscription:
    """One subscriber's pending changes. Close it (or use `with`) to stop receiving."""

    def __init__(
        self,
        execution_id: str | None,
        limit: int,
        on_close: Callable[[ChangeSubscription], None],
    ) -> None:
        self.execution_id = execution_id  # None: every execution
        self._limit = limit
        self._on_close = on_close
        self._pending: set[str] = set()
        self._gap = False
        self._ready = asyncio.Event()

    def offer(self, execution_ids: Iterable[str]) -> None:
        if self._gap:
            return  # a gap already stands for everything
        self._pending.update(execution_ids)
        if len(self._pending) > self._limit:
            self.lose()
        elif self._pending:
            self._ready.set()

    def lose(self) -> None:
        self._pending.clear()
        self._gap = True
        self._ready.set()

    def pending(self) -> bool:
        return self._ready.is_set()

    async def take(self) -> Changes:
        """Wait for changes, then take all of them."""
        await self._ready.wait()
        taken = Changes(frozenset(self._pending), self._gap)
        self._pending = set()
        self._gap = False
        self._ready.clear()
        return taken

    def close(self) -> None:
        self._on_close(self)

    def __enter__(self) -> ChangeSubscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Subscribers:
    """Fan-out to the subscriptions of one process, by execution: a notification naming 500
    executions costs 500 look-ups, not one per subscriber and id."""

    def __init__(self) -> None:
        self._of_one: dict[str, set[ChangeSubscription]] = {}
        self._of_all: set[ChangeSubscription] = set()

    def subscribe(
        self, execution_id: str | None = None, limit: int = DEFAULT_PENDING_LIMIT
    ) -> ChangeSubscription:
        subscription = ChangeSubscription(execution_id, limit, self._remove)
        if execution_id is None:
            self._of_all.add(subscription)
        else:
            self._of_one.setdefault(execution_id, set()).add(subscription)
        return subscription

    def _remove(self, subscription: ChangeSubscription) -> None:
        if subscription.execution_id is None:
            self._of_all.discard(subscription)
            return
        followers = self._of_one.get(subscription.execution_id, set())
        followers.discard(subscription)
        if not followers:
            self._of_one.pop(subscription.execution_id, None)

    def __len__(self) -> int:
        return len(self._of_all) + sum(len(s) for s in self._of_one.values())

    def publish(self, execution_ids: Iterable[str]) -> None:
        ids = frozenset(execution_ids)
        for subscription in self._of_all:
            subscription.offer(ids)
        for execution_id in ids:
            for subscription in self._of_one.get(execution_id, ()):
                subscription.offer((execution_id,))

    def lose(self) -> None:
        """Tell every subscriber that changes may have been missed."""
        for subscription in self._of_all:
            subscription.lose()
        for followers in self._of_one.values():
            for subscription in followers:
                subscription.lose()
