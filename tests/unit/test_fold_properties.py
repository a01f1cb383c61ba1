"""The guarantees of CONTRACT §1 "How events become state", as properties of the pure fold."""

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.adapters.postgres.rows import (
    execution_from_row,
    execution_row,
    node_run_from_row,
    node_run_row,
)
from execution_service.domain import (
    Event,
    Page,
    RawMessage,
    Status,
    fold,
    parse_message,
    record_events,
)
from execution_service.domain.model import node_run_id
from support.histories import histories, shuffled_with_duplicates


def events(messages: list[RawMessage]) -> list[Event]:
    parsed = [parse_message(m) for m in messages]
    assert all(isinstance(p, Event) for p in parsed), parsed
    return parsed  # type: ignore[return-value]


@given(st.data())
def test_any_order_with_duplicates_folds_to_the_in_order_state(data: st.DataObject) -> None:
    history = data.draw(histories())
    delivered = data.draw(shuffled_with_duplicates(history))
    assert fold(events(delivered)) == fold(events(history))


@given(st.data())
def test_folding_in_two_parts_equals_folding_at_once(data: st.DataObject) -> None:
    """What a store does: merge a later batch into the state it persisted."""
    history = data.draw(shuffled_with_duplicates(data.draw(histories())))
    cut = data.draw(st.integers(0, len(history)))
    first = fold(events(history[:cut]))
    stored = type(first)(
        {k: execution_from_row(execution_row(v)) for k, v in first.executions.items()},
        {k: node_run_from_row(node_run_row(v)) for k, v in first.node_runs.items()},
    )
    assert fold(events(history[cut:]), into=stored) == fold(events(history))


@given(st.data())
def test_joining_the_states_of_two_parts_equals_folding_at_once(data: st.DataObject) -> None:
    """What the PostgreSQL store does: join a batch's own state into the stored row (in SQL,
    column by column, from the rows adapters/postgres/rows.py makes)."""
    history = data.draw(shuffled_with_duplicates(data.draw(histories())))
    cut = data.draw(st.integers(0, len(history)))
    first, second, whole = (
        fold(events(history[:cut])),
        fold(events(history[cut:])),
        fold(events(history)),
    )
    for execution_id, expected in whole.executions.items():
        one, other = first.executions.get(execution_id), second.executions.get(execution_id)
        joined = other if one is None else one if other is None else one.join(other)
        assert joined == expected
    for key, run in whole.node_runs.items():
        one_run, other_run = first.node_runs.get(key), second.node_runs.get(key)
        assert run == (
            other_run
            if one_run is None
            else one_run if other_run is None else one_run.join(other_run)
        )


IDS = st.text(st.characters(exclude_categories=["Cs"]))  # what parsed events can hold


@given(IDS, IDS, st.integers(1, 2**31 - 1))
def test_node_run_ids_are_uuid5_of_the_key(execution_id: str, node_id: str, attempt: int) -> None:
    name = f"{execution_id}\0{node_id}\0{attempt}"
    expected = uuid.uuid5(uuid.UUID("0b0e3a36-8e55-4f0e-a1d2-6a3b8d0c9e17"), name)
    assert node_run_id((execution_id, node_id, attempt)) == str(expected)


@given(st.data())
def test_no_event_makes_a_terminal_status_running_again(data: st.DataObject) -> None:
    delivered = data.draw(shuffled_with_duplicates(data.draw(histories())))
    state = fold([])
    for event in events(delivered):
        before = state
        state = fold([event], into=state)
        for key, run in before.node_runs.items():
            if run.status.is_terminal:
                assert state.node_runs[key].status.is_terminal
        for execution_id, execution in before.executions.items():
            after = state.executions[execution_id]
            if execution.status.is_terminal and after.attempt == execution.attempt:
                assert after.status.is_terminal
            assert after.attempt >= execution.attempt


@given(st.data())
def test_durations_are_never_negative(data: st.DataObject) -> None:
    delivered = data.draw(shuffled_with_duplicates(data.draw(histories())))
    state = fold([])
    for event in events(delivered):
        state = fold([event], into=state)
        durations = [e.duration for e in state.executions.values()]
        durations += [r.duration for r in state.node_runs.values()]
        assert all(d is None or d >= 0 for d in durations)


@given(st.data())
def test_highest_attempt_decides_and_node_only_executions_run(data: st.DataObject) -> None:
    history = events(data.draw(histories()))
    state = fold(history)
    for execution_id, execution in state.executions.items():
        mine = [e for e in history if e.execution_id == execution_id]
        top = max(e.attempt for e in mine)
        assert execution.attempt == top
        terminal = [e for e in mine if e.attempt == top and not e.kind.is_node]
        terminal = [e for e in terminal if e.kind.value != "execution.started"]
        if not terminal:
            assert execution.status is Status.RUNNING
        else:
            winner = max(terminal, key=lambda e: (e.timestamp, e.key))
            assert execution.status.value == winner.kind.value.split(".")[-1].upper()


POISON_SAMPLES = [
    b"not json at all",
    b"[1, 2, 3]",
    b'{"eventId": "p1", "data": {"nodeId": "n"}}',
    b'{"eventId": "p2", "timestamp": "2026-11-25T10:00:00Z", "data": {"executionId": 42}}',
    b'{"eventId": "p3", "timestamp": "yesterday", "data": {"executionId": "exec-0"}}',
    b'{"eventId": "p4", "timestamp": "2026-11-25T10:00:00Z",'
    b' "data": {"executionId": "exec-0", "attempt": 0}}',
    b'{"eventId": "p5", "eventType": "execution.failed",'
    b' "timestamp": "2026-11-25T10:00:00Z", "data": {"executionId": "exec-0"}}',
]
POISON = st.sampled_from(POISON_SAMPLES)


@given(st.data())
async def test_rejected_events_change_nothing(data: st.DataObject) -> None:
    history = data.draw(histories())
    poison = [
        RawMessage(data.draw(st.sampled_from(["execution.started", "execution.node.completed"])), p)
        for p in data.draw(st.lists(POISON, min_size=1, max_size=5))
    ]
    delivered = data.draw(st.permutations(history + poison))
    clean, dirty = MemoryStore(FixedClock()), MemoryStore(FixedClock())
    await record_events(clean, history)
    size = data.draw(st.integers(1, 10))
    for start in range(0, len(delivered), size):
        await record_events(dirty, delivered[start : start + size])
    assert await _everything(dirty) == await _everything(clean)
    keys = {parse_message(p).key for p in poison}
    assert (await dirty.dead_letters(Page(1, 100))).total == len(keys)


async def _everything(store: MemoryStore) -> list[object]:
    executions = (await store.executions(Page(1, 1000))).items
    runs = [(await store.node_runs(e.id, Page(1, 1000))).items for e in executions]
    return [executions, runs]


def test_poison_samples_really_are_rejected() -> None:
    for sample in POISON_SAMPLES:
        assert not isinstance(
            parse_message(RawMessage("execution.started", sample)), Event
        ), json.dumps(sample.decode())
