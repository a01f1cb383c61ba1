"""The write side on PostgreSQL: recording batches of events, dead letters and retry requests.

Recording a batch is one transaction of a fixed number of round trips, whatever its size:
insert the events (the primary key finds duplicates), fold the new ones in Python into the
batch's own state of each node run and execution (the domain's fold), then join those into the
stored rows with one upsert per table (upserts.py). Nothing is read back into Python. Rows are
written in key order so that concurrent writers queue rather than deadlock. Triggers keep
execution_counts (migrations/0003).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from execution_service.adapters.postgres.database import Connected, encode_json
from execution_service.adapters.postgres.queries import RETRY_REQUEST, retry_request
from execution_service.adapters.postgres.rows import (
    CLAIM_COLUMNS,
    EXECUTION_IN,
    JSON_COLUMNS,
    NODE_RUN_IN,
    Stamps,
    claim_record,
    event_record,
    execution_record,
    node_run_record,
)
from execution_service.adapters.postgres.upserts import WRITE_EXECUTIONS, WRITE_NODE_RUNS
from execution_service.domain import DeadLetter, Event, Recorded, RetryRequest, merge
from execution_service.domain.model import Claim, Execution, NodeRun, NodeRunKey, node_run_id


class PostgresRecorder(Connected):
    async def record(self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]) -> Recorded:
        # the first of each key, in key order
        unique = sorted({e.key: e for e in reversed(events)}.values(), key=_key)
        letters = _count_by_key(dead_letters)

        async def work(raw: asyncpg.Connection) -> Recorded:
            recorded = Recorded(frozenset())
            if unique:
                recorded = await _apply(raw, unique)
            if letters:
                await _record_dead_letters(raw, letters)
            return recorded

        return await self._in_transaction(work)

    async def record_retry_request(self, request: RetryRequest) -> RetryRequest:
        async def work(raw: asyncpg.Connection) -> RetryRequest:
            await raw.execute(
                """INSERT INTO retry_requests (execution_id, attempt, failed_node_id,
                       workflow_id, user_id, requested_at, message_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
                request.execution_id,
                request.attempt,
                request.failed_node_id,
                request.workflow_id,
                request.user_id,
                request.requested_at,
                request.message_id,
            )
            row = await raw.fetchrow(RETRY_REQUEST, request.execution_id, request.attempt)
            return retry_request(row)

        return await self._in_transaction(work)

    async def mark_replayed(self, key: str, count: int, at: datetime) -> bool:
        status = await self._run(
            lambda raw: raw.execute(
                """UPDATE dead_letters SET replayed_at = $3, replays = replays + 1
                   WHERE key = $1 AND count = $2 AND replayed_at IS NULL""",
                key,
                count,
                at,
            )
        )
        return bool(status == "UPDATE 1")

    async def discard_dead_letter(self, key: str) -> bool:
        status = await self._run(
            lambda raw: raw.execute("DELETE FROM dead_letters WHERE key = $1", key)
        )
        return bool(status == "DELETE 1")


async def _insert_events(
    raw: asyncpg.Connection, events: Sequence[Event]
) -> tuple[frozenset[str], frozenset[str]]:
    """The keys of the events inserted, and the ids of the batch's executions that were
    pruned, whose events are left out. executions_pruned (migrations/0006) first waits for
    any pass deleting one of them: in the same statement, so at no extra round trip."""
    execution_ids = sorted({e.execution_id for e in events})
    rows = await raw.fetch(
        """WITH pruned AS (SELECT executions_pruned($2::text[]) AS ids),
                inserted AS (
                    INSERT INTO execution_events
                        (event_key, execution_id, subject, occurred_at, payload)
                    SELECT u.* FROM unnest($1::event_in[]) AS u
                    WHERE u.execution_id <> ALL ((SELECT ids FROM pruned)::text[])
                    ON CONFLICT (event_key) DO NOTHING RETURNING event_key)
           SELECT event_key, NULL AS pruned FROM inserted
           UNION ALL SELECT NULL, ids FROM pruned WHERE ids <> '{}'""",
        [event_record(e) for e in events],
        execution_ids,
    )
    pruned: frozenset[str] = frozenset()
    keys = []
    for row in rows:
        if row["pruned"] is None:
            keys.append(row["event_key"])
        else:
            pruned = frozenset(row["pruned"])
    return frozenset(keys), pruned


