"""The event log on PostgreSQL: executions walked in id order, their events and rows read in
one snapshot (verify), and their rows replaced by the fold of their events (rebuild).

A replacement runs beside the recorder without pausing it. It takes each execution's advisory
lock (migrations/0006) exclusively, as a retention pass does, but waiting: the recorder holds
it shared from its state statement to its commit. So a batch of an execution either committed
before the lock was granted, and the events read after it (a new snapshot: READ COMMITTED)
include its events; or it joins its own state into the replaced rows after the replacement
commits. Either way the rows end as the fold of every event, since joining is idempotent.
While a chunk holds its locks, batches of those executions wait for it (tens of ms).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from execution_service.adapters.postgres.database import Connected
from execution_service.adapters.postgres.recorder import notices
from execution_service.adapters.postgres.rows import execution_rows, node_run_rows
from execution_service.adapters.postgres.upserts import CHANNEL, REPLACE_STATE
from execution_service.domain import (
    EXECUTION,
    NODE_RUN,
    Derived,
    Difference,
    LoggedEvent,
    Projection,
    RawMessage,
    Selection,
    Snapshot,
    Verification,
)

_EXECUTION_SLOTS = ", ".join(EXECUTION.slots)
_NODE_RUN_SLOTS = ", ".join(NODE_RUN.slots)
_EVENTS = """SELECT execution_id, event_key, subject, payload, recorded_at FROM execution_events
             WHERE execution_id = ANY($1::text[]) ORDER BY execution_id, seq"""


def logged(rows: Sequence[asyncpg.Record]) -> dict[str, list[LoggedEvent]]:
    """Event rows as logged events, by execution, as the history gives them (by seq)."""
    by_execution: dict[str, list[LoggedEvent]] = {}
    for r in rows:
        message = RawMessage(r["subject"], r["payload"], {"Nats-Msg-Id": r["event_key"]})
        by_execution.setdefault(r["execution_id"], []).append(
            LoggedEvent(message, r["recorded_at"])
        )
    return by_execution


class PostgresEventLog(Connected):
    async def execution_ids(
        self, selection: Selection, after: str | None, limit: int
    ) -> Sequence[str]:
        if selection.everything:
            return await self._run(lambda raw: _every_execution(raw, after, int(limit)))
        sql, values = _selected(selection, after)
        rows = await self._run(
            lambda raw: raw.fetch(f"{sql} ORDER BY id LIMIT {int(limit)}", *values)
        )
        return [r["id"] for r in rows]

    async def count(self, selection: Selection) -> int:
        sql, values = _selected(selection, None)
        if selection.everything:
            sql = "SELECT execution_id FROM execution_events UNION SELECT id FROM executions"
        return int(
            await self._run(lambda raw: raw.fetchval(f"SELECT count(*) FROM ({sql}) s", *values))
        )

    async def snapshot(self, execution_ids: Sequence[str]) -> Snapshot:
        ids = list(execution_ids)

        async def read(raw: asyncpg.Connection) -> Snapshot:
            async with raw.transaction(isolation="repeatable_read", readonly=True):
                events = logged(await raw.fetch(_EVENTS, ids))
                executions = await raw.fetch(
                    f"SELECT id, {_EXECUTION_SLOTS} FROM executions WHERE id = ANY($1::text[])",
                    ids,
                )
                runs = await raw.fetch(
                    f"""SELECT execution_id, node_id, attempt, {_NODE_RUN_SLOTS}
                        FROM execution_logs WHERE execution_id = ANY($1::text[])""",
                    ids,
                )
            stored = Projection(
                {r[0]: list(r[1:]) for r in executions},
                {(r[0], r[1], r[2]): list(r[3:]) for r in runs},
            )
            return Snapshot(events, stored)

        return await self._run(read)

    async def replace(
        self, execution_ids: Sequence[str], derive: Callable[[Sequence[LoggedEvent]], Derived]
    ) -> int:
        ids = sorted(set(execution_ids))

        async def work(raw: asyncpg.Connection) -> int:
            await raw.execute(
                "SELECT pg_advisory_xact_lock(1163087955, hashtext(i)) FROM unnest($1::text[]) i",
                ids,
            )
            # what retention deleted stays deleted: its events went with it
            live = await raw.fetchval(
                """SELECT ARRAY(SELECT i FROM unnest($1::text[]) i WHERE NOT EXISTS (
                       SELECT 1 FROM execution_tombstones t WHERE t.execution_id = i))""",
                ids,
            )
            events = logged(await raw.fetch(_EVENTS, live))
            if not events:
                return 0
            derived = derive([e for x in sorted(events) for e in events[x]])
            changed = await raw.fetchval(REPLACE_STATE, *_replacement(derived, sorted(events)))
            if changed:
                await raw.execute(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) p", CHANNEL, notices(changed)
                )
            return len(changed)

        return await self._in_transaction(work)

    async def recount(self) -> None:
        async def work(raw: asyncpg.Connection) -> None:
            # Waits for every writer that has counted an execution and not committed; one whose
            # count comes later adds it to the figure made here (migrations/0002's triggers).
            await raw.execute("LOCK TABLE execution_counts IN SHARE ROW EXCLUSIVE MODE")
            await raw.execute(
                """UPDATE execution_counts c SET n = s.n FROM (
                       SELECT c.status, count(x.id) AS n FROM execution_counts c
                       LEFT JOIN executions x ON x.status = c.status GROUP BY c.status) s
                   WHERE c.status = s.status AND c.n <> s.n"""
            )

        await self._in_transaction(work)

    async def count_differences(self) -> list[Difference]:
        rows = await self._run(
            lambda raw: raw.fetch(
                """SELECT c.status, c.n AS stored, count(x.id) AS counted
                   FROM execution_counts c LEFT JOIN executions x ON x.status = c.status
                   GROUP BY c.status, c.n HAVING c.n <> count(x.id) ORDER BY c.status"""
            )
        )
        return [
            Difference("(all)", "execution_counts", r["status"], r["stored"], r["counted"])
            for r in rows
        ]

    async def save_verification(self, verification: Verification) -> None:
        await self._run(
            lambda raw: raw.execute(
                """INSERT INTO verifications
                       (started_at, finished_at, executions, differences, sample)
                   VALUES ($1, $2, $3, $4, $5)""",
                verification.started_at,
                verification.finished_at,
                verification.executions,
                verification.differences,
                verification.sample,
            )
        )

    async def last_verification(self) -> Verification | None:
        row = await self._run(
            lambda raw: raw.fetchrow(
                """SELECT started_at, finished_at, executions, differences, sample
                   FROM verifications ORDER BY id DESC LIMIT 1"""
            )
        )
        return None if row is None else Verification(**dict(row))


async def _every_execution(raw: asyncpg.Connection, after: str | None, limit: int) -> list[str]:
    """Those with events and those with a row, merged: each list read in its key's order and
    cut where the shorter full one ends, so nothing past what both have read is claimed."""
    start = "" if after is None else after
    logged_ids = [
        r[0]
        for r in await raw.fetch(
            f"""SELECT DISTINCT execution_id FROM execution_events WHERE execution_id > $1
                ORDER BY 1 LIMIT {limit}""",
            start,
        )
    ]
    stored_ids = [
        r[0]
        for r in await raw.fetch(
            f"SELECT id FROM executions WHERE id > $1 ORDER BY id LIMIT {limit}", start
        )
    ]
    merged = sorted({*logged_ids, *stored_ids})
    for full in (logged_ids, stored_ids):
        if len(full) == limit:
            merged = [x for x in merged if x <= full[-1]]
    return merged[:limit]


def _selected(selection: Selection, after: str | None) -> tuple[str, list[Any]]:
    """The selection's executions as `SELECT id …`, every condition ANDed."""
    values: list[Any] = []
    terms: list[str] = []

    def value(v: Any) -> str:
        values.append(v)
        return f"${len(values)}"

    if selection.execution_ids:
        source = (
            f"SELECT DISTINCT id FROM unnest({value(sorted(selection.execution_ids))}::text[]) id"
        )
    elif selection.workflow_id is not None:
        source = "SELECT id FROM executions"
    else:
        source = "SELECT DISTINCT execution_id AS id FROM execution_events"
    if selection.workflow_id is not None:
        terms.append(
            f"id IN (SELECT id FROM executions WHERE workflow_id = {value(selection.workflow_id)})"
        )
    if selection.since is not None:
        terms.append(
            f"""EXISTS (SELECT 1 FROM execution_events e WHERE e.execution_id = s.id
                        AND e.recorded_at >= {value(selection.since)})"""
        )
    if after is not None:
        terms.append(f"id > {value(after)}")
    where = " AND ".join(terms) or "true"
    return f"SELECT id FROM ({source}) s WHERE {where}", values


def _replacement(derived: Derived, ids: list[str]) -> list[Any]:
    """REPLACE_STATE's parameters: the rows, and the times their first and last events were
    recorded (a row rebuilt from nothing was first heard of then, and last changed then)."""
    projection = derived.projection
    runs = sorted(projection.node_runs.items())
    executions = sorted(projection.executions.items())
    return [
        node_run_rows(runs),
        [derived.first[k] for k, _ in runs],
        [derived.last[k] for k, _ in runs],
        execution_rows(executions),
        [derived.first[k] for k, _ in executions],
        [derived.last[k] for k, _ in executions],
        ids,
    ]
