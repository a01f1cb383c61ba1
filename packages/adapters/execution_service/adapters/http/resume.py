"""What a reconnecting SSE client missed, from its Last-Event-ID.

An event id is a time: the replica's wall clock, in ms, when it took the changes the message
reflects (or began the snapshot). A client holding id T has seen every change this replica
had heard of by T. Every replica hears every change (each LISTENs), so any replica can answer
"what changed since T" from its own recent history, allowing MARGIN for clock skew between
replicas and for a notification heard a little later here than there: what it resends that
the client already had is harmless (each message is a whole state, not a delta).

It can't tell (and the client gets a fresh snapshot) when T - MARGIN is before this replica
began listening or last lost its connection, or older than the history it keeps."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

from execution_service.domain import ExecutionChanges

MARGIN_MS = 5_000
KEEP_MS = 5 * 60_000
KEEP_IDS = 100_000


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class ChangeHistory:
    def __init__(
        self,
        now_ms: Callable[[], int] = wall_clock_ms,
        keep_ms: int = KEEP_MS,
        keep_ids: int = KEEP_IDS,
        margin_ms: int = MARGIN_MS,
    ) -> None:
        self.now_ms = now_ms
        self._keep_ms = keep_ms
        self._keep_ids = keep_ids
        self._margin_ms = margin_ms
        self._heard: collections.deque[tuple[int, frozenset[str]]] = collections.deque()
        self._ids = 0
        self._complete_since: int | None = None  # no history yet

    def listening(self) -> None:
        """From now on every change is heard (start-up, or listening again after a gap)."""
        self._heard.clear()
        self._ids = 0
        self._complete_since = self.now_ms()

    def heard(self, execution_ids: frozenset[str]) -> None:
        now = self.now_ms()
        self._heard.append((now, execution_ids))
        self._ids += len(execution_ids)
        while self._heard and (
            self._ids > self._keep_ids or self._heard[0][0] < now - self._keep_ms
        ):
            at, dropped = self._heard.popleft()
            self._ids -= len(dropped)
            # what is forgotten can no longer be told
            self._complete_since = max(self._complete_since or at, at + 1)

    def changed_since(self, event_id: str | None) -> frozenset[str] | None:
        """The executions changed since the message with that id; None if that can't be
        told."""
        try:
            mark = int(event_id or "")
        except ValueError:
            return None
        since = mark - self._margin_ms
        if self._complete_since is None or since < self._complete_since:
            return None
        changed: set[str] = set()
        for at, ids in reversed(self._heard):
            if at < since:
                break
            changed |= ids
        return frozenset(changed)

    def follow(self, changes: ExecutionChanges) -> asyncio.Task[None]:
        """Record what the feed says from now on, until the task is cancelled."""
        subscription = changes.subscribe(limit=self._keep_ids)
        self.listening()

        async def record() -> None:
            with subscription:
                while True:
                    taken = await subscription.take()
                    if taken.gap:
                        self.listening()
                    if taken.execution_ids:
                        self.heard(taken.execution_ids)

        return asyncio.create_task(record(), name="change-history")
