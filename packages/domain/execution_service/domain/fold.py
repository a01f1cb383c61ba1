"""How events become state: the one place the merge rule is written (CONTRACT §2).

An execution and a node run are each a row of fields, grouped into registers (EXECUTION and
NODE_RUN below). A register holds the fields of the one event of greatest *precedence* that
said anything about them. A precedence is a bytes string computed here, so that the whole
rule, for this code and for any store, is: the greater precedence wins. A store compares the
bytes (PostgreSQL: `>` on bytea) and never knows why one event outranks another.

- The claim (status, and what comes with it: the attempt, the time it ended, error, output,
  duration) goes to the highest attempt, then terminal over running, then the later
  timestamp, then the greater event key. Every report that an attempt runs has the same
  precedence, so a stream of them changes nothing.
- Every other register keeps the value of the earliest event that gave one: by timestamp,
  then event key. Its precedence is that order turned round.

The join of two states (register by register, the greater precedence) is commutative,
associative and idempotent, so any permutation of a set of events, with any duplicates and in
any batches, folds to the same state; a store joins a batch's state into the stored one.

A state is a list: for each register in layout order, its precedence (b"" while no event set
it), then its fields. Plain lists, because a batch folds hundreds of them per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

import attrs

from execution_service.domain.events import Event, EventKind
from execution_service.domain.identity import NodeRunKey
from execution_service.domain.status import Status

State = list[Any]


class Register(NamedTuple):
    name: str
    fields: tuple[str, ...]


@attrs.frozen
class Layout:
    """The registers of a row, in order; a state lists them as [precedence, *fields]..."""

    registers: tuple[Register, ...]
    # The names of a state's places, in order: `<register>_precedence`, then its fields.
    slots: tuple[str, ...] = attrs.field(init=False)
    _empty: State = attrs.field(init=False)

    @slots.default
    def _slots(self) -> tuple[str, ...]:
        return tuple(name for r in self.registers for name in (f"{r.name}_precedence", *r.fields))

    @_empty.default
    def _nothing_set(self) -> State:
        return [b"" if name.endswith("_precedence") else None for name in self.slots]

    def empty(self) -> State:
        """No event has set anything."""
        return self._empty.copy()

    def as_dict(self, state: State) -> dict[str, Any]:
        return dict(zip(self.slots, state, strict=True))


def _single(*names: str) -> tuple[Register, ...]:
    return tuple(Register(name, (name,)) for name in names)


EXECUTION = Layout(
    (
        Register(
            "claim",
            ("status", "attempt", "completed_at", "error", "output", "reported_duration"),
        ),
        *_single("workflow_id", "user_id", "started_at", "input", "metadata", "retry_of"),
    )
)
# A node run's attempt is part of its key.
NODE_RUN = Layout(
    (
        Register("claim", ("status", "completed_at", "error", "output", "reported_duration")),
        *_single("node_type", "node_name", "input", "started_at"),
    )
)


def join(layout: Layout, state: State, other: State) -> State:
    """Both states together: each register from the side of greater precedence."""
    joined = list(state)
    at = 0
    for register in layout.registers:
        end = at + 1 + len(register.fields)
        if other[at] > joined[at]:
            joined[at:end] = other[at:end]
        at = end
    return joined


# --- Precedence ----------------------------------------------------------------------------

_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_LATEST = (1 << 63) - 1  # above every time in µs since year one (9999-12-31 is ~3.2e17)
_TURNED = bytes(range(255, -1, -1))  # each byte b becomes 255 - b
_RUNNING, _TERMINAL = b"\x00", b"\x01"


def _microseconds(at: datetime) -> int:
    return (at - _YEAR_ONE) // _MICROSECOND


def claim_precedence(attempt: int, terminal: bool, timestamp: datetime, key: str) -> bytes:
    """(attempt, phase, timestamp, key), greatest first. A running claim stops at its phase:
    every report that an attempt runs ranks the same."""
    if not terminal:
        return attempt.to_bytes(4, "big") + _RUNNING
    return _terminal(attempt, _microseconds(timestamp), key.encode())


def earliest_precedence(timestamp: datetime, key: str) -> bytes:
    """(timestamp, key), earliest greatest: the time counted down from the latest, the key's
    bytes turned round and closed by 0xFF. A key holds no NUL (parsing.py), so its turned bytes
    are at most 0xFE and a key that is a prefix of another still ranks after it."""
    return _earliest(_microseconds(timestamp), key.encode())


def _terminal(attempt: int, micros: int, key: bytes) -> bytes:
    return attempt.to_bytes(4, "big") + _TERMINAL + micros.to_bytes(8, "big") + key


def _earliest(micros: int, key: bytes) -> bytes:
    return (_LATEST - micros).to_bytes(8, "big") + key.translate(_TURNED) + b"\xff"


# --- Folding a batch ---------------------------------------------------------------------

_STATUS_OF = {
    EventKind.NODE_COMPLETED: Status.COMPLETED,
    EventKind.NODE_FAILED: Status.FAILED,
    EventKind.EXECUTION_COMPLETED: Status.COMPLETED,
    EventKind.EXECUTION_FAILED: Status.FAILED,
    EventKind.EXECUTION_CANCELLED: Status.CANCELLED,
}
_RUNNING_CLAIMS: dict[int, bytes] = {}


def _running(attempt: int) -> bytes:
    claim = _RUNNING_CLAIMS.get(attempt)
    if claim is None:
        if len(_RUNNING_CLAIMS) > 1024:  # attempts are few; a flood of odd ones is not kept
            _RUNNING_CLAIMS.clear()
        claim = _RUNNING_CLAIMS[attempt] = claim_precedence(attempt, False, _YEAR_ONE, "")
    return claim


@attrs.define
class Folded:
    """The state a batch of events folds to, on its own.

    `running` holds the executions of which the batch says only that an attempt runs (most
    node reports), by their highest such attempt: a store that knows the stored row is at
    that attempt or beyond has nothing to write for them. Their full state is
    `running_state(attempt)`."""

    executions: dict[str, State] = attrs.field(factory=dict)
    running: dict[str, int] = attrs.field(factory=dict)
    node_runs: dict[NodeRunKey, State] = attrs.field(factory=dict)

    def all_executions(self) -> dict[str, State]:
        """Every execution's state, those only running included."""
        states = {x: running_state(attempt) for x, attempt in self.running.items()}
        states.update(self.executions)
        return states


