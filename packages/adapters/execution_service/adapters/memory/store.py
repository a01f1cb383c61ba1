"""An in-memory ExecutionRecorder, ExecutionQueries and Pruner over one state, that behave like
the PostgreSQL ones (the contract tests say so)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from execution_service.domain import (
    EXECUTION,
    NODE_RUN,
    Clock,
    Cutoffs,
    DeadLetter,
    DeadLetterFilter,
    Event,
    EventIdentity,
    ExecutionFilter,
    ExecutionOrder,
    ExecutionView,
    LoggedEvent,
    NodeCounts,
    NodeRunFilter,
    NodeRunKey,
    NodeRunView,
    NotSettled,
    Page,
    Paged,
    Position,
    Pruned,
    RawMessage,
    Recorded,
    RetryRequest,
    State,
    Status,
    Unavailable,
    fold,
    join,
)

T = TypeVar("T")


class StoreUnavailable(Unavailable):
    """What the fake raises while `available` is False, as a real store would while down."""


class MemoryStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.available = True
        self._events: dict[EventIdentity, Event] = {}
        self._recorded_at: dict[EventIdentity, datetime] = {}
        self._executions: dict[str, State] = {}
        self._node_runs: dict[NodeRunKey, State] = {}
        self._stamps: dict[object, tuple[datetime, datetime]] = {}  # created, updated
        self._dead_letters: dict[str, DeadLetter] = {}
        self._retries: dict[tuple[str, int], RetryRequest] = {}
        self._tombstones: dict[str, datetime] = {}  # execution id: when it was pruned
        self._revisions: dict[str, int] = {}  # execution id: writes of it and its node runs

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("the in-memory store is switched off")

    async def record(self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]) -> Recorded:
        self._check()
        now = self._clock.now()
        new: dict[EventIdentity, Event] = {}
        of_pruned = frozenset(e.identity for e in events if e.execution_id in self._tombstones)
        # In key order, as the history port promises for the events of one batch.
        for event in sorted(events, key=lambda e: e.key):
            if event.identity not in self._events and event.identity not in of_pruned:
                new.setdefault(event.identity, event)
        batch = fold(new.values())
        executions = batch.all_executions()
        node_runs = batch.node_runs
        for execution_id, state in executions.items():
            stored = self._executions.get(execution_id)
            self._executions[execution_id] = (
                state if stored is None else join(EXECUTION, stored, state)
            )
        for run_key, run in node_runs.items():
            stored_run = self._node_runs.get(run_key)
            self._node_runs[run_key] = (
                run if stored_run is None else join(NODE_RUN, stored_run, run)
            )
        self._events.update(new)
        self._recorded_at.update(dict.fromkeys(new, now))
        for execution_id in {*executions, *(run_key[0] for run_key in node_runs)}:
            self._revisions[execution_id] = self._revisions.get(execution_id, 0) + 1
        touched: list[object] = [*executions, *node_runs]
        for key in touched:
            created = self._stamps.get(key, (now, now))[0]
            self._stamps[key] = (created, now)
        for letter in dead_letters:
            seen = self._dead_letters.get(letter.key)
            self._dead_letters[letter.key] = attrs.evolve(
                letter,
                first_seen=seen.first_seen if seen else now,
                last_seen=now,
                count=seen.count + 1 if seen else 1,
                replays=seen.replays if seen else 0,
            )
        return Recorded(frozenset(new), of_pruned)

    async def prune(self, cutoffs: Cutoffs, dry_run: bool = False) -> Pruned | None:
        self._check()
        finished = cutoffs.executions_finished_before
        doomed = {
            execution_id
            for execution_id, e in map(_fields, self._executions.items())
            if finished is not None
            and e["status"].is_terminal
            and e["completed_at"] is not None
            and e["completed_at"] < finished
            # a retry requested for a later attempt: being resumed, not done
            and not any(
                x == execution_id and attempt > e["attempt"] for x, attempt in self._retries
            )
        }
        runs = [k for k in self._node_runs if k[0] in doomed]
        events = [k for k in self._events if k[0] in doomed]
        retries = [k for k in self._retries if k[0] in doomed]
        letters = [
            k
            for k, d in self._dead_letters.items()
            if _older(d.last_seen, cutoffs.dead_letters_seen_before)
        ]
        stones = [k for k, at in self._tombstones.items() if _older(at, cutoffs.tombstones_before)]
        pruned = Pruned(
            len(doomed), len(runs), len(events), len(retries), len(letters), len(stones)
        )
        if dry_run:
            return pruned
        for execution_id in doomed:
            del self._executions[execution_id], self._stamps[execution_id]
        for run in runs:
            del self._node_runs[run], self._stamps[run]
        for key in events:
            del self._events[key]
            del self._recorded_at[key]
        for attempt in retries:
            del self._retries[attempt]
        for letter in letters:
            del self._dead_letters[letter]
        for stone in stones:
            del self._tombstones[stone]
        now = self._clock.now()
        self._tombstones.update(dict.fromkeys(doomed, now))
        return pruned

    async def execution(self, execution_id: str) -> ExecutionView | None:
        self._check()
        if execution_id not in self._executions:
            return None
        return self._execution_view(execution_id)

    async def executions(
        self,
        page: Page,
        where: ExecutionFilter = ExecutionFilter(),
        order: ExecutionOrder = ExecutionOrder.NEWEST_STARTED,
    ) -> Paged[ExecutionView]:
        self._check()
        return _paged(self._ordered(where, order), page)

    async def executions_after(
        self, where: ExecutionFilter, order: ExecutionOrder, after: Position | None, limit: int
    ) -> Sequence[ExecutionView]:
        self._check()
        ordered = self._ordered(where, order)
        if after is not None:
            mark = _sort_key(order, after.at, after.id)
            ordered = [v for v in ordered if _sort_key(order, _time(order, v), v.id) > mark]
        return ordered[:limit]

    def _ordered(self, where: ExecutionFilter, order: ExecutionOrder) -> list[ExecutionView]:
        views = [
            self._execution_view(execution_id)
            for execution_id, e in map(_fields, self._executions.items())
            if where.admits(e["status"], e["workflow_id"], e["user_id"], e["started_at"])
        ]
        return sorted(views, key=lambda v: _sort_key(order, _time(order, v), v.id))

    async def node_runs(
        self, execution_id: str, page: Page, where: NodeRunFilter = NodeRunFilter()
    ) -> Paged[NodeRunView]:
        self._check()
        runs = sorted(
            (
                self._node_run_view(key)
                for key, r in map(_run_fields, self._node_runs.items())
                if key[0] == execution_id and where.admits(r["status"], key[1], key[2])
            ),
            key=lambda r: (_unknown_last(r.started_at), r.node_id, r.attempt),
        )
        return _paged(runs, page)

    async def failed_node(self, execution_id: str, attempt: int) -> str | None:
        self._check()
        failed = [
            (_unknown_last(r["completed_at"]), key[1])
            for key, r in map(_run_fields, self._node_runs.items())
            if key[0] == execution_id and key[2] == attempt and r["status"] is Status.FAILED
        ]
        return min(failed)[1] if failed else None

    async def history(self, execution_id: str) -> Sequence[RawMessage]:
        self._check()
        return [e.as_message() for e in self._events.values() if e.execution_id == execution_id]

    async def logged(self, execution_id: str, until: datetime) -> Sequence[LoggedEvent]:
        """A batch here is recorded whole at its clock time: a moment is settled once the
        clock has passed it."""
        self._check()
        if until >= self._clock.now():
            raise NotSettled("the clock has not passed that moment yet")
        return [
            LoggedEvent(e.as_message(), self._recorded_at[k])
            for k, e in self._events.items()
            if e.execution_id == execution_id and self._recorded_at[k] <= until
        ]

    async def dead_letters(
        self, page: Page, where: DeadLetterFilter = DeadLetterFilter()
    ) -> Paged[DeadLetter]:
        self._check()
        ordered = sorted(
            (d for d in self._dead_letters.values() if where.admits(d)),
            key=lambda d: (d.last_seen, d.key),
            reverse=True,
        )
        return _paged(ordered, page)

    async def dead_letter(self, key: str) -> DeadLetter | None:
        self._check()
        return self._dead_letters.get(key)

    async def mark_replayed(self, key: str, count: int, at: datetime) -> bool:
        self._check()
        letter = self._dead_letters.get(key)
        if letter is None or letter.count != count or letter.replayed_at is not None:
            return False
        self._dead_letters[key] = attrs.evolve(letter, replayed_at=at, replays=letter.replays + 1)
        return True

    async def discard_dead_letter(self, key: str) -> bool:
        self._check()
        return self._dead_letters.pop(key, None) is not None

    async def retry_request(self, execution_id: str, attempt: int) -> RetryRequest | None:
        self._check()
        return self._retries.get((execution_id, attempt))

    async def retry_requests(self, execution_id: str) -> Sequence[RetryRequest]:
        self._check()
        mine = [r for (e, _), r in self._retries.items() if e == execution_id]
        return sorted(mine, key=lambda r: r.attempt)

    async def record_retry_request(self, request: RetryRequest) -> RetryRequest:
        self._check()
        return self._retries.setdefault((request.execution_id, request.attempt), request)

    def _execution_view(self, execution_id: str) -> ExecutionView:
        latest: dict[str, tuple[int, Status]] = {}
        for (x, node_id, attempt), run in map(_run_fields, self._node_runs.items()):
            if x == execution_id and (node_id not in latest or attempt > latest[node_id][0]):
                latest[node_id] = (attempt, run["status"])
        statuses = [status for _, status in latest.values()]
        counts = NodeCounts(
            total=len(statuses),
            running=statuses.count(Status.RUNNING),
            completed=statuses.count(Status.COMPLETED),
            failed=statuses.count(Status.FAILED),
        )
        fields = EXECUTION.as_dict(self._executions[execution_id]) | {"id": execution_id}
        revision = str(self._revisions[execution_id])
        return ExecutionView.of(fields, counts, *self._stamps[execution_id], revision)

    def _node_run_view(self, key: NodeRunKey) -> NodeRunView:
        fields = NODE_RUN.as_dict(self._node_runs[key])
        fields |= dict(zip(("execution_id", "node_id", "attempt"), key, strict=True))
        return NodeRunView.of(fields, *self._stamps[key])


def _fields(item: tuple[str, State]) -> tuple[str, dict[str, Any]]:
    return item[0], EXECUTION.as_dict(item[1])


def _run_fields(item: tuple[NodeRunKey, State]) -> tuple[NodeRunKey, dict[str, Any]]:
    return item[0], NODE_RUN.as_dict(item[1])


def _older(value: datetime | None, cutoff: datetime | None) -> bool:
    return cutoff is not None and value is not None and value < cutoff


def _time(order: ExecutionOrder, view: ExecutionView) -> datetime | None:
    return view.updated_at if order is ExecutionOrder.LAST_UPDATED else view.started_at


class _Reversed:
    """Sorts the other way round what it wraps."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.value < self.value)

    def __gt__(self, other: _Reversed) -> bool:
        return bool(other.value > self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def _sort_key(order: ExecutionOrder, at: datetime | None, execution_id: str) -> tuple[Any, ...]:
    """Ascending in the list's order: unknown times last whichever way the times go."""
    if order is ExecutionOrder.OLDEST_STARTED:
        return (at is None, at or 0, execution_id)
    return (at is None, _Reversed(at or 0), _Reversed(execution_id))


def _unknown_last(value: datetime | None) -> tuple[bool, Any]:
    return (value is None, value)


def _paged(items: Sequence[T], page: Page) -> Paged[T]:
    return Paged(list(items[page.offset : page.offset + page.limit]), len(items), page)


__all__ = ["MemoryStore", "StoreUnavailable"]
