"""The rows a set of recorded events derives, and how stored rows differ from them: what
`rebuild`, `verify` and an execution as it stood at a moment are made of (event_log.py).

An event is read back as it was recorded (its subject, payload and key) and parsed again by
the one parser, then folded by the one fold: derived rows are what the service would have
stored had it received those events now, whatever code stored the rows at the time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import attrs

from execution_service.domain.events import Event, RawMessage
from execution_service.domain.fold import EXECUTION, NODE_RUN, Layout, Projection, State, project
from execution_service.domain.identity import NodeRunKey
from execution_service.domain.parsing import FastDecoder, parse_message
from execution_service.domain.status import Status
from execution_service.domain.views import ExecutionView, NodeCounts, NodeRunView


class LoggedEvent(NamedTuple):
    """An event as the log holds it: the message received, and when it was recorded."""

    message: RawMessage
    recorded_at: datetime


@attrs.frozen
class Derived:
    """The fold of some recorded events, and for each row the recorded times of the first and
    the last event that touched it: when the service first heard of it and last changed it."""

    projection: Projection
    first: dict[object, datetime]  # execution id or node run key: first recorded_at
    last: dict[object, datetime]
    unreadable: int = 0  # events the parser no longer accepts


# An event once accepted stays accepted, whatever MAX_EVENT_BYTES says now.
_ANY_SIZE = 2**62


def derive(logged: Iterable[LoggedEvent], fast: FastDecoder | None = None) -> Derived:
    events: list[Event] = []
    first: dict[object, datetime] = {}
    last: dict[object, datetime] = {}
    unreadable = 0
    for message, recorded_at in logged:
        event = parse_message(message, _ANY_SIZE, fast)
        if not isinstance(event, Event):
            unreadable += 1
            continue
        events.append(event)
        keys: list[object] = [event.execution_id]
        if event.node_id is not None:
            keys.append((event.execution_id, event.node_id, event.attempt))
        for key in keys:
            if key not in first or recorded_at < first[key]:
                first[key] = recorded_at
            if key not in last or recorded_at > last[key]:
                last[key] = recorded_at
    return Derived(project(events), first, last, unreadable)


# --- Differences ----------------------------------------------------------------------------


@attrs.frozen
class Difference:
    """One field of one row that is not what the events fold to (None: the row is missing)."""

    execution_id: str
    row: str  # "execution", or "node run <node id> attempt <n>"
    field: str
    stored: Any
    folded: Any

    def __str__(self) -> str:
        return (
            f"{self.execution_id}: {self.row}: {self.field}: "
            f"stored {self.stored!r}, events fold to {self.folded!r}"
        )


_ABSENT = "(no row)"


def differences(
    execution_ids: Iterable[str], folded: Projection, stored: Projection
) -> list[Difference]:
    """Every way the stored rows of these executions differ from their fold, row by row."""
    found: list[Difference] = []
    for execution_id in execution_ids:
        found += _compare(
            execution_id, "execution", EXECUTION,
            folded.executions.get(execution_id), stored.executions.get(execution_id),
        )  # fmt: skip
    for key in sorted({*folded.node_runs, *stored.node_runs}):
        x, node, attempt = key
        found += _compare(
            x, f"node run {node} attempt {attempt}", NODE_RUN,
            folded.node_runs.get(key), stored.node_runs.get(key),
        )  # fmt: skip
    return found


def _compare(
    execution_id: str, row: str, layout: Layout, folded: State | None, stored: State | None
) -> list[Difference]:
    if folded is None and stored is None:
        return []
    if folded is None or stored is None:
        return [
            Difference(
                execution_id, row, "row",
                _ABSENT if stored is None else "a row",
                _ABSENT if folded is None else "a row",
            )  # fmt: skip
        ]
    return [
        Difference(execution_id, row, name, s, f)
        for name, s, f in zip(layout.slots, stored, folded, strict=True)
        if not _same(s, f)
    ]


def _same(stored: object, folded: object) -> bool:
    if isinstance(folded, str):  # a status is a StrEnum in the fold, text in a store
        return isinstance(stored, str) and str(stored) == str(folded)
    # True == 1 == 1.0 in Python, not in JSON
    return type(stored) is type(folded) and stored == folded


# --- An execution as it stood --------------------------------------------------------------


def execution_view(derived: Derived, execution_id: str, revision: str = "") -> ExecutionView | None:
    """The execution as its derived rows show it; None if no event made it known."""
    state = derived.projection.executions.get(execution_id)
    if state is None:
        return None
    counts = node_counts(
        {k: s for k, s in derived.projection.node_runs.items() if k[0] == execution_id}
    )
    fields = {"id": execution_id, **EXECUTION.as_dict(state)}
    return ExecutionView.of(
        fields, counts, derived.first[execution_id], derived.last[execution_id], revision
    )


def node_run_views(derived: Derived, execution_id: str) -> list[NodeRunView]:
    """The execution's node runs in the order /logs gives them: start time (unknown last),
    node id, attempt."""
    views = []
    for key, state in derived.projection.node_runs.items():
        if key[0] != execution_id:
            continue
        fields = {
            "execution_id": key[0], "node_id": key[1], "attempt": key[2],
            **NODE_RUN.as_dict(state),
        }  # fmt: skip
        views.append(NodeRunView.of(fields, derived.first[key], derived.last[key]))
    views.sort(
        key=lambda v: (v.started_at is None, v.started_at or datetime.min, v.node_id, v.attempt)
    )
    return views


def node_counts(runs: Mapping[NodeRunKey, State]) -> NodeCounts:
    """Distinct nodes, each by its run of the highest attempt (as the store counts)."""
    latest: dict[str, tuple[int, Status]] = {}
    status_at = NODE_RUN.slots.index("status")
    for (_, node, attempt), state in runs.items():
        if node not in latest or attempt > latest[node][0]:
            latest[node] = (attempt, Status(state[status_at]))
    statuses = [s for _, s in latest.values()]
    return NodeCounts(
        total=len(statuses),
        running=statuses.count(Status.RUNNING),
        completed=statuses.count(Status.COMPLETED),
        failed=statuses.count(Status.FAILED),
    )
