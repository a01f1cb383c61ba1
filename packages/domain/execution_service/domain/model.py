"""Execution and NodeRun, and how events change them (CONTRACT §1, "How events become state").

Every field is a register that keeps the value of one event chosen by a total order on
events, and merging an event is a join (max or min) on that order. A join is commutative,
associative and idempotent, so any permutation of a set of events, with any duplicates,
folds to the same state, and a store can merge a batch into the state it persisted.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

import attrs

from execution_service.domain.events import JSON, Event, EventKind
from execution_service.domain.identity import NodeRunKey, node_run_id

T = TypeVar("T")


class Status(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

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
_MILLISECOND = datetime.resolution * 1000


class EventOrder(NamedTuple):
    """A total order on events: their timestamp, then their key. A tuple, so that the fold's
    many comparisons stay in C."""

    timestamp: datetime
    key: str

    @classmethod
    def of(cls, event: Event) -> EventOrder:
        return cls(event.timestamp, event.key)


# Below every event's order: what a claim no single event decides carries.
BEFORE_EVERY_EVENT = EventOrder(datetime.min.replace(tzinfo=UTC), "")


@attrs.frozen
class Reg(Generic[T]):
    """A value and the order of the event that set it."""

    set_by: EventOrder
    value: T


def _with_earlier(current: Reg[T] | None, at: EventOrder, value: T | None) -> Reg[T] | None:
    """The register after an event (of order `at`) that says `value`; None says nothing."""
    if value is None:
        return current
    if current is None or at < current.set_by:
        return Reg(at, value)
    return current


def _earlier_of(one: Reg[T] | None, other: Reg[T] | None) -> Reg[T] | None:
    """The join of two registers: the value of the earlier event."""
    if one is None or (other is not None and other.set_by < one.set_by):
        return other
    return one


def _value(reg: Reg[T] | None) -> T | None:
    return None if reg is None else reg.value


class Phase(enum.IntEnum):
    """How far a claim says its attempt went; a later phase outranks an earlier one."""

    NOTHING = -1  # no event said anything: below every claim
    RUNNING = 0
    TERMINAL = 1


@attrs.frozen
class Claim:
    """The report that decides a status: the highest attempt, then terminal over running,
    then the later timestamp, then the greater event key."""

    attempt: int
    phase: Phase
    decided_by: EventOrder  # BEFORE_EVERY_EVENT unless terminal
    status: Status
    at: datetime | None = None  # when a terminal status was reached
    error: str | None = None
    output: JSON = None
    duration: int | None = None  # as the event reported it

    @property
    def precedence(self) -> tuple[int, Phase, EventOrder]:
        return (self.attempt, self.phase, self.decided_by)

    @classmethod
    def of(cls, event: Event, at: EventOrder) -> Claim:
        """The claim an event (of order `at`) makes on its own subject (a node event on its
        node run)."""
        status = _TERMINAL_STATUS.get(event.kind)
        if status is None:
            return cls.running(event.attempt)
        return cls(
            event.attempt,
            Phase.TERMINAL,
            at,
            status,
            at=event.at,
            error=event.error,
            output=event.output,
            duration=event.duration,
        )

    @classmethod
    def on_execution(cls, event: Event, at: EventOrder) -> Claim:
        """A node event says only that its execution's attempt is running."""
        if event.kind.is_node:
            return cls.running(event.attempt)
        return cls.of(event, at)

    @staticmethod
    def running(attempt: int) -> Claim:
        """Every report that an attempt is running says the same thing, so they are equal: a
        stream of node events leaves a running execution as it was. The one place that says
        what "attempt n is running" is; stores write it from here."""
        return _running(attempt)

    def join(self, other: Claim) -> Claim:
        return other if other.precedence > self.precedence else self

    def duration_since(self, started: datetime | None) -> int | None:
        """Duration in ms: the event's own, else the span from the start; never negative."""
        if self.phase is not Phase.TERMINAL:
            return None
        if self.duration is not None:
            return self.duration
        if self.at is None or started is None:
            return None
        return max(0, (self.at - started) // _MILLISECOND)


@functools.lru_cache(maxsize=256)  # made once per live attempt rather than per node report
def _running(attempt: int) -> Claim:
    return Claim(attempt, Phase.RUNNING, BEFORE_EVERY_EVENT, Status.RUNNING)


_NOTHING = Claim(0, Phase.NOTHING, BEFORE_EVERY_EVENT, Status.PENDING)


@attrs.frozen
class Execution:
    id: str
    claim: Claim
    workflow_id: Reg[str] | None = None
    user_id: Reg[str] | None = None
    started_at: Reg[datetime] | None = None
    input: Reg[JSON] | None = None
    metadata: Reg[JSON] | None = None
    retry_of: Reg[str] | None = None

    @property
    def status(self) -> Status:
        return self.claim.status

    @property
    def attempt(self) -> int:
        return self.claim.attempt

    @property
    def duration(self) -> int | None:
        return self.claim.duration_since(_value(self.started_at))

    @property
    def says_only_running(self) -> bool:
        """All that node reports alone say of an execution: its attempt is running."""
        return self == Execution(self.id, Claim.running(self.attempt))

    def apply(self, event: Event, at: EventOrder) -> Execution:
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
            workflow_id=_with_earlier(self.workflow_id, at, event.workflow_id),
            user_id=_with_earlier(self.user_id, at, event.user_id),
            started_at=_with_earlier(self.started_at, at, event.at if started else None),
            input=_with_earlier(self.input, at, event.input if started else None),
            metadata=_with_earlier(self.metadata, at, event.metadata if started else None),
            retry_of=_with_earlier(self.retry_of, at, event.retry_of if started else None),
        )

    def join(self, other: Execution) -> Execution:
        """The state of both sets of events together (what a store computes when it merges a
        batch's state into the stored one)."""
        return Execution(
            self.id,
            claim=self.claim.join(other.claim),
            workflow_id=_earlier_of(self.workflow_id, other.workflow_id),
            user_id=_earlier_of(self.user_id, other.user_id),
            started_at=_earlier_of(self.started_at, other.started_at),
            input=_earlier_of(self.input, other.input),
            metadata=_earlier_of(self.metadata, other.metadata),
            retry_of=_earlier_of(self.retry_of, other.retry_of),
        )

    @classmethod
    def from_event(cls, event: Event, at: EventOrder) -> Execution:
        return cls(event.execution_id, _NOTHING).apply(event, at)

    def visible_fields(self) -> dict[str, Any]:
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


