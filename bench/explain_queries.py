"""EXPLAIN (ANALYZE, BUFFERS) of the API's common queries, as the PostgreSQL adapter sends
them, over N executions (default 1M) with two node runs and three events each, seeded in SQL
in seconds: the index behind each filter and sort (migrations 0001, 0007), one execution's
history (the event log's key, 0008), and every statement of a pruning pass as it runs.

    ./pants run bench/explain_queries.py -- --executions 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg

from execution_service.adapters.postgres import PostgresPruner, PostgresQueries, create_database
from execution_service.domain import (
    Cutoffs,
    ExecutionFilter,
    ExecutionOrder,
    NodeRunFilter,
    Page,
    Position,
    Status,
)
from support.postgres import fresh_database

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)

# One in 100 starts unknown; one in 7 FAILED, one in 11 RUNNING; updated some seconds after.
SEED = """
INSERT INTO executions (id, workflow_id, user_id, status, started_at, completed_at, input,
                        claim_precedence, workflow_id_precedence, user_id_precedence,
                        started_at_precedence, input_precedence, metadata_precedence,
                        retry_of_precedence, created_at, updated_at)
SELECT 'exec-' || lpad(n::text, 7, '0'), 'wf-' || n % 50, 'u-' || n % 1000,
       CASE WHEN n % 7 = 0 THEN 'FAILED' WHEN n % 11 = 0 THEN 'RUNNING' ELSE 'COMPLETED' END,
       CASE WHEN n % 100 = 0 THEN NULL ELSE $2::timestamptz + n * interval '1 second' END,
       $2::timestamptz + n * interval '1 second' + interval '90 ms', '{"prompt": "hi"}',
       '\\x0000000101', '', '', '', '', '', '', $2::timestamptz + n * interval '1 second',
       $2::timestamptz + n * interval '1 second' + (n % 977) * interval '1 second'
FROM generate_series(0, $1 - 1) n;
"""
# Three events an execution (its history): the key is the execution's and the node's.
SEED_EVENTS = """
INSERT INTO execution_events (event_key, execution_id, subject, payload)
SELECT e.id || '/' || k, e.id, 'execution.node.started', '{}'::bytea
FROM executions e CROSS JOIN generate_series(1, 3) k;
"""
SEED_LOGS = """
INSERT INTO execution_logs (execution_id, node_id, attempt, node_type, status, started_at,
                            claim_precedence, node_type_precedence, node_name_precedence,
                            input_precedence, started_at_precedence, created_at, updated_at)
SELECT e.id, node, 1, 'agent',
       CASE WHEN node = 'write' AND e.status = 'FAILED' THEN 'FAILED' ELSE 'COMPLETED' END,
       e.started_at, '\\x0000000101', '', '', '', '', e.created_at, e.updated_at