def running_state(attempt: int) -> State:
    """An execution of which all that is known is that `attempt` runs."""
    state = EXECUTION.empty()
    state[0:3] = [_running(attempt), Status.RUNNING, attempt]
    return state


def fold(events: Iterable[Event]) -> Folded:
    """The batch's own state of every execution and node run its events touch. The indices
    below are EXECUTION's and NODE_RUN's slots; tests/unit/test_fold_properties.py holds this
    to folding one event at a time with `join`."""
    folded = Folded()
    executions, running, runs = folded.executions, folded.running, folded.node_runs
    for e in events:
        kind = e.kind
        status = _STATUS_OF.get(kind)
        # what both precedences are made of, once per event
        micros, key = _microseconds(e.timestamp), e.key.encode()
        if kind.is_node:
            run_key = cast(NodeRunKey, (e.execution_id, e.node_id, e.attempt))
            run = runs.get(run_key)
            if run is None:
                run = runs[run_key] = NODE_RUN.empty()
            earliest = b""
            if status is None:  # node started
                claim = _running(e.attempt)
                if claim > run[0]:
                    run[0:6] = [claim, Status.RUNNING, None, None, None, None]
                earliest = _earliest(micros, key)
                if e.node_name is not None and earliest > run[8]:
                    run[8:10] = [earliest, e.node_name]
                if e.input is not None and earliest > run[10]:
                    run[10:12] = [earliest, e.input]
                if earliest > run[12]:
                    run[12:14] = [earliest, e.at]
            else:
                claim = _terminal(e.attempt, micros, key)
                if claim > run[0]:
                    run[0:6] = [claim, status, e.at, e.error, e.output, e.duration]
            if e.node_type is not None:
                earliest = earliest or _earliest(micros, key)
                if earliest > run[6]:
                    run[6:8] = [earliest, e.node_type]
            if e.workflow_id is None and e.user_id is None:
                if running.get(e.execution_id, 0) < e.attempt:
                    running[e.execution_id] = e.attempt
                continue
            claim = _running(e.attempt)
        elif status is None:  # execution started
            claim = _running(e.attempt)
        else:
            claim = _terminal(e.attempt, micros, key)
        execution = executions.get(e.execution_id)
        if execution is None:
            execution = executions[e.execution_id] = EXECUTION.empty()
        if claim > execution[0]:
            execution[0:7] = [claim, status or Status.RUNNING, e.attempt, None, None, None, None]
            if status is not None:
                execution[3:7] = [e.at, e.error, e.output, e.duration]
        earliest = _earliest(micros, key)
        if e.workflow_id is not None and earliest > execution[7]:
            execution[7:9] = [earliest, e.workflow_id]
        if e.user_id is not None and earliest > execution[9]:
            execution[9:11] = [earliest, e.user_id]
        if kind is EventKind.EXECUTION_STARTED:
            if earliest > execution[11]:
                execution[11:13] = [earliest, e.at]
            if e.input is not None and earliest > execution[13]:
                execution[13:15] = [earliest, e.input]
            if e.metadata is not None and earliest > execution[15]:
                execution[15:17] = [earliest, e.metadata]
            if e.retry_of is not None and earliest > execution[17]:
                execution[17:19] = [earliest, e.retry_of]
    for execution_id in [x for x in running if x in executions]:
        attempt = running.pop(execution_id)
        executions[execution_id] = join(EXECUTION, executions[execution_id], running_state(attempt))
    return folded


@attrs.frozen
class Projection:
    """What a set of events folds to, every state whole: the reference a store is held to."""

    executions: dict[str, State] = attrs.field(factory=dict)
    node_runs: dict[NodeRunKey, State] = attrs.field(factory=dict)

    def including(self, batch: Folded) -> Projection:
        """This state joined with a batch's."""
        executions, node_runs = dict(self.executions), dict(self.node_runs)
        for execution_id, state in batch.all_executions().items():
            stored = executions.get(execution_id)
            executions[execution_id] = state if stored is None else join(EXECUTION, stored, state)
        for key, run in batch.node_runs.items():
            stored_run = node_runs.get(key)
            node_runs[key] = run if stored_run is None else join(NODE_RUN, stored_run, run)
        return Projection(executions, node_runs)


def project(events: Iterable[Event]) -> Projection:
    """The state of a set of events, folded as one batch."""
    return Projection().including(fold(events))


# --- What readers see of a state ------------------------------------------------------------

_MILLISECOND = timedelta(milliseconds=1)


def duration(
    status: Status,
    reported: int | None,
    started_at: datetime | None,
    completed_at: datetime | None,
) -> int | None:
    """In ms, once terminal: the event's own, else the span from the start, never negative.
    Derived when read, because its parts may come from different batches."""
    if not status.is_terminal:
        return None
    if reported is not None:
        return reported
    if completed_at is None or started_at is None:
        return None
    return max(0, (completed_at - started_at) // _MILLISECOND)
