"""The query side on PostgreSQL: views, pages, history, dead letters and retry requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import attrs

from execution_service.adapters.postgres.database import Connected
from execution_service.domain import (
    DeadLetter,
    ExecutionFilter,
    ExecutionView,
    NodeCounts,
    NodeRunView,
    Page,
    Paged,
    RawMessage,
    RetryRequest,
    Status,
)

# What readers see: the columns, without the provenance only merging needs.
_EXECUTION_COLUMNS = (
    "id, workflow_id, user_id, status, attempt, started_at, completed_at, duration, error,"
    " input, output, metadata, retry_of, created_at, updated_at"
)
_NODE_RUN_COLUMNS = (
    "id::text AS id, execution_id, node_id, attempt, node_type, node_name, status, input,"
    " output, error, started_at, completed_at, duration, created_at, updated_at"
)
RETRY_REQUEST = "SELECT * FROM retry_requests WHERE execution_id = $1 AND attempt = $2"
# Node counts: distinct nodes, each by its run of the highest attempt.
_COUNTS = """
    LEFT JOIN LATERAL (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'RUNNING') AS running,
               count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
               count(*) FILTER (WHERE status = 'FAILED') AS failed
        FROM (SELECT DISTINCT ON (node_id) status FROM execution_logs l
              WHERE l.execution_id = e.id ORDER BY node_id DESC, attempt DESC) latest
    ) c ON true
"""


class PostgresQueries(Connected):
    async def execution(self, execution_id: str) -> ExecutionView | None:
        row = await self._run(
            lambda raw: raw.fetchrow(
                f"""SELECT e.*, c.* FROM (SELECT {_EXECUTION_COLUMNS} FROM executions
                    WHERE id = $1) e {_COUNTS}""",
                execution_id,
            )
        )
        return None if row is None else _execution_view(row)

    async def executions(
        self, page: Page, where: ExecutionFilter = ExecutionFilter()
    ) -> Paged[ExecutionView]:
        # Only the conditions given, so each combination gets a plan that uses its index.
        given = [
            (column, value)
            for column, value in (
                ("status", where.status.value if where.status else None),
                ("workflow_id", where.workflow_id),
                ("user_id", where.user_id),
            )
            if value is not None
        ]
        values = [value for _, value in given]

        def condition(first: int) -> str:
            terms = [f"{column} = ${i}" for i, (column, _) in enumerate(given, first)]
            return "WHERE " + " AND ".join(terms) if terms else ""

        if all(column == "status" for column, _ in given):
            # exact, kept by triggers: no scan of every execution per page
            count = f"SELECT coalesce(sum(n), 0)::bigint FROM execution_counts {condition(1)}"
        else:
            count = f"SELECT count(*) FROM executions {condition(1)}"

        async def work(raw: asyncpg.Connection) -> Paged[ExecutionView]:
            # one round trip: the total, joined to the page (one row of NULLs past the end)
            rows = await raw.fetch(
                f"""SELECT t.n AS listed, p.* FROM ({count}) t (n) LEFT JOIN (
                        SELECT e.*, c.* FROM (
                            SELECT {_EXECUTION_COLUMNS} FROM executions {condition(1)}
                            ORDER BY started_at DESC NULLS LAST, id DESC {_limit(page)}
                        ) e {_COUNTS}
                    ) p ON true
                    ORDER BY p.started_at DESC NULLS LAST, p.id DESC""",
                *values,
            )
            items = [_execution_view(r) for r in rows if r["id"] is not None]
            return Paged(items, rows[0]["listed"], page)

        return await self._run(work)

    async def node_runs(self, execution_id: str, page: Page) -> Paged[NodeRunView]:
        async def work(raw: asyncpg.Connection) -> Paged[NodeRunView]:
            total = await raw.fetchval(
                "SELECT count(*) FROM execution_logs WHERE execution_id = $1", execution_id
            )
            rows = await raw.fetch(
                f"""SELECT {_NODE_RUN_COLUMNS} FROM execution_logs WHERE execution_id = $1
                    ORDER BY started_at ASC NULLS LAST, node_id, attempt {_limit(page)}""",
                execution_id,
            )
            return Paged([_node_run_view(r) for r in rows], total, page)

        return await self._run(work)

    async def failed_node(self, execution_id: str, attempt: int) -> str | None:
        return await self._run(
            lambda raw: raw.fetchval(
                """SELECT node_id FROM execution_logs
                   WHERE execution_id = $1 AND attempt = $2 AND status = 'FAILED'
                   ORDER BY completed_at ASC NULLS LAST, node_id LIMIT 1""",
                execution_id,
                attempt,
            )
        )

    async def history(self, execution_id: str) -> Sequence[RawMessage]:
        rows = await self._run(
            lambda raw: raw.fetch(
                """SELECT event_key, subject, payload FROM execution_events
                   WHERE execution_id = $1 ORDER BY seq""",
                execution_id,
            )
        )
        return [
            RawMessage(r["subject"], r["payload"], {"Nats-Msg-Id": r["event_key"]}) for r in rows
        ]

    async def dead_letters(self, page: Page) -> Paged[DeadLetter]:
        async def work(raw: asyncpg.Connection) -> Paged[DeadLetter]:
            total = await raw.fetchval("SELECT count(*) FROM dead_letters")
            rows = await raw.fetch(
                f"""SELECT * FROM dead_letters ORDER BY last_seen DESC, key DESC {_limit(page)}"""
            )
            return Paged([DeadLetter(**dict(r)) for r in rows], total, page)

        return await self._run(work)

    async def retry_request(self, execution_id: str, attempt: int) -> RetryRequest | None:
        row = await self._run(lambda raw: raw.fetchrow(RETRY_REQUEST, execution_id, attempt))
        return None if row is None else retry_request(row)

    async def retry_requests(self, execution_id: str) -> Sequence[RetryRequest]:
        rows = await self._run(
            lambda raw: raw.fetch(
                "SELECT * FROM retry_requests WHERE execution_id = $1 ORDER BY attempt",
                execution_id,
            )
        )
        return [retry_request(r) for r in rows]


def _limit(page: Page) -> str:
    """LIMIT and OFFSET written in: as $n parameters, PostgreSQL can't plan them once (its
    generic plan guesses a tenth of the table), so it planned every request anew — most of
    the list's cost in the database."""
    return f"LIMIT {int(page.limit)} OFFSET {int(page.offset)}"


def _names(cls: type[Any], computed: Sequence[str]) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(cls) if f.name not in computed)


_EXECUTION_VIEW = _names(ExecutionView, ("status", "nodes"))
_NODE_RUN_VIEW = _names(NodeRunView, ("status",))


def _execution_view(row: Mapping[str, Any]) -> ExecutionView:
    """A view from the columns of the same names (they hold what the fold computed)."""
    counts = NodeCounts(
        total=row["total"] or 0,
        running=row["running"] or 0,
        completed=row["completed"] or 0,
        failed=row["failed"] or 0,
    )
    values = {name: row[name] for name in _EXECUTION_VIEW}
    return ExecutionView(status=Status(row["status"]), nodes=counts, **values)


def _node_run_view(row: Mapping[str, Any]) -> NodeRunView:
    values = {name: row[name] for name in _NODE_RUN_VIEW}
    return NodeRunView(status=Status(row["status"]), **values)


def retry_request(row: Mapping[str, Any]) -> RetryRequest:
    return RetryRequest(**{k: v for k, v in dict(row).items() if k != "message_id"})
