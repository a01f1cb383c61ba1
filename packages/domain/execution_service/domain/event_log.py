"""The event log is the truth: `verify` holds the stored rows to the fold of their events,
`rebuild` replaces them by it (docs/OPERATIONS.md, "The event log is the truth")."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from execution_service.domain.derived import Derived, Difference, LoggedEvent, differences
from execution_service.domain.fold import Projection
from execution_service.domain.ports import Clock, EventLog

CHUNK = 200  # executions per read or replacement: a few thousand events, tens of ms locked


@attrs.frozen
class Selection:
    """Which executions: those named, of a workflow (as stored), or with an event recorded
    at or after `since`; all of them when nothing is given. Conditions combine with AND."""

    execution_ids: frozenset[str] = frozenset()
    workflow_id: str | None = None
    since: datetime | None = None

    @property
    def everything(self) -> bool:
        return not self.execution_ids and self.workflow_id is None and self.since is None


EVERYTHING = Selection()


@attrs.frozen
class Snapshot:
    """Executions' logged events and their stored rows, as one moment saw both."""

    events: Mapping[str, Sequence[LoggedEvent]]
    stored: Projection


@attrs.frozen
class Verification:
    """What a verify pass found."""

    started_at: datetime
    finished_at: datetime
    executions: int
    differences: int
    sample: int | None = None


# executions done, of how many, and the last one done (where a run stopped here would resume)
Progress = Callable[[int, int, str], None]


async def verify(
    log: EventLog,
    derive: Callable[[Sequence[LoggedEvent]], Derived],
    clock: Clock,
    report: Callable[[Difference], None],
    sample: int | None = None,
    progress: Progress | None = None,
) -> Verification:
    """Fold each execution's events (or those of `sample` random ones) and compare with its
    stored rows; report each difference; store and return the outcome."""
    started = clock.now()
    found = executions = 0
    everything = EVERYTHING
    total = await log.count(everything)
    chosen: list[str] | None = None
    if sample is not None:
        chosen = await _sample(log, sample)
        total = len(chosen)
    after: str | None = None
    while True:
        if chosen is not None:
            ids, chosen = chosen[:CHUNK], chosen[CHUNK:]
        else:
            ids = list(await log.execution_ids(everything, after, CHUNK))
        if not ids:
            break
        after = ids[-1]
        snapshot = await log.snapshot(ids)
        folded = _fold_each(ids, snapshot.events, derive)
        for difference in differences(ids, folded, snapshot.stored):
            found += 1
            report(difference)
        executions += len(ids)
        if progress is not None:
            progress(executions, total, after)
    if sample is None:
        for difference in await log.count_differences():
            found += 1
            report(difference)
    outcome = Verification(started, clock.now(), executions, found, sample)
    await log.save_verification(outcome)
    return outcome


async def _sample(log: EventLog, n: int) -> list[str]:
    """n of every execution, uniformly (reservoir sampling over the id walk: no ORDER BY
    random() over the whole table)."""
    chosen: list[str] = []
    seen = 0
    after: str | None = None
    while ids := await log.execution_ids(EVERYTHING, after, CHUNK * 10):
        for execution_id in ids:
            seen += 1
            if len(chosen) < n:
                chosen.append(execution_id)
            elif (j := random.randrange(seen)) < n:
                chosen[j] = execution_id
        after = ids[-1]
    return sorted(chosen)


def _fold_each(
    ids: Sequence[str],
    events: Mapping[str, Sequence[LoggedEvent]],
    derive: Callable[[Sequence[LoggedEvent]], Derived],
) -> Projection:
    logged = [e for x in ids for e in events.get(x, ())]
    return derive(logged).projection


async def rebuild(
    log: EventLog,
    derive: Callable[[Sequence[LoggedEvent]], Derived],
    selection: Selection = EVERYTHING,
    progress: Progress | None = None,
    after: str | None = None,
    chunk: int = CHUNK,
    in_flight: int = 2,
) -> tuple[int, int]:
    """Replace the stored rows of the selected executions by the fold of their events, a
    chunk at a time (each chunk atomic: stopped anywhere, run again). `in_flight` chunks at
    once, so that one folds while another waits for the store; progress is told in walk order,
    so that its last id has every execution up to it done. With no selection, the per-status
    counts are made right too. Returns (executions walked, changed)."""
    total = await log.count(selection)
    done = changed = 0
    pending: deque[tuple[Sequence[str], asyncio.Task[int]]] = deque()

    async def oldest() -> None:
        nonlocal done, changed
        ids, task = pending.popleft()
        changed += await task
        done += len(ids)
        if progress is not None:
            progress(done, total, ids[-1])

    try:
        while ids := await log.execution_ids(selection, after, chunk):
            after = ids[-1]
            pending.append((ids, asyncio.ensure_future(log.replace(ids, derive))))
            if len(pending) >= in_flight:
                await oldest()
        while pending:
            await oldest()
    finally:
        for _, task in pending:
            task.cancel()
    if selection.everything:
        await log.recount()
    return done, changed
