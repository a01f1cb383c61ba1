"""Retention in the running service: the policy from the settings and the stream (the
container provides it), and the pass that runs every PRUNE_INTERVAL in the serving process
(web.py); `execution-service prune` runs one pass (commands.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from execution_service.app.settings import Settings
from execution_service.domain import Clock, Pruned, Pruner, Retention, prune

log = logging.getLogger(__name__)


def retention(settings: Settings, stream_max_age: timedelta | None = None) -> Retention:
    """A tombstone outlives every copy of its execution's events the stream still holds
    (what executions and dead letters it prunes the settings alone say)."""
    tombstones = settings.tombstone_retention
    if tombstones is not None and stream_max_age is not None:
        tombstones = max(tombstones, stream_max_age)
    # a trace waiting for export keeps its execution one retention period longer at most
    waiting = settings.execution_retention if settings.traces_endpoint else None
    return Retention(
        settings.execution_retention, settings.dead_letter_retention, tombstones, waiting
    )


class PeriodicPruning:
    """One pass every `interval`, the first one at start-up; a failed pass waits for the next."""

    def __init__(
        self,
        pruner: Pruner,
        clock: Clock,
        policy: Retention,
        interval: timedelta,
        on_pruned: Callable[[Pruned], None] | None = None,
    ) -> None:
        self._on_pruned = on_pruned
        self._pruner = pruner
        self._clock = clock
        self._policy = policy
        self._interval = interval.total_seconds()

    async def run(self) -> None:
        while True:
            try:
                pruned = await prune(self._pruner, self._clock, self._policy)
            except Exception:  # noqa: BLE001 - the next pass may do; say why this one did not
                log.exception("a pruning pass failed")
            else:
                if pruned is None:
                    log.info("pruning: another replica is pruning; skipped")
                elif any(pruned.as_dict().values()):
                    log.info("pruned %s", describe(pruned))
                    if self._on_pruned is not None:
                        self._on_pruned(pruned)
            await asyncio.sleep(self._interval)


def describe(pruned: Pruned) -> str:
    return ", ".join(f"{name} {n}" for name, n in pruned.as_dict().items())
