"""The guarantees of CONTRACT §2 "Any order", as properties of the pure fold (domain/fold.py):
the rule written once, held to folding one event at a time, in any order, with any
duplicates, in any batches, by any number of writers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.domain import (
    EXECUTION,
    NODE_RUN,
    Event,
    Page,
    Projection,
    RawMessage,
    Status,
    fold,
    node_run_id,
    parse_message,
    project,
    record_events,
)
from execution_service.domain.fold import claim_precedence, duration, earliest_precedence
from support.histories import histories, shuffled_with_duplicates


def events(messages: list[RawMessage]) -> list[Event]:
    parsed = [parse_message(m) for m in messages]
    assert all(isinstance(p, Event) for p in parsed), parsed
    return parsed  # type: ignore[return-value]


def one_at_a_time(delivered: list[Event]) -> Projection:
    """The reference: each event folded on its own, then joined into the state so far."""
    state = Projection()
    for event in delivered:
        state = state.including(fold([event]))
    return state


@given(st.data())
def test_any_order_with_duplicates_folds_to_the_in_order_state(data: st.DataObject) -> None:
    history = data.draw(histories())
    delivered = data.draw(shuffled_with_duplicates(history))
    assert project(events(delivered)) == project(events(history))


@given(st.data())
def test_a_batch_folds_to_what_its_events_fold_to_one_at_a_time(data: st.DataObject) -> None:
    delivered = events(data.draw(shuffled_with_duplicates(data.draw(histories()))))
    assert project(delivered) == one_at_a_time(delivered)


@given(st.data())
def test_any_batches_by_any_writers_joined_in_any_order_give_the_whole(
    data: st.DataObject,
) -> None:
    """What stores do: each of several writers folds its own batches, and each batch's state
    is joined into the stored one in whatever order the writers commit."""
    delivered = events(data.draw(shuffled_with_duplicates(data.draw(histories()))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(delivered)), max_size=6)))
    batches = [delivered[a:b] for a, b in zip([0, *cuts], [*cuts, len(delivered)], strict=True)]
    commits = data.draw(st.permutations(batches))
    stored = Projection()
    for batch in commits:
        stored = stored.including(fold(batch))
    assert stored == one_at_a_time(delivered)


TIMES = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)
KEYS = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)


@given(st.integers(1, 2**31 - 1), st.booleans(), TIMES, KEYS, st.integers(1, 2**31 - 1),
       st.booleans(), TIMES, KEYS)  # fmt: skip
def test_claim_precedence_orders_as_attempt_phase_time_and_key(
    a1: int, t1: bool, at1: datetime, k1: str, a2: int, t2: bool, at2: datetime, k2: str
) -> None:
    def order(attempt: int, terminal: bool, at: datetime, key: str) -> tuple[object, ...]:
        return (attempt, 1, at, key) if terminal else (attempt, 0)

    one, other = claim_precedence(a1, t1, at1, k1), claim_precedence(a2, t2, at2, k2)
    expected = order(a1, t1, at1, k1), order(a2, t2, at2, k2)
    assert (one < other, one == other) == (expected[0] < expected[1], expected[0] == expected[1])


@given(TIMES, KEYS, TIMES, KEYS)
def test_earliest_precedence_is_greatest_for_the_earliest_time_and_key(
    at1: datetime, k1: str, at2: datetime, k2: str
) -> None:
    one, other = earliest_precedence(at1, k1), earliest_precedence(at2, k2)
    assert (one > other, one == other) == ((at1, k1) < (at2, k2), (at1, k1) == (at2, k2))


def test_a_key_that_is_a_prefix_of_another_is_the_earlier_one() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert earliest_precedence(at, "ab") > earliest_precedence(at, "abc")
    assert earliest_precedence(at, "ab") > earliest_precedence(at, "ab\uffff")
    assert earliest_precedence(at, "") > earliest_precedence(at, "\x01")


IDS = st.text(st.characters(exclude_categories=["Cs"]))  # what parsed events can hold


@given(IDS, IDS, st.integers(1, 2**31 - 1))
def test_node_run_ids_are_uuid5_of_the_key(execution_id: str, node_id: str, attempt: int) -> None:
    name = f"{execution_id}\0{node_id}\0{attempt}"
    expected = uuid.uuid5(uuid.UUID("0b0e3a36-8e55-4f0e-a1d2-6a3b8d0c9e17"), name)
    assert node_run_id((execution_id, node_id, attempt)) == str(expected)


@given(st.data())
def test_no_event_makes_a_terminal_status_running_again(data: st.DataObject) -> None:
    delivered = data.draw(shuffled_with_duplicates(data.draw(histories())))
    state = Projection()
    for event in events(delivered):
        before = state
        state = state.including(fold([event]))
        for key, run in before.node_runs.items():
            if NODE_RUN.as_dict(run)["status"].is_terminal:
                assert NODE_RUN.as_dict(state.node_runs[key])["status"].is_terminal
        for execution_id, execution in before.executions.items():
            was, now = EXECUTION.as_dict(execution), EXECUTION.as_dict(
                state.executions[execution_id]
            )
            if was["status"].is_terminal and now["attempt"] == was["attempt"]:
                assert now["status"].is_terminal
            assert now["attempt"] >= was["attempt"]


@given(st.data())
def test_durations_are_never_negative(data: st.DataObject) -> None:
    delivered = data.draw(shuffled_with_duplicates(data.draw(histories())))
    state = Projection()
    for event in events(delivered):
        state = state.including(fold([event]))
        rows = [EXECUTION.as_dict(e) for e in state.executions.values()]
        rows += [NODE_RUN.as_dict(r) for r in state.node_runs.values()]
        spans = [
            duration(r["status"], r["reported_duration"], r["started_at"], r["completed_at"])
            for r in rows
        ]
        assert all(d is None or d >= 0 for d in spans)


def test_a_duration_is_the_events_own_else_the_span_and_none_until_the_end() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(milliseconds=1500, microseconds=700)
    assert duration(Status.COMPLETED, 12, start, end) == 12
    assert duration(Status.FAILED, None, start, end) == 1500
    assert duration(Status.COMPLETED, None, end, start) == 0
    assert duration(Status.COMPLETED, None, None, end) is None
    assert duration(Status.RUNNING, 12, start, end) is None


@given(st.data())
def test_highest_attempt_decides_and_node_only_executions_run(data: st.DataObject) -> None:
    history = events(data.draw(histories()))
    state = project(history)
    for execution_id, execution in state.executions.items():
        fields = EXECUTION.as_dict(execution)
        mine = [e for e in history if e.execution_id == execution_id]
        top = max(e.attempt for e in mine)
        assert fields["attempt"] == top
        terminal = [e for e in mine if e.attempt == top and not e.kind.is_node]
        terminal = [e for e in terminal if e.kind.value != "execution.started"]
        if not terminal:
            assert fields["status"] is Status.RUNNING
        else:
            winner = max(terminal, key=lambda e: (e.timestamp, e.key))
            assert fields["status"].value == winner.kind.value.split(".")[-1].upper()


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
