"""Traces of finished executions (issue 20; CONTRACT §7): what an exporter is given, and the
outbox that hands each finished attempt to one exporter once (their ports: ports.py)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import attrs

from execution_service.domain.events import JSON, Event, EventKind
from execution_service.domain.fold import NODE_RUN, project
from execution_service.domain.status import Status

FINISHING = frozenset(
    (EventKind.EXECUTION_COMPLETED, EventKind.EXECUTION_FAILED, EventKind.EXECUTION_CANCELLED)
)


# W3C Trace Context: version, trace id, parent id, flags; a later version may add fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


class RemoteParent(NamedTuple):
    """The span a W3C traceparent names."""

    trace_id: int
    span_id: int
    flags: int


def remote_parent(traceparent: str | None) -> RemoteParent | None:
    """The span a traceparent header names, or None if it names none (absent, malformed,
    version ff, zero ids): then the trace is the execution's own."""
    match = _TRACEPARENT.fullmatch(traceparent.strip().lower()) if traceparent else None
    if match is None:
        return None
    version, trace, span, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    parent = RemoteParent(int(trace, 16), int(span, 16), int(flags, 16))
    return parent if parent.trace_id and parent.span_id else None


def _number(bits: int, *parts: object) -> int:
    """Ids derived from what they stand for: exporting a trace again sends the same ids."""
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[: bits // 8], "big") or 1  # all zeros is the invalid id


def derived_trace_id(execution_id: str, attempt: int) -> int:
    return _number(128, "trace", execution_id, attempt)


def root_span_id(execution_id: str, attempt: int) -> int:
    return _number(64, "execution", execution_id, attempt)


def node_span_id(execution_id: str, attempt: int, node_id: str) -> int:
    return _number(64, "node", execution_id, attempt, node_id)


@attrs.frozen
class NodeRunTrace:
    """A node run of the attempt, as the merge rule folded its events (domain/fold.py)."""

    node_id: str
    status: Status
    node_type: str | None = None
    node_name: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    input: JSON = None
    output: JSON = None

    @classmethod
    def of_state(cls, node_id: str, state: dict[str, Any]) -> NodeRunTrace:
        fields = (
            "node_type",
            "node_name",
            "started_at",
            "completed_at",
            "error",
            "input",
            "output",
        )
        status = state["status"] or Status.RUNNING
        return cls(node_id, Status(status), **{name: state[name] for name in fields})


@attrs.frozen
class FinishedAttempt:
    """An attempt of an execution that ended: the execution's own events (execution.*, not
    node reports) of every attempt as recorded, and the attempt's node runs as folded. The
    trace takes the attempt's times from its own events, and what the execution is (its
    workflow, its user) from any. A store hands over the node runs it keeps, so that the
    export parses no node event again."""

    execution_id: str
    attempt: int
    events: tuple[Event, ...]
    node_runs: tuple[NodeRunTrace, ...] = ()

    @classmethod
    def of_events(cls, execution_id: str, attempt: int, events: Iterable[Event]) -> FinishedAttempt:
        """From every event of the execution, node reports included."""
        whole = tuple(events)
        node_events = (e for e in whole if e.kind.is_node and e.attempt == attempt)
        runs = sorted(
            (key[1], state)
            for key, state in project(node_events).node_runs.items()
            if key[0] == execution_id
        )
        return cls(
            execution_id,
            attempt,
            tuple(e for e in whole if not e.kind.is_node),
            tuple(NodeRunTrace.of_state(n, NODE_RUN.as_dict(s)) for n, s in runs),
        )

    def own_events(self) -> list[Event]:
        return [e for e in self.events if e.attempt == self.attempt]

    def parent(self, attempt: int | None = None) -> RemoteParent | None:
        """The span the attempt's start names: its earliest execution.started naming one."""
        number = self.attempt if attempt is None else attempt
        started = sorted(
            (
                e
                for e in self.events
                if e.attempt == number and e.kind is EventKind.EXECUTION_STARTED and e.traceparent
            ),
            key=lambda e: (e.timestamp, e.key),
        )
        for event in started:
            parent = remote_parent(event.traceparent)
            if parent is not None:
                return parent
        return None

    def trace_id(self, attempt: int | None = None) -> int:
        """The trace of this attempt (or of another attempt of the execution): its parent's,
        else derived from the execution and attempt."""
        number = self.attempt if attempt is None else attempt
        parent = self.parent(number)
        return (
            parent.trace_id if parent is not None else derived_trace_id(self.execution_id, number)
        )


def trace_ids(execution_id: str, events: Sequence[Event]) -> list[tuple[int, str]]:
    """Each finished attempt of the execution with the id of its trace (32 hex digits), by
    attempt: where the page links to a tracing tool."""
    whole = tuple(e for e in events if not e.kind.is_node)
    ended = sorted({e.attempt for e in whole if e.kind in FINISHING})
    return [(a, f"{FinishedAttempt(execution_id, a, whole).trace_id():032x}") for a in ended]


def finished_attempts(events: Sequence[Event]) -> list[tuple[str, int]]:
    """The (execution, attempt) pairs whose end these events report, in order, once each."""
    return sorted({(e.execution_id, e.attempt) for e in events if e.kind in FINISHING})


@attrs.frozen
class Exported:
    traces: int
    spans: int