async def _apply(raw: asyncpg.Connection, batch: Sequence[Event]) -> Recorded:
    """`batch` is in key order: concurrent writers insert shared keys in the same order.

    While PostgreSQL inserts the events, Python folds the batch as if all of them were new
    (they usually are); if some were duplicates, it folds again without them."""
    inserting = asyncio.ensure_future(_insert_events(raw, batch))
    try:
        await asyncio.sleep(0)  # the insert is sent: fold meanwhile
        writes = _writes(batch)
        applied, pruned = await inserting
    finally:
        if not inserting.done():
            inserting.cancel()
    recorded = Recorded(applied, frozenset(e.key for e in batch if e.execution_id in pruned))
    if not applied:
        return recorded
    if len(applied) < len(batch):
        writes = _writes([e for e in batch if e.key in applied])
    for statement, arguments in writes:
        await raw.execute(statement, *arguments)
    return recorded


# Claim.running's columns (status, claim_rank, claim_stamp) for WRITE_EXECUTIONS' $4-$6.
_RUNNING = dict(zip(CLAIM_COLUMNS, claim_record(Claim.running(1), Stamps()), strict=True))
_RUNNING_COLUMNS = [_RUNNING["status"].value, _RUNNING["claim_rank"], _RUNNING["claim_stamp"]]


def _writes(events: Sequence[Event]) -> list[tuple[str, list[Any]]]:
    """The statements that join these events' state into the rows, with their arguments:
    node runs first, then executions, each in key order."""
    executions: dict[str, Execution] = {}
    node_runs: dict[NodeRunKey, NodeRun] = {}
    merge(executions, node_runs, events)
    stamps = Stamps()
    writes: list[tuple[str, list[Any]]] = []
    if node_runs:
        records = (
            node_run_record(node_run_id(key), node_runs[key], stamps) for key in sorted(node_runs)
        )
        writes.append((WRITE_NODE_RUNS, [_rows(records, NODE_RUN_IN)]))
    if executions:
        running: list[Execution] = []
        rest: list[tuple[Any, ...]] = []
        for execution_id in sorted(executions):
            state = executions[execution_id]
            if state.says_only_running:
                running.append(state)
            else:
                rest.append(execution_record(state, stamps))
        arguments: list[Any] = [
            _rows(rest, EXECUTION_IN),
            [e.id for e in running],
            [e.attempt for e in running],
            *_RUNNING_COLUMNS,
        ]
        writes.append((WRITE_EXECUTIONS, arguments))
    return writes


def _rows(records: Iterable[tuple[Any, ...]], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """Records as the row types node_run_in and execution_in take them: one array of rows per
    statement, which asyncpg encodes at half the cost of an array per column."""
    status = names.index("status")
    json_at = [i for i, name in enumerate(names) if name in JSON_COLUMNS]
    rows = []
    for record in records:
        row = list(record)
        row[status] = row[status].value
        for i in json_at:
            if row[i] is not None:
                row[i] = encode_json(row[i])
        rows.append(tuple(row))
    return rows


def _key(event: Event) -> str:
    return event.key


def _count_by_key(letters: Sequence[DeadLetter]) -> list[tuple[DeadLetter, int]]:
    counted: dict[str, tuple[DeadLetter, int]] = {}
    for letter in letters:
        _, seen = counted.get(letter.key, (letter, 0))
        counted[letter.key] = (letter, seen + 1)
    return sorted(counted.values(), key=lambda pair: pair[0].key)


async def _record_dead_letters(
    raw: asyncpg.Connection, letters: Sequence[tuple[DeadLetter, int]]
) -> None:
    # last_seen as for updated_at (upserts.py): never before first_seen
    await raw.execute(
        """INSERT INTO dead_letters (key, subject, payload, headers, reason, count)
           SELECT k, s, p, h::jsonb, r, n
           FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::int[])
                AS u(k, s, p, h, r, n)
           ON CONFLICT (key) DO UPDATE SET count = dead_letters.count + excluded.count,
               last_seen = greatest(clock_timestamp(), dead_letters.first_seen),
               reason = excluded.reason, replayed_at = NULL""",
        [d.key for d, _ in letters],
        [d.subject for d, _ in letters],
        [d.payload for d, _ in letters],
        [encode_json(dict(d.headers)) for d, _ in letters],
        [d.reason for d, _ in letters],
        [n for _, n in letters],
    )
