"""The query side on PostgreSQL: views, pages, history, dead letters and retry requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from execution_service.adapters.postgres.database import Connected
from execution_service.domain import (
    DeadLetter,
    DeadLetterFilter,
    ExecutionFilter,
    ExecutionOrder,
    ExecutionView,
    LoggedEvent,
    NodeCounts,
    NodeRunFilter,
    NodeRunView,
    NotSettled,
    Page,
    Paged,
    Position,
    RawMessage,
    RetryRequest,
    stored_message,
)

# What readers see: the columns, without the precedences only merging needs.
# xmin: the transaction that wrote the row's current version, new with every change
_EXECUTION_COLUMNS = (
    "id, workflow_id, user_id, status, attempt, started_at, completed_at, reported_duration,"
    " error, input, output, metadata, retry_of, created_at, updated_at, xmin::text AS version"
)
_NODE_RUN_COLUMNS = (
    "execution_id, node_id, attempt, node_type, node_name, status, input, output, error,"
    " started_at, completed_at, reported_duration, created_at, updated_at"
)
# Events are recorded at their transaction's start (now()). A moment before the start of every
# transaction still open on the database, and before this one, can gain no event: transactions
# yet to begin start later. Any client transaction counts (which of them may write events is
# not known here); seeing other roles' sessions needs the same role or pg_read_all_stats.
_SETTLED = """SELECT least(clock_timestamp(), (
    SELECT min(xact_start) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND backend_type = 'client backend'))"""
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
        self,
        page: Page,
        where: ExecutionFilter = ExecutionFilter(),
        order: ExecutionOrder = ExecutionOrder.NEWEST_STARTED,
    ) -> Paged[ExecutionView]:
        terms, values = _conditions(where)
        condition = "WHERE " + " AND ".join(terms) if terms else ""
        if where.workflow_id is None and where.user_id is None and not _windowed(where):
            # exact, kept by triggers: no scan of every execution per page
            count = f"SELECT coalesce(sum(n), 0)::bigint FROM execution_counts {condition}"
        else:
            count = f"SELECT count(*) FROM executions {condition}"

        async def work(raw: asyncpg.Connection) -> Paged[ExecutionView]:
            # one round trip: the total, joined to the page (one row of NULLs past the end)
            rows = await raw.fetch(
                f"""SELECT t.n AS listed, p.* FROM ({count}) t (n) LEFT JOIN (
                        SELECT e.*, c.* FROM (
                            SELECT {_EXECUTION_COLUMNS} FROM executions {condition}
                            ORDER BY {_order_by(order)} {_limit(page)}
                        ) e {_COUNTS}
                    ) p ON true
                    ORDER BY {_order_by(order, "p.")}""",
                *values,
            )
            items = [_execution_view(r) for r in rows if r["id"] is not None]
            return Paged(items, rows[0]["listed"], page)

        return await self._run(work)

    async def executions_after(
        self, where: ExecutionFilter, order: ExecutionOrder, after: Position | None, limit: int
    ) -> Sequence[ExecutionView]:
        keyset = _keyset(order, where, after, int(limit))
        if keyset is None:
            return []
        sql, values = keyset
        rows = await self._run(
            lambda raw: raw.fetch(
                f"SELECT e.*, c.* FROM ({sql}) e {_COUNTS} ORDER BY e.part, e.ord", *values
            )
        )
        return [_execution_view(r) for r in rows]

    async def node_runs(
        self, execution_id: str, page: Page, where: NodeRunFilter = NodeRunFilter()
    ) -> Paged[NodeRunView]:
        # One execution's runs are few: the in-order index finds them, the rest is a filter.
        terms: list[str] = ["execution_id = $1"]
        values: list[Any] = [execution_id]
        if where.statuses:
            values.append(sorted(s.value for s in where.statuses))
            terms.append(f"status = ANY(${len(values)}::text[])")
        if where.node_id is not None:
            values.append(where.node_id)
            terms.append(f"node_id = ${len(values)}")
        if where.attempt is not None:
            values.append(where.attempt)
            terms.append(f"attempt = ${len(values)}")
        condition = " AND ".join(terms)

        async def work(raw: asyncpg.Connection) -> Paged[NodeRunView]:
            total = await raw.fetchval(
                f"SELECT count(*) FROM execution_logs WHERE {condition}", *values
            )
            rows = await raw.fetch(
                f"""SELECT {_NODE_RUN_COLUMNS} FROM execution_logs WHERE {condition}
                    ORDER BY started_at ASC NULLS LAST, node_id, attempt {_limit(page)}""",
                *values,
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
                """SELECT event_key, subject, payload, traceparent FROM execution_events
                   WHERE execution_id = $1 ORDER BY seq""",
                execution_id,
            )
        )
        return [stored_message(*r) for r in rows]

    async def logged(self, execution_id: str, until: datetime) -> Sequence[LoggedEvent]:
        async def work(raw: asyncpg.Connection) -> Sequence[LoggedEvent]:
            # Its own statement, before the read: the read's snapshot, taken after, then holds
            # every write that began before the horizon.
            horizon = await raw.fetchval(_SETTLED)
            if until >= horizon:
                raise NotSettled(
                    f"writes that began at {horizon.isoformat()} are still in flight; "
                    "what was known at a later moment is not final yet"
                )
            rows = await raw.fetch(
                """SELECT execution_id, event_key, subject, payload, recorded_at
                   FROM execution_events WHERE execution_id = $1 AND recorded_at <= $2
                   ORDER BY seq""",
                execution_id,
                until,
            )
            return [
                LoggedEvent(
                    RawMessage(r["subject"], r["payload"], {"Nats-Msg-Id": r["event_key"]}),
                    r["recorded_at"],
                )
                for r in rows
            ]

        return await self._run(work)

    async def dead_letters(
        self, page: Page, where: DeadLetterFilter = DeadLetterFilter()
    ) -> Paged[DeadLetter]:
        terms: list[str] = []
        values: list[Any] = []
        if where.subject is not None:
            values.append(where.subject)
            terms.append(f"subject = ${len(values)}")
        if where.replayed is not None:
            terms.append(f"replayed_at IS {'NOT ' if where.replayed else ''}NULL")
        condition = "WHERE " + " AND ".join(terms) if terms else ""

        async def work(raw: asyncpg.Connection) -> Paged[DeadLetter]:
            total = await raw.fetchval(f"SELECT count(*) FROM dead_letters {condition}", *values)
            rows = await raw.fetch(
                f"""SELECT * FROM dead_letters {condition}
                    ORDER BY last_seen DESC, key DESC {_limit(page)}""",
                *values,
            )
            return Paged([DeadLetter(**dict(r)) for r in rows], total, page)

        return await self._run(work)

    async def dead_letter(self, key: str) -> DeadLetter | None:
        row = await self._run(
            lambda raw: raw.fetchrow("SELECT * FROM dead_letters WHERE key = $1", key)
        )
        return None if row is None else DeadLetter(**dict(row))

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


def _order_by(order: ExecutionOrder, table: str = "") -> str:
    return {
        ExecutionOrder.NEWEST_STARTED: "{t}started_at DESC NULLS LAST, {t}id DESC",
        ExecutionOrder.OLDEST_STARTED: "{t}started_at ASC NULLS LAST, {t}id ASC",
        ExecutionOrder.LAST_UPDATED: "{t}updated_at DESC, {t}id DESC",
    }[order].format(t=table)


def _windowed(where: ExecutionFilter) -> bool:
    return where.started_after is not None or where.started_before is not None


def _conditions(where: ExecutionFilter) -> tuple[list[str], list[Any]]:
    """Only the conditions given, so each combination gets a plan that uses its index."""
    terms: list[str] = []
    values: list[Any] = []

    def add(term: str, value: Any) -> None:
        values.append(value)
        terms.append(term.format(f"${len(values)}"))

    if len(where.statuses) == 1:
        add("status = {}", next(iter(where.statuses)).value)
    elif where.statuses:
        add("status = ANY({}::text[])", sorted(s.value for s in where.statuses))
    if where.workflow_id is not None:
        add("workflow_id = {}", where.workflow_id)
    if where.user_id is not None:
        add("user_id = {}", where.user_id)
    if where.started_after is not None:
        add("started_at >= {}", where.started_after)
    if where.started_before is not None:
        add("started_at < {}", where.started_before)
    return terms, values


def _keyset(
    order: ExecutionOrder, where: ExecutionFilter, after: Position | None, limit: int
) -> tuple[str, list[Any]] | None:
    """The rows after the position, as the UNION ALL of the known-time part and the
    unknown-time part (in that order: unknown last). Each part is one ordered index range:
    `(time, id) < (t, i)` is a row comparison PostgreSQL walks an index from, where an OR with
    `IS NULL` would make it filter from the top. Both parts order by the start-time indexes'
    own order, NULLS FIRST/LAST included (each part has only known or only unknown times, so
    the words change nothing but the plan), so the planner reads them off the index.
    None when nothing can follow the position."""
    terms, values = _conditions(where)
    unknown: str | None
    if order is ExecutionOrder.LAST_UPDATED:
        known, unknown = "updated_at DESC, id DESC", None
        column, cmp = "updated_at", "<"
    elif order is ExecutionOrder.NEWEST_STARTED:
        known = unknown = "started_at DESC NULLS LAST, id DESC"
        column, cmp = "started_at", "<"
    else:
        known = unknown = "started_at ASC NULLS FIRST, id ASC"
        column, cmp = "started_at", ">"
    known_terms = [*terms] + ([] if column == "updated_at" else [f"{column} IS NOT NULL"])
    unknown_terms = [*terms, f"{column} IS NULL"]
    # past an unknown time, every known one is behind
    with_known = after is None or after.at is not None
    if after is not None and after.at is not None:
        values += [after.at, after.id]
        n = len(values)
        known_terms.append(f"({column}, id) {cmp} (${n - 1}, ${n})")
    elif after is not None:
        values.append(after.id)
        unknown_terms.append(f"id {cmp} ${len(values)}")

    def part(rank: int, where: list[str], by: str) -> str:
        condition = "WHERE " + " AND ".join(where) if where else ""
        return f"""(SELECT {rank} AS part, row_number() OVER () AS ord, * FROM (
                       SELECT {_EXECUTION_COLUMNS} FROM executions {condition}
                       ORDER BY {by} LIMIT {limit}) p{rank})"""

    parts = []
    if with_known:
        parts.append(part(0, known_terms, known))
    if unknown is not None and not _windowed(where):  # a window leaves unknown starts out
        parts.append(part(1, unknown_terms, unknown))
    if not parts:
        return None
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) u ORDER BY part, ord LIMIT {limit}", values


def _limit(page: Page) -> str:
    """LIMIT and OFFSET written in: as $n parameters, PostgreSQL can't plan them once (its
    generic plan guesses a tenth of the table), so it planned every request anew — most of
    the list's cost in the database."""
    return f"LIMIT {int(page.limit)} OFFSET {int(page.offset)}"


def _execution_view(row: Mapping[str, Any]) -> ExecutionView:
    counts = NodeCounts(
        total=row["total"] or 0,
        running=row["running"] or 0,
        completed=row["completed"] or 0,
        failed=row["failed"] or 0,
    )
    # the row's version and the counts: together, all an execution's view is made of
    revision = (
        f"{row['version']}.{counts.total}.{counts.running}.{counts.completed}.{counts.failed}"
    )
    return ExecutionView.of(row, counts, row["created_at"], row["updated_at"], revision)


def _node_run_view(row: Mapping[str, Any]) -> NodeRunView:
    return NodeRunView.of(row, row["created_at"], row["updated_at"])


def retry_request(row: Mapping[str, Any]) -> RetryRequest:
    return RetryRequest(**{k: v for k, v in dict(row).items() if k != "message_id"})