@attrs.frozen
class NodeRun:
    execution_id: str
    node_id: str
    claim: Claim
    node_type: Reg[str] | None = None
    node_name: Reg[str] | None = None
    input: Reg[JSON] | None = None
    started_at: Reg[datetime] | None = None

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

    def apply(self, event: Event, at: EventOrder) -> NodeRun:
        started = event.kind is EventKind.NODE_STARTED
        return NodeRun(
            self.execution_id,
            self.node_id,
            claim=self.claim.join(Claim.of(event, at)),
            node_type=_with_earlier(self.node_type, at, event.node_type),
            node_name=_with_earlier(self.node_name, at, event.node_name if started else None),
            input=_with_earlier(self.input, at, event.input if started else None),
            started_at=_with_earlier(self.started_at, at, event.at if started else None),
        )

    def join(self, other: NodeRun) -> NodeRun:
        """The state of both sets of events together; see Execution.join."""
        return NodeRun(
            self.execution_id,
            self.node_id,
            claim=self.claim.join(other.claim),
            node_type=_earlier_of(self.node_type, other.node_type),
            node_name=_earlier_of(self.node_name, other.node_name),
            input=_earlier_of(self.input, other.input),
            started_at=_earlier_of(self.started_at, other.started_at),
        )

    @classmethod
    def from_event(cls, event: Event, at: EventOrder) -> NodeRun:
        assert event.node_id is not None
        return cls(event.execution_id, event.node_id, _NOTHING).apply(event, at)

    def visible_fields(self) -> dict[str, Any]:
        """The fields readers see, by their domain names."""
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
        at = EventOrder(event.timestamp, event.key)
        current = executions.get(event.execution_id)
        executions[event.execution_id] = (
            Execution.from_event(event, at) if current is None else current.apply(event, at)
        )
        if event.kind.is_node:
            key = node_run_key(event)
            run = node_runs.get(key)
            node_runs[key] = NodeRun.from_event(event, at) if run is None else run.apply(event, at)


def fold(events: Iterable[Event], into: Projection | None = None) -> Projection:
    into = into or Projection()
    executions, node_runs = dict(into.executions), dict(into.node_runs)
    merge(executions, node_runs, events)
    return Projection(executions, node_runs)
