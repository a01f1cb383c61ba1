"""Retention: how long finished executions, dead letters and tombstones are kept (the Pruner
port deletes what is older, the prune use case says when). A pruned execution leaves a
tombstone, so that a late event for it is ignored rather than recorded as a new, partial
execution."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs


@attrs.frozen
class Retention:
    """How long each kind of record is kept; None keeps it forever."""

    executions: timedelta | None = None  # after the execution finished
    dead_letters: timedelta | None = None  # after the letter was last seen
    tombstones: timedelta | None = None  # after the execution was pruned
    # While traces are exported: how much longer than `executions` an execution whose trace
    # still waits for export is kept (then it goes, and its trace is counted as dropped).
    waiting_traces: timedelta | None = None

    @property
    def prunes_anything(self) -> bool:
        return any(kept is not None for kept in (self.executions, self.dead_letters))

    def cutoffs(self, now: datetime) -> Cutoffs:
        def before(kept: timedelta | None) -> datetime | None:
            return None if kept is None else now - kept

        waiting = None
        if self.executions is not None and self.waiting_traces is not None:
            waiting = now - self.executions - self.waiting_traces
        return Cutoffs(
            before(self.executions), before(self.dead_letters), before(self.tombstones), waiting
        )


@attrs.frozen
class Cutoffs:
    """What is older than these instants goes; None keeps that kind."""

    executions_finished_before: datetime | None = None
    dead_letters_seen_before: datetime | None = None
    tombstones_before: datetime | None = None
    # An execution whose trace waits for export is kept unless it finished before this;
    # None: waiting traces keep nothing.
    waiting_traces_before: datetime | None = None


@attrs.frozen
class Pruned:
    """What a pass deleted (or, dry, would delete), per kind of record."""

    executions: int = 0
    node_runs: int = 0
    events: int = 0
    retry_requests: int = 0
    dead_letters: int = 0
    tombstones: int = 0
    traces_dropped: int = 0  # waiting for export when their execution went

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True))
        )

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)
