"""The serving process's pruning loop, on the fakes: a pass at start-up and every interval, a
failed pass waits for the next, and cancelling it stops it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.app.pruning import PeriodicPruning
from execution_service.domain import Cutoffs, Page, Pruned, Retention, record_events
from support.events import T0, Workflow
from support.polling import wait_until


class Flaky:
    """Fails its first pass, then passes to the store."""

    def __init__(self, store: MemoryStore) -> None:
        self.store, self.passes = store, 0

    async def prune(self, cutoffs: Cutoffs, dry_run: bool = False) -> Pruned | None:
        self.passes += 1
        if self.passes == 1:
            raise ConnectionError("PostgreSQL went away")
        return await self.store.prune(cutoffs, dry_run)


async def test_passes_repeat_every_interval_survive_a_failure_and_stop_when_cancelled() -> None:
    clock = FixedClock(T0 + timedelta(days=60))
    store = MemoryStore(clock)
    await record_events(store, Workflow("old").started(0).ended(1).messages)
    pruner = Flaky(store)
    periodic = PeriodicPruning(
        pruner, clock, Retention(executions=timedelta(days=30)), timedelta(seconds=0.05)
    )
    task = asyncio.create_task(periodic.run())
    await wait_until(lambda: pruner.passes >= 3, timeout=10, what="three passes")
    assert (await store.executions(Page())).total == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    passes = pruner.passes
    await asyncio.sleep(0.2)  # a stopped loop runs no more passes: nothing to poll for
    assert task.cancelled() and pruner.passes == passes
