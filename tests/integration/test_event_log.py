"""The event log on PostgreSQL (issue 22): stored rows held to the fold of their events, a
corrupted row found and put right, a rebuild racing the recorder losing nothing, and a past
moment answered only once no write in flight can still be recorded at it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from execution_service.adapters.postgres import Database, PostgresEventLog, create_database
from execution_service.adapters.system import SystemClock
from execution_service.domain import (
    Difference,
    Event,
    NotSettled,
    RawMessage,
    Selection,
    derive,
    parse_message,
    rebuild,
    verify,
)
from support.events import Workflow, history
from support.postgres import BothSides


def events_of(messages: Sequence[RawMessage]) -> list[Event]:
    parsed = [parse_message(m) for m in messages]
    return [e for e in parsed if isinstance(e, Event)]


async def ingest(recorder: BothSides, batches: list[list[RawMessage]]) -> None:
    for batch in batches:
        await recorder.record(events_of(batch), [])
        await asyncio.sleep(0)


async def verified(database: Database, sample: int | None = None) -> list[Difference]:
    found: list[Difference] = []
    await verify(PostgresEventLog(database), derive, SystemClock(), found.append, sample)
    return found


async def test_a_clean_store_verifies_and_its_outcome_is_kept(database: Database) -> None:
    await BothSides(database).record(events_of(history(executions=7, nodes=3)), [])
    assert await verified(database) == []
    assert await verified(database, sample=3) == []
    last = await PostgresEventLog(database).last_verification()
    assert last is not None
    assert (last.executions, last.differences, last.sample) == (3, 0, 3)


async def test_verify_finds_each_corrupted_row_and_rebuild_puts_it_right(
    database: Database,
) -> None:
    await BothSides(database).record(events_of(history(executions=5, nodes=3)), [])
    await database.execute("UPDATE executions SET status = 'RUNNING' WHERE id = 'e1'")
    await database.execute("UPDATE execution_logs SET output = '[1]' WHERE execution_id = 'e2'"
                           " AND node_id = 'n0'")  # fmt: skip
    await database.execute(
        "DELETE FROM execution_logs WHERE execution_id = 'e3' AND node_id = 'n1'"
    )
    await database.execute(
        "INSERT INTO execution_logs (execution_id, node_id, attempt, status, claim_precedence,"
        " node_type_precedence, node_name_precedence, input_precedence, started_at_precedence)"
        " VALUES ('e4', 'ghost', 1, 'RUNNING', '', '', '', '', '')"
    )
    await database.execute("UPDATE execution_counts SET n = n + 1 WHERE status = 'FAILED'")
    found = await verified(database)
    assert {(d.execution_id, d.row, d.field) for d in found} == {
        ("e1", "execution", "status"),
        ("e2", "node run n0 attempt 1", "output"),
        ("e3", "node run n1 attempt 1", "row"),
        ("e4", "node run ghost attempt 1", "row"),
        ("(all)", "execution_counts", "FAILED"),
    }
    last = await PostgresEventLog(database).last_verification()
    assert last is not None and last.differences == len(found)

    walked, changed = await rebuild(PostgresEventLog(database), derive)
    assert (walked, changed) == (5, 4)
    assert await verified(database) == []
    assert await rebuild(PostgresEventLog(database), derive) == (5, 0)  # run again: nothing


async def test_rebuild_from_the_events_alone_restores_every_row(database: Database) -> None:
    await BothSides(database).record(events_of(history(executions=6, nodes=4)), [])
    await database.execute("TRUNCATE executions, execution_logs CASCADE")
    await database.execute("UPDATE execution_counts SET n = 0")
    assert len(await verified(database)) > 0
    log = PostgresEventLog(database)
    assert await rebuild(log, derive, Selection(execution_ids=frozenset({"e2"}))) == (1, 1)
    assert await rebuild(log, derive, Selection(since=datetime(2000, 1, 1, tzinfo=UTC))) == (6, 5)
    assert await verified(database) == []
    first_heard = await database.fetch_val(
        "SELECT bool_and(created_at <= updated_at) FROM executions"
    )
    assert first_heard


async def test_a_rebuild_racing_the_recorder_ends_as_the_fold_of_every_event(
    database: Database,
) -> None:
    """Batches of the same executions recorded while their rows are rebuilt, chunk by chunk:
    whatever the interleaving, verify finds nothing, so no event was lost or mixed."""
    second = create_database(database.url, max_size=4)
    await second.connect()
    try:
        for seed in range(6):
            await database.execute("TRUNCATE executions, execution_logs, execution_events CASCADE")
            await database.execute("UPDATE execution_counts SET n = 0")
            rng = random.Random(seed)
            runs = [Workflow(f"x{i}").started(0, workflowId="wf") for i in range(40)]
            early: list[RawMessage] = []
            late: list[RawMessage] = []
            for i, run in enumerate(runs):
                for n in range(4):
                    run.node(f"n{n}", 10 * n + 1, 10 * n + 5, failed=(i + n) % 7 == 0)
                run.ended(100, failed=i % 3 == 0)
                for m in run.messages:
                    (early if rng.random() < 0.4 else late).append(m)
            recorder = BothSides(second)
            await recorder.record(events_of(early), [])
            # corrupt every row, so that a rebuild that lost the race would show
            await database.execute("UPDATE executions SET status = 'CANCELLED'")
            rng.shuffle(late)
            batches = [late[i : i + 7] for i in range(0, len(late), 7)]

            log = PostgresEventLog(database)
            # chunks of 3 executions: many replacements, each racing the batches
            await asyncio.gather(
                ingest(recorder, batches),
                rebuild(log, derive, chunk=3),
                rebuild(log, derive, chunk=5),
            )
            assert await verified(database) == [], seed
    finally:
        await second.disconnect()


async def test_a_moment_after_a_write_still_in_flight_began_is_not_answered(
    database: Database,
) -> None:
    """recorded_at is when the writing transaction began: until it ends, any later moment may
    still gain events, so it is refused; an earlier one is answered, and the answer holds."""
    queries = BothSides(database)
    await queries.record(events_of(Workflow("x").started(0).messages), [])
    await asyncio.sleep(0.02)
    before = datetime.now(UTC)
    await asyncio.sleep(0.02)
    async with database.connection() as writer:
        transaction = writer.transaction()
        await transaction.start()
        began = await writer.fetchval("SELECT now()")
        await asyncio.sleep(0.02)
        inside = datetime.now(UTC)
        answered = await queries.logged("x", before)
        with pytest.raises(NotSettled):
            await queries.logged("x", inside)
        # the writer records an event for x at its start, between `before` and `inside`
        await writer.execute(
            "INSERT INTO execution_events (event_key, execution_id, subject, payload)"
            " VALUES ('late', 'x', 'execution.node.started', '\\x7b7d')"
        )
        await transaction.commit()
    assert began < inside
    assert await queries.logged("x", before) == answered
    assert [e.message.headers["Nats-Msg-Id"] for e in await queries.logged("x", inside)][-1] == (
        "late"
    )
