"""Execution and NodeRun, and how events change them (CONTRACT §1, "How events become state").

Every field is a register that keeps the value of one event chosen by a total order on
events, and merging an event is a join (max or min) on that order. A join is commutative,
associative and idempotent, so any permutation of a set of events, with any duplicates,
folds to the same state, and a store can merge a batch into the state it persisted.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from execution_service.domain.events import JSON, Event, EventKind


class Status(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    __hash__ = object.__hash__  # members are singletons; Enum's own hashes the name in Python

    @property
    def is_terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


_TERMINAL_STATUS = {
    EventKind.NODE_COMPLETED: Status.COMPLETED,
    EventKind.NODE_FAILED: Status.FAILED,
    EventKind.EXECUTION_COMPLETED: Status.COMPLETED,
    EventKind.EXECUTION_FAILED: Status.FAILED,
    EventKind.EXECUTION_CANCELLED: Status.CANCELLED,
}
_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = datetime.resolution
_MILLISECOND = datetime.resolution * 1000

# A total order on events: their timestamp, then their key. As a string — 18 digits of µs
# since 0001-01-01, then the key — so that it compares as one value, in Python (by code point)
# and in a database (collation "C" on UTF-8 compares bytes, which is the same order).
Stamp = str
_NO_STAMP: Stamp = ""  # below every event's


def stamp(event: Event) -> Stamp:
    return f"{(event.timestamp - _YEAR_ONE) // _MICROSECOND:018d}{event.key}"


@attrs.frozen
class Reg:
    """A value and the stamp of the event that set it."""

    stamp: Stamp
    value: Any


def _earliest(current: Reg | None, at: Stamp, value: Any) -> Reg | None:
    if value is None:
        return current
    if current is None or at < current.stamp:
        return Reg(at, value)
    return current


def _first(one: Reg | None, other: Reg | None) -> Reg | None:
    """The join of two registers: the value of the earlier event."""
    if one is None or (other is not None and other.stamp < one.stamp):
        return other
    return one


@attrs.frozen
class Claim:
    """The report that decides a status: the highest attempt, then terminal over running,
    then the later timestamp, then the greater event key."""

    attempt: int
    rank: int  # 0 running, 1 terminal
    stamp: Stamp
    status: Status
    at: datetime | None = None  # when a terminal status was reached
    error: str | None = None
    output: JSON = None
    duration: int | None = None  # as the event reported it

    @property
    def order(self) -> tuple[int, int, Stamp]:
        return (self.attempt, self.rank, self.stamp)

    @classmethod
    def of(cls, event: Event, at: Stamp) -> Claim:
        """The claim an event (of stamp `at`) makes on its own subject (a node event on its
        node run)."""
        status = _TERMINAL_STATUS.get(event.kind)
        if status is None:
            return cls.running(event.attempt)
        return cls(
            event.attempt,
            1,
            at,
            status,
            at=event.at,
            error=event.error,
            output=event.output,
            duration=event.duration,
        )

    @classmethod
    def on_execution(cls, event: Event, at: Stamp) -> Claim:
        """A node event says only that its execution's attempt is running."""
        if event.kind.is_node:
            return cls.running(event.attempt)
        return cls.of(event, at)

    @classmethod
    def running(cls, attempt: int) -> Claim:
        """Every report that an attempt is running says the same thing, so they are equal:
        a stream of node events leaves a running execution as it was."""
        claim = _RUNNING.get(attempt)
        if claim is None:
            claim = _RUNNING[attempt] = cls(attempt, 0, _NO_STAMP, Status.RUNNING)
        return claim

    def join(self, other: Claim) -> Claim:
        return other if other.order > self.order else self

    def duration_since(self, started: datetime | None) -> int | None:
        """Duration in ms: the event's own, else the span from the start; never negative."""
        if self.rank == 0:
            return None
        if self.duration is not None:
            return self.duration
        if self.at is None or started is None:
            return None
        return max(0, (self.at - started) // _MILLISECOND)


_RUNNING: dict[int, Claim] = {}  # one running claim per attempt, made once
_NOTHING = Claim(0, -1, _NO_STAMP, Status.PENDING)  # below every claim: what no event says


def _value(reg: Reg | None) -> Any:
    return None if reg is None else reg.value


@attrs.frozen
class Execution:
    id: str
    claim: Claim
    workflow_id: Reg | None = None
    user_id: Reg | None = None
    started_at: Reg | None = None
    input: Reg | None = None
    metadata: Reg | None = None
    retry_of: Reg | None = None

    @property
    def status(self) -> Status:
        return self.claim.status

    @property
    def attempt(self) -> int:
        return self.claim.attempt

    @property
    def duration(self) -> int | None:
        return self.claim.duration_since(_value(self.started_at))

    def apply(self, event: Event, at: Stamp) -> Execution:
        if event.kind.is_node:
            if event.workflow_id is None and event.user_id is None:
                if event.attempt <= self.claim.attempt:
                    return self  # the common case, a node report on a known attempt: no change
            started = False
        else:
            started = event.kind is EventKind.EXECUTION_STARTED
        return Execution(
            self.id,
            claim=self.claim.join(Claim.on_execution(event, at)),
            workflow_id=_earliest(self.workflow_id, at, event.workflow_id),
            user_id=_earliest(self.user_id, at, event.user_id),
            started_at=_earliest(self.started_at, at, event.at if started else None),
            input=_earliest(self.input, at, event.input if started else None),
            metadata=_earliest(self.metadata, at, event.metadata if started else None),
            retry_of=_earliest(self.retry_of, at, event.retry_of if started else None),
        )

    def join(self, other: Execution) -> Execution:
        """The state of both sets of events together (what a store computes when it merges a
        batch's state into the stored one)."""
        return Execution(
            self.id,
            claim=self.claim.join(other.claim),
            workflow_id=_first(self.workflow_id, other.workflow_id),
            user_id=_first(self.user_id, other.user_id),
            started_at=_first(self.started_at, other.started_at),
            input=_first(self.input, other.input),
            metadata=_first(self.metadata, other.metadata),
            retry_of=_first(self.retry_of, other.retry_of),
        )

    @classmethod
    def first(cls, event: Event, at: Stamp) -> Execution:
        return cls(event.execution_id, _NOTHING).apply(event, at)

    def values(self) -> dict[str, Any]:
        """The fields readers see, by their domain names."""
        return {
            "id": self.id,
            "workflow_id": _value(self.workflow_id),
            "user_id": _value(self.user_id),
            "status": self.status,
            "attempt": self.attempt,
            "started_at": _value(self.started_at),
            "completed_at": self.claim.at,
            "duration": self.duration,
            "error": self.claim.error,
            "input": _value(self.input),
            "output": self.claim.output,
            "metadata": _value(self.metadata),
            "retry_of": _value(self.retry_of),
        }


NodeRunKey = tuple[str, str, int]  # (execution id, node id, attempt)
_NODE_RUN_NAMESPACE = uuid.UUID("0b0e3a36-8e55-4f0e-a1d2-6a3b8d0c9e17")


_NAMESPACE_BYTES = _NODE_RUN_NAMESPACE.bytes
_VARIANT = {f"{n:x}": f"{n & 0x3 | 0x8:x}" for n in range(16)}


def node_run_id(key: NodeRunKey) -> str:
    """A stable id, so a rebuilt node run keeps the id clients saw: the UUID version 5 of the
    key (str(uuid.uuid5(…)), spelled out, because the store computes one per node report)."""
    execution_id, node_id, attempt = key
    name = f"{execution_id}\0{node_id}\0{attempt}".encode()
    h = hashlib.sha1(_NAMESPACE_BYTES + name).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


@attrs.frozen
class NodeRun:
    execution_id: str
    node_id: str
    claim: Claim
    node_type: Reg | None = None
    node_name: Reg | None = None
    input: Reg | None = None
    started_at: Reg | None = None

    @property
    def attempt(self) -> int:
        return self.claim.attempt

    @property
    def key(self) -> NodeRunKey:
        return (self.execution_id, self.node_id, self.attempt)

    @property
    def status(self) -> Status:
        return self.claim.status

    @property
    def duration(self) -> int | None:
        return self.claim.duration_since(_value(self.started_at))

    def apply(self, event: Event, at: Stamp) -> NodeRun:
        started = event.kind is EventKind.NODE_STARTED
        return NodeRun(
            self.execution_id,
            self.node_id,
            claim=self.claim.join(Claim.of(event, at)),
            node_type=_earliest(self.node_type, at, event.node_type),
            node_name=_earliest(self.node_name, at, event.node_name if started else None),
            input=_earliest(self.input, at, event.input if started else None),
            started_at=_earliest(self.started_at, at, event.at if started else None),
        )

    def join(self, other: NodeRun) -> NodeRun:
        """The state of both sets of events together; see Execution.join."""
        return NodeRun(
            self.execution_id,
            self.node_id,
            claim=self.claim.join(other.claim),
            node_type=_first(self.node_type, other.node_type),
            node_name=_first(self.node_name, other.node_name),
            input=_first(self.input, other.input),
            started_at=_first(self.started_at, other.started_at),
        )

    @classmethod
    def first(cls, event: Event, at: Stamp) -> NodeRun:
        assert event.node_id is not None
        return cls(event.execution_id, event.node_id, _NOTHING).apply(event, at)

    def values(self) -> dict[str, Any]:
        return {
            "id": node_run_id(self.key),
            "execution_id": self.execution_id,
            "node_id": self.node_id,
            "attempt": self.attempt,
            "node_type": _value(self.node_type),
            "node_name": _value(self.node_name),
            "status": self.status,
            "input": _value(self.input),
            "output": self.claim.output,
            "error": self.claim.error,
            "started_at": _value(self.started_at),
            "completed_at": self.claim.at,
            "duration": self.duration,
        }


def node_run_key(event: Event) -> NodeRunKey:
    assert event.node_id is not None
    return (event.execution_id, event.node_id, event.attempt)


@attrs.frozen
class Projection:
    """The state a set of events folds to."""

    executions: Mapping[str, Execution] = attrs.field(factory=dict)
    node_runs: Mapping[NodeRunKey, NodeRun] = attrs.field(factory=dict)


def merge(
    executions: dict[str, Execution],
    node_runs: dict[NodeRunKey, NodeRun],
    events: Iterable[Event],
) -> None:
    """Merge events into the given states, in place (the store's hot path)."""
    for event in events:
        at = stamp(event)
        current = executions.get(event.execution_id)
        executions[event.execution_id] = (
            Execution.first(event, at) if current is None else current.apply(event, at)
        )
        if event.kind.is_node:
            key = node_run_key(event)
            run = node_runs.get(key)
            node_runs[key] = NodeRun.first(event, at) if run is None else run.apply(event, at)


def fold(events: Iterable[Event], into: Projection | None = None) -> Projection:
    into = into or Projection()
    executions, node_runs = dict(into.executions), dict(into.node_runs)
    merge(executions, node_runs, events)
    return Projection(executions, node_runs)
