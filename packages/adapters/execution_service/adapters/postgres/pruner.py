"""Retention on PostgreSQL: one pass deletes what is older than the cutoffs, in transactions
of at most about `max_rows` rows each, and takes no lock that holds up recording.

- Only one pass runs at a time, whichever replica runs it: a session advisory lock on the
  connection the pass runs on, released at its end (the pool keeps no session state).
- Executions go a batch per transaction, oldest finished first. The batch's execution
  advisory locks are taken without waiting (migrations/0006): an execution a batch is
  recording right now is skipped until the next pass. Holding them, the pass re-reads each
  execution under its row lock (a late event may have started a new attempt), deletes its
  node runs, events and retry requests, then the execution, and leaves a tombstone, in one
  transaction. The recorder waits on those locks, then sees the tombstone.
- An execution whose trace still waits for export (migrations/0009) is kept until it finished
  before the cutoff for waiting traces; its outbox rows go with it, those waiting counted as
  dropped traces.
- The number of executions per batch follows the rows each deleted in the previous one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from execution_service.adapters.postgres.database import Connected, Database
from execution_service.domain import Cutoffs, Pruned

PASS_LOCK = 4_995_464_273_590_000_006  # one bigint: not the executions' (int, int) key space
_FINISHED = "status IN ('COMPLETED', 'FAILED', 'CANCELLED')"  # executions_finished's predicate
# A retry requested for a later attempt: the orchestrator is resuming it, so it is not done.
_NOT_AWAITING_RETRY = """NOT EXISTS (SELECT 1 FROM retry_requests r
    WHERE r.execution_id = executions.id AND r.attempt > executions.attempt)"""
_NEVER = datetime(1, 1, 1, tzinfo=UTC)


class PostgresPruner(Connected):
    def __init__(self, database: Database, max_rows: int = 4000) -> None:
        super().__init__(database)
        self._max_rows = max_rows

    async def prune(self, cutoffs: Cutoffs, dry_run: bool = False) -> Pruned | None:
        if dry_run:
            return await self._run(lambda raw: _would_prune(raw, cutoffs))

        async def one_pass(raw: asyncpg.Connection) -> Pruned | None:
            if not await raw.fetchval("SELECT pg_try_advisory_lock($1)", PASS_LOCK):
                return None
            try:
                return await self._pass(raw, cutoffs)
            finally:
                try:
                    await raw.execute("SELECT pg_advisory_unlock($1)", PASS_LOCK)
                except BaseException:
                    raw.terminate()  # never back to the pool with the lock held
                    raise

        return await self._run(one_pass)

    async def _pass(self, raw: asyncpg.Connection, cutoffs: Cutoffs) -> Pruned:
        pruned = Pruned()
        if cutoffs.tombstones_before is not None:
            n = await _delete_tombstones(raw, cutoffs.tombstones_before, self._max_rows)
            pruned += Pruned(tombstones=n)
        if cutoffs.executions_finished_before is not None:
            pruned += await self._prune_executions(raw, cutoffs)
        if cutoffs.dead_letters_seen_before is not None:
            n = await _delete_oldest(
                raw, "dead_letters", "key", "last_seen",
                cutoffs.dead_letters_seen_before, self._max_rows,
            )  # fmt: skip
            pruned += Pruned(dead_letters=n)
        return pruned

    async def _prune_executions(self, raw: asyncpg.Connection, cutoffs: Cutoffs) -> Pruned:
        before = cutoffs.executions_finished_before
        assert before is not None
        total = Pruned()
        after: tuple[datetime, str] = (_NEVER, "")
        limit = max(1, self._max_rows // 100)
        while True:
            async with raw.transaction():
                candidates = await raw.fetch(
                    f"""SELECT completed_at, id FROM executions
                        WHERE {_FINISHED} AND completed_at < $1 AND (completed_at, id) > ($2, $3)
                        ORDER BY completed_at, id LIMIT $4""",
                    before,
                    *after,
                    limit,
                )
                if not candidates:
                    return total
                after = (candidates[-1]["completed_at"], candidates[-1]["id"])
                batch = await _delete_executions(
                    raw, [r["id"] for r in candidates], before, cutoffs.waiting_traces_before
                )
            total += batch
            rows = sum(batch.as_dict().values())
            if batch.executions:
                per_execution = max(1, rows // batch.executions)
                limit = max(1, min(self._max_rows, self._max_rows // per_execution))


def _no_waiting_trace(param: str) -> str:
    """An execution with no trace waiting for export, or one finished before the cutoff for
    waiting traces (NULL: waiting traces keep nothing)."""
    return f"""({param}::timestamptz IS NULL OR completed_at < {param} OR NOT EXISTS (
        SELECT 1 FROM trace_outbox o WHERE o.execution_id = executions.id
            AND o.exported_at IS NULL))"""


async def _delete_executions(
    raw: asyncpg.Connection,
    ids: list[str],
    before: datetime,
    waiting_before: datetime | None = None,
) -> Pruned:
    free = await raw.fetchval("SELECT executions_free_to_prune($1::text[])", ids)
    if not free:
        return Pruned()
    # Under the row lock: still finished long enough ago (a late event may have restarted it).
    doomed = await raw.fetchval(
        f"""SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM (
                SELECT id FROM executions WHERE id = ANY ($1::text[]) AND {_FINISHED}
                  AND completed_at < $2 AND {_NOT_AWAITING_RETRY} AND {_no_waiting_trace("$3")}
                ORDER BY id FOR UPDATE) locked""",
        free,
        before,
        waiting_before,
    )
    if not doomed:
        return Pruned()
    counts = []
    for table in ("execution_logs", "execution_events", "retry_requests", "executions"):
        key = "id" if table == "executions" else "execution_id"
        status = await raw.execute(f"DELETE FROM {table} WHERE {key} = ANY ($1::text[])", doomed)
        counts.append(_rows(status))
    dropped = await raw.fetchval(
        """WITH gone AS (DELETE FROM trace_outbox WHERE execution_id = ANY ($1::text[])
                         RETURNING exported_at)
           SELECT count(*) FROM gone WHERE exported_at IS NULL""",
        doomed,
    )
    await raw.execute(
        """INSERT INTO execution_tombstones (execution_id) SELECT unnest($1::text[])
           ON CONFLICT (execution_id) DO UPDATE SET pruned_at = excluded.pruned_at""",
        doomed,
    )
    node_runs, events, retries, executions = counts
    return Pruned(executions, node_runs, events, retries, traces_dropped=dropped)


async def _delete_tombstones(raw: asyncpg.Connection, before: datetime, limit: int) -> int:
    """Tombstones older than `before`, a transaction per `limit`: each under its execution's
    lock, taken without waiting (a batch recording that execution keeps its tombstone for the
    next pass), and with the tombstone generation moved on, so that no writer goes on trusting
    what it knew of an execution whose tombstone is gone (recorder.py KnownExecutions)."""
    deleted = 0
    while True:
        async with raw.transaction():
            status = await raw.execute(
                """WITH oldest AS MATERIALIZED (
                       SELECT execution_id FROM execution_tombstones WHERE pruned_at < $1
                       ORDER BY pruned_at LIMIT $2 FOR UPDATE SKIP LOCKED),
                   free AS MATERIALIZED (
                       SELECT execution_id FROM oldest
                       WHERE pg_try_advisory_xact_lock(1163087955, hashtext(execution_id)))
                   DELETE FROM execution_tombstones
                   WHERE execution_id IN (SELECT execution_id FROM free)""",
                before,
                limit,
            )
            n = _rows(status)
            if n:
                await raw.execute("SELECT nextval('tombstone_generation')")
        deleted += n
        if n < limit:
            return deleted


async def _delete_oldest(
    raw: asyncpg.Connection, table: str, key: str, stamp: str, before: datetime, limit: int
) -> int:
    """Rows of a table without dependents, oldest first, a transaction per `limit`; a row
    being written now is skipped, not waited for."""
    deleted = 0
    while True:
        status = await raw.execute(
            f"""DELETE FROM {table} WHERE {key} IN (
                    SELECT {key} FROM {table} WHERE {stamp} < $1 ORDER BY {stamp}
                    LIMIT $2 FOR UPDATE SKIP LOCKED)""",
            before,
            limit,
        )
        n = _rows(status)
        deleted += n
        if n < limit:
            return deleted


async def _would_prune(raw: asyncpg.Connection, cutoffs: Cutoffs) -> Pruned:
    row = await raw.fetchrow(
        f"""WITH doomed AS MATERIALIZED (
                SELECT id FROM executions
                WHERE {_FINISHED} AND completed_at < $1 AND {_NOT_AWAITING_RETRY}
                  AND {_no_waiting_trace("$4")})
            SELECT (SELECT count(*) FROM doomed) AS executions,
                   (SELECT count(*) FROM execution_logs
                    WHERE execution_id IN (SELECT id FROM doomed)) AS node_runs,
                   (SELECT count(*) FROM execution_events
                    WHERE execution_id IN (SELECT id FROM doomed)) AS events,
                   (SELECT count(*) FROM retry_requests
                    WHERE execution_id IN (SELECT id FROM doomed)) AS retry_requests,
                   (SELECT count(*) FROM dead_letters WHERE last_seen < $2) AS dead_letters,
                   (SELECT count(*) FROM execution_tombstones WHERE pruned_at < $3)
                       AS tombstones,
                   (SELECT count(*) FROM trace_outbox WHERE exported_at IS NULL
                    AND execution_id IN (SELECT id FROM doomed)) AS traces_dropped""",
        cutoffs.executions_finished_before,
        cutoffs.dead_letters_seen_before,
        cutoffs.tombstones_before,
        cutoffs.waiting_traces_before,
    )
    return Pruned(**dict(row))


def _rows(status: str) -> int:
    """The row count of a command tag such as "DELETE 42"."""
    return int(status.rsplit(" ", 1)[-1])
