"""An in-memory EventLog over a MemoryStore's state, behaving like PostgresEventLog (one
contract suite, tests/contract/test_event_log_contract.py). A replacement here is atomic by
construction: nothing else runs between its read and its write."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from execution_service.adapters.memory.store import MemoryStore
from execution_service.domain import (
    EXECUTION,
    Derived,
    Difference,
    LoggedEvent,
    Projection,
    Selection,
    Snapshot,
    Verification,
)


class MemoryEventLog:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._verifications: list[Verification] = []

    def _selected(self, selection: Selection) -> list[str]:
        s = self._store
        logged = {x for x, _ in s._events}
        if selection.everything:
            return sorted(logged | set(s._executions))
        if selection.execution_ids:
            ids = set(selection.execution_ids)
        elif selection.workflow_id is not None:
            ids = set(s._executions)
        else:
            ids = logged
        if selection.workflow_id is not None:
            workflow_at = EXECUTION.slots.index("workflow_id")
            ids = {
                x for x in ids
                if x in s._executions and s._executions[x][workflow_at] == selection.workflow_id
            }  # fmt: skip
        if selection.since is not None:
            since = selection.since
            ids &= {x for (x, k), at in s._recorded_at.items() if at >= since}
        return sorted(ids)

    async def execution_ids(
        self, selection: Selection, after: str | None, limit: int
    ) -> Sequence[str]:
        self._store._check()
        return [x for x in self._selected(selection) if after is None or x > after][:limit]

    async def count(self, selection: Selection) -> int:
        self._store._check()
        return len(self._selected(selection))

    def _logged(self, execution_ids: Sequence[str]) -> dict[str, list[LoggedEvent]]:
        s = self._store
        wanted = set(execution_ids)
        events: dict[str, list[LoggedEvent]] = {}
        for identity, event in s._events.items():  # in insert order, as seq
            if identity[0] in wanted:
                events.setdefault(identity[0], []).append(
                    LoggedEvent(event.as_message(), s._recorded_at[identity])
                )
        return events

    async def snapshot(self, execution_ids: Sequence[str]) -> Snapshot:
        s = self._store
        s._check()
        wanted = set(execution_ids)
        stored = Projection(
            {x: list(state) for x, state in s._executions.items() if x in wanted},
            {k: list(state) for k, state in s._node_runs.items() if k[0] in wanted},
        )
        return Snapshot(self._logged(execution_ids), stored)

    async def replace(
        self, execution_ids: Sequence[str], derive: Callable[[Sequence[LoggedEvent]], Derived]
    ) -> int:
        s = self._store
        s._check()
        live = [x for x in sorted(set(execution_ids)) if x not in s._tombstones]
        events = self._logged(live)
        if not events:
            return 0
        derived = derive([e for x in sorted(events) for e in events[x]])
        now = s._clock.now()
        changed: set[str] = set()
        rows: list[tuple[dict, object, list]] = [  # type: ignore[type-arg]
            (s._executions, x, state) for x, state in derived.projection.executions.items()
        ] + [(s._node_runs, k, state) for k, state in derived.projection.node_runs.items()]
        for table, key, state in rows:
            stored = table.get(key)
            if stored == state:
                continue
            table[key] = state
            created = s._stamps[key][0] if key in s._stamps else derived.first[key]
            s._stamps[key] = (created, now if stored is not None else derived.last[key])
            changed.add(key if isinstance(key, str) else key[0])  # type: ignore[index]
        for key in [k for k in s._node_runs if k[0] in events]:
            if key not in derived.projection.node_runs:
                del s._node_runs[key], s._stamps[key]
                changed.add(key[0])
        for x in changed:
            s._revisions[x] = s._revisions.get(x, 0) + 1
        return len(changed)

    async def recount(self) -> None:
        """Counts are the executions themselves here: always right."""

    async def count_differences(self) -> list[Difference]:
        return []

    async def save_verification(self, verification: Verification) -> None:
        self._verifications.append(verification)

    async def last_verification(self) -> Verification | None:
        return self._verifications[-1] if self._verifications else None