FROM executions e CROSS JOIN (VALUES ('plan'), ('write')) nodes (node);
"""


class _Spy:
    """An asyncpg connection that notes each query it runs."""

    def __init__(self, raw: asyncpg.Connection, seen: list[tuple[str, tuple[Any, ...]]]) -> None:
        self._raw, self._seen = raw, seen

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._raw, name)

        async def noted(sql: str, *args: Any) -> Any:
            self._seen.append((sql, args))
            return await method(sql, *args)

        return noted


class NotedQueries(PostgresQueries):
    seen: list[tuple[str, tuple[Any, ...]]] = []

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await super()._run(lambda raw: work(_Spy(raw, self.seen)))  # type: ignore[arg-type]


class _Explaining:
    """An asyncpg connection that, before each statement that reads or writes a table, prints
    the plan it runs with (EXPLAIN ANALYZE, rolled back), then runs it as asked."""

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._raw, name)
        if name not in ("execute", "fetch", "fetchval", "fetchrow"):
            return method

        async def explained(sql: str, *args: Any) -> Any:
            if " FROM " in sql.upper() or sql.lstrip().upper().startswith("INSERT"):
                nested = self._raw.is_in_transaction()
                await self._raw.execute("SAVEPOINT explain" if nested else "BEGIN")
                plan = await self._raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
                await self._raw.execute("ROLLBACK TO explain" if nested else "ROLLBACK")
                print(f"\n=== pruning: {' '.join(sql.split())[:110]}")
                print("\n".join(row[0] for row in plan))
            return await method(sql, *args)

        return explained


class ExplainedPruner(PostgresPruner):
    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await super()._run(lambda raw: work(_Explaining(raw)))  # type: ignore[arg-type]


async def main(executions: int) -> None:
    with fresh_database() as url:
        conn = await asyncpg.connect(**url.connect_kwargs())
        started = time.monotonic()
        await conn.execute(SEED, executions, T0)
        await conn.execute(SEED_LOGS)
        await conn.execute(SEED_EVENTS)
        await conn.execute("ANALYZE")
        print(f"seeded {executions} executions, {2 * executions} node runs,"
              f" {3 * executions} events"
              f" in {time.monotonic() - started:.0f} s")  # fmt: skip
        database = create_database(url)
        await database.connect()
        queries = NotedQueries(database)
        last = executions - 1
        deep = Position(T0 + timedelta(seconds=11), "exec-0000011")  # ten rows from the end
        newest, oldest = ExecutionOrder.NEWEST_STARTED, ExecutionOrder.OLDEST_STARTED
        updated = ExecutionOrder.LAST_UPDATED
        failed = ExecutionFilter(statuses={Status.FAILED})
        window = ExecutionFilter(
            started_after=T0 + timedelta(days=3), started_before=T0 + timedelta(days=4)
        )
        after, page, every = queries.executions_after, queries.executions, ExecutionFilter()
        some = ExecutionFilter(statuses={Status.FAILED, Status.RUNNING})
        oldest_deep = Position(T0 + timedelta(seconds=last - 11), "exec-9999999")
        updated_deep = Position(T0 + timedelta(seconds=20), "exec-0000010")
        one_workflow = ExecutionFilter(workflow_id="wf-7")
        logs = NodeRunFilter(statuses={Status.FAILED}, node_id="write", attempt=1)
        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("page 1 (page=1&limit=10)", lambda: page(Page(1, 10))),
            ("last page by OFFSET", lambda: page(Page(-(-executions // 10), 10))),
            ("cursor page 1", lambda: after(every, newest, None, 11)),
            ("cursor, last page", lambda: after(every, newest, deep, 11)),
            ("status=FAILED, cursor page 1", lambda: after(failed, newest, None, 11)),
            ("status=FAILED, page 1 with total", lambda: page(Page(1, 10), failed)),
            ("status=FAILED,RUNNING cursor page 1", lambda: after(some, newest, None, 11)),
            ("startedAfter/Before (a day), cursor", lambda: after(window, newest, None, 11)),
            ("startedAfter/Before (a day), page 1, total", lambda: page(Page(1, 10), window)),
            ("workflowId, page 1 with total", lambda: page(Page(1, 10), one_workflow)),
            ("sort=startedAt, cursor deep", lambda: after(every, oldest, oldest_deep, 11)),
            ("sort=-updatedAt, cursor deep", lambda: after(every, updated, updated_deep, 11)),
            ("logs ?status=FAILED&nodeId=write&attempt=1", lambda: queries.node_runs(
                "exec-0000007", Page(1, 100), logs)),
            ("history (/events, in seq order)", lambda: queries.history("exec-0000007")),
        ]  # fmt: skip
        for title, call in cases:
            queries.seen.clear()
            await call()
            for sql, args in list(queries.seen):
                plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
                print(f"\n=== {title}")
                print("\n".join(row[0] for row in plan))
        # a pass over the ten oldest finished executions: every statement it writes with
        before = Cutoffs(executions_finished_before=T0 + timedelta(seconds=11, milliseconds=100),
                         tombstones_before=T0 + timedelta(days=1))  # fmt: skip
        pruned = await ExplainedPruner(database).prune(before)
        print(f"\npruned: {pruned}")
        await database.disconnect()
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().executions))
