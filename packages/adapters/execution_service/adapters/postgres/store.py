"""The ExecutionStore on PostgreSQL.

`databases` owns the pool and the connections; the SQL goes through the raw asyncpg
connection, because bulk writes need it (`databases`' execute_many runs one statement per
row) and so that arrays, jsonb and $n parameters are native everywhere.

Recording a batch is one transaction of a fixed number of round trips, whatever its size:
create-or-lock the executions it touches (in id order), insert the events (the unique key
finds duplicates), read their node runs, merge the new events in Python (the domain's fold),
write back only what changed with unnest, and count dead letters. Row locks on the
executions serialise writers that share an execution, so replicas on one consumer end in
the state one writer would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
import attrs
from databases import Database

from execution_service.adapters.postgres.url import PostgresUrl
from execution_service.domain import (
    DeadLetter,
    Event,
    ExecutionFilter,
    ExecutionView,
    NodeCounts,
    NodeRunView,
    Page,
    Paged,
    RawMessage,
    RetryRequest,
    Status,
    Unavailable,
    merge,
)
from execution_service.domain.model import Execution, NodeRun, NodeRunKey, node_run_key
from execution_service.domain.snapshots import (
    execution_from_row,
    execution_row,
    node_run_from_row,
    node_run_row,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
V = TypeVar("V", ExecutionView, NodeRunView)

_RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
# The database is down, restarting or out of connections: a passing failure.
_PASSING = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
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
# The write path reads JSON values as text: merging never looks inside them.
_EXECUTION_MERGE_COLUMNS = (
    "id, workflow_id, user_id, status, attempt, started_at, completed_at, duration, error,"
    " input::text AS input, output::text AS output, metadata::text AS metadata, retry_of,"
    " provenance"
)
_NODE_RUN_MERGE_COLUMNS = (
    "execution_id, node_id, attempt, node_type, node_name, status, input::text AS input,"
    " output::text AS output, error, started_at, completed_at, duration, provenance"
)
_JSON_COLUMNS = ("input", "output", "metadata")
_RETRY_REQUEST = "SELECT * FROM retry_requests WHERE execution_id = $1 AND attempt = $2"
# Node counts: distinct nodes, each by its run of the highest attempt.
_COUNTS = """
    LEFT JOIN LATERAL (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'RUNNING') AS running,
               count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
               count(*) FILTER (WHERE status = 'FAILED') AS failed
        FROM (SELECT DISTINCT ON (node_id) status FROM execution_logs l
              WHERE l.execution_id = e.id ORDER BY node_id, attempt DESC) latest
    ) c ON true
"""


class JsonText(str):
    """JSON read as text and written back as is."""


def _encode_json(value: Any) -> str:
    if isinstance(value, JsonText):
        return value
    return json.dumps(value, separators=(",", ":"))


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_json, decoder=json.loads, schema="pg_catalog"
    )


async def _release(conn: asyncpg.Connection) -> None:
    """The service keeps no session state (no SET, LISTEN or advisory locks), so a released
    connection needs no reset query: one round trip less per request. A transaction left
    open by a cancelled task is still rolled back."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def create_database(url: PostgresUrl, min_size: int = 2, max_size: int = 10) -> Database:
    return Database(
        url.url(),
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_release,
        **url.connect_kwargs(),
    )


class PostgresStore:
    def __init__(self, database: Database, max_retries: int = 8) -> None:
        self._db = database
        self._max_retries = max_retries

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            async with self._db.connection() as connection:
                raw: asyncpg.Connection = connection.raw_connection
                return await work(raw)
        except _PASSING as exc:
            raise Unavailable(f"PostgreSQL unavailable: {type(exc).__name__}: {exc}") from exc

    async def _in_transaction(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Deadlocks and serialization failures between replicas are retried, never raised."""

        async def transaction(raw: asyncpg.Connection) -> T:
            async with raw.transaction():
                return await work(raw)

        for attempt in range(self._max_retries + 1):
            try:
                return await self._run(transaction)
            except _RETRYABLE as exc:
                if attempt == self._max_retries:
                    raise
                log.info("retrying a transaction after %s", type(exc).__name__)
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    async def ping(self) -> None:
        await self._run(lambda raw: raw.fetchval("SELECT 1"))

    async def record(
        self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]
    ) -> frozenset[str]:
        unique = sorted({e.key: e for e in reversed(events)}.values(), key=lambda e: e.key)
        letters = _count_by_key(dead_letters)

        async def work(raw: asyncpg.Connection) -> frozenset[str]:
            applied: frozenset[str] = frozenset()
            if unique:
                applied = await _apply(raw, unique)
            if letters:
                await _record_dead_letters(raw, letters)
            return applied

        return await self._in_transaction(work)

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

        async def work(raw: asyncpg.Connection) -> Paged[ExecutionView]:
            if all(column == "status" for column, _ in given):
                # exact, kept by _count: no scan of every execution per page
                count = f"SELECT coalesce(sum(n), 0)::bigint FROM execution_counts {condition(1)}"
            else:
                count = f"SELECT count(*) FROM executions {condition(1)}"
            total = await raw.fetchval(count, *values)
            rows = await raw.fetch(
                f"""SELECT e.*, c.* FROM (
                        SELECT {_EXECUTION_COLUMNS} FROM executions {condition(3)}
                        ORDER BY started_at DESC NULLS LAST, id DESC LIMIT $1 OFFSET $2
                    ) e {_COUNTS}
                    ORDER BY e.started_at DESC NULLS LAST, e.id DESC""",
                page.limit,
                page.offset,
                *values,
            )
            return Paged([_execution_view(r) for r in rows], total, page)

        return await self._run(work)

    async def node_runs(self, execution_id: str, page: Page) -> Paged[NodeRunView]:
        async def work(raw: asyncpg.Connection) -> Paged[NodeRunView]:
            total = await raw.fetchval(
                "SELECT count(*) FROM execution_logs WHERE execution_id = $1", execution_id
            )
            rows = await raw.fetch(
                f"""SELECT {_NODE_RUN_COLUMNS} FROM execution_logs WHERE execution_id = $1
                    ORDER BY started_at ASC NULLS LAST, node_id, attempt LIMIT $2 OFFSET $3""",
                execution_id,
                page.limit,
                page.offset,
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
                """SELECT event_key, subject, payload::text AS payload FROM execution_events
                   WHERE execution_id = $1 ORDER BY seq""",
                execution_id,
            )
        )
        return [
            RawMessage(r["subject"], r["payload"].encode(), {"Nats-Msg-Id": r["event_key"]})
            for r in rows
        ]

    async def dead_letters(self, page: Page) -> Paged[DeadLetter]:
        async def work(raw: asyncpg.Connection) -> Paged[DeadLetter]:
            total = await raw.fetchval("SELECT count(*) FROM dead_letters")
            rows = await raw.fetch(
                """SELECT * FROM dead_letters ORDER BY last_seen DESC, key DESC
                   LIMIT $1 OFFSET $2""",
                page.limit,
                page.offset,
            )
            return Paged([DeadLetter(**dict(r)) for r in rows], total, page)

        return await self._run(work)

    async def retry_request(self, execution_id: str, attempt: int) -> RetryRequest | None:
        row = await self._run(lambda raw: raw.fetchrow(_RETRY_REQUEST, execution_id, attempt))
        return None if row is None else _retry_request(row)

    async def retry_requests(self, execution_id: str) -> Sequence[RetryRequest]:
        rows = await self._run(
            lambda raw: raw.fetch(
                "SELECT * FROM retry_requests WHERE execution_id = $1 ORDER BY attempt",
                execution_id,
            )
        )
        return [_retry_request(r) for r in rows]

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
            row = await raw.fetchrow(_RETRY_REQUEST, request.execution_id, request.attempt)
            return _retry_request(row)

        return await self._in_transaction(work)


async def _insert_events(raw: asyncpg.Connection, events: Sequence[Event]) -> frozenset[str]:
    rows = await raw.fetch(
        """INSERT INTO execution_events (event_key, execution_id, subject, occurred_at, payload)
           SELECT k, x, s, t, p::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
                AS u(k, x, s, t, p)
           ON CONFLICT (event_key) DO NOTHING RETURNING event_key""",
        [e.key for e in events],
        [e.execution_id for e in events],
        [e.kind.value for e in events],
        [e.timestamp for e in events],
        [e.payload.decode() for e in events],
    )
    return frozenset(r["event_key"] for r in rows)


async def _apply(raw: asyncpg.Connection, batch: Sequence[Event]) -> frozenset[str]:
    execution_ids = sorted({e.execution_id for e in batch})
    # Create what is missing, then lock every execution of the batch in id order before
    # anything else: concurrent writers of one execution queue here, each merges into what
    # the other committed, and none can hold an event key another one waits for.
    await raw.execute(
        """INSERT INTO executions (id, status) SELECT unnest($1::text[]), 'PENDING'
           ON CONFLICT (id) DO NOTHING""",
        execution_ids,
    )
    rows = await raw.fetch(
        f"""SELECT {_EXECUTION_MERGE_COLUMNS} FROM executions WHERE id = ANY($1::text[])
            ORDER BY id FOR UPDATE""",
        execution_ids,
    )
    applied = await _insert_events(raw, batch)
    events = [e for e in batch if e.key in applied]
    if not events:
        return applied
    executions: dict[str, Execution] = {
        r["id"]: execution_from_row(_json_as_text(r)) for r in rows if r["provenance"]
    }
    run_keys = sorted({node_run_key(e) for e in events if e.kind.is_node})
    node_runs: dict[NodeRunKey, NodeRun] = {}
    if run_keys:
        existing = await raw.fetch(
            f"""SELECT {_NODE_RUN_MERGE_COLUMNS} FROM execution_logs
                WHERE (execution_id, node_id, attempt) IN (
                    SELECT * FROM unnest($1::text[], $2::text[], $3::int[]))""",
            *(list(column) for column in zip(*run_keys, strict=True)),
        )
        node_runs = {
            (r["execution_id"], r["node_id"], r["attempt"]): node_run_from_row(_json_as_text(r))
            for r in existing
        }
    before_executions, before_runs = dict(executions), dict(node_runs)
    merge(executions, node_runs, events)
    # Most events (a node report on a running execution) change nothing about the execution.
    changed = [e for i, e in executions.items() if before_executions.get(i) != e]
    if changed:
        await _write_executions(raw, [execution_row(e) for e in changed])
        await _count(raw, before_executions, changed)
    changed_runs = [r for k, r in node_runs.items() if before_runs.get(k) != r]
    if changed_runs:
        await _write_node_runs(raw, [node_run_row(r) for r in changed_runs])
    return applied


async def _count(
    raw: asyncpg.Connection, before: Mapping[str, Execution], changed: Sequence[Execution]
) -> None:
    """Keep execution_counts exact; rows in status order, after everything else, so that
    concurrent writers queue on them without deadlocking."""
    delta: dict[str, int] = {}
    for execution in changed:
        old = before.get(execution.id)
        if old is not None and old.status is execution.status:
            continue
        if old is not None:
            delta[old.status.value] = delta.get(old.status.value, 0) - 1
        delta[execution.status.value] = delta.get(execution.status.value, 0) + 1
    moves = sorted((status, n) for status, n in delta.items() if n)
    if moves:
        statuses = [status for status, _ in moves]
        await raw.execute(
            "SELECT 1 FROM execution_counts WHERE status = ANY($1::text[]) ORDER BY status"
            " FOR UPDATE",
            statuses,
        )
        await raw.execute(
            """UPDATE execution_counts c SET n = c.n + d.n
               FROM unnest($1::text[], $2::bigint[]) AS d (status, n)
               WHERE c.status = d.status""",
            statuses,
            [n for _, n in moves],
        )


def _json_as_text(row: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(row)
    for name in _JSON_COLUMNS:
        if values.get(name) is not None:
            values[name] = JsonText(values[name])
    return values


def _pick(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[list[Any]]:
    """Columns for unnest; JSON goes as text (asyncpg would read a JSON list as a dimension)."""
    columns = []
    for name in names:
        values = [row[name] for row in rows]
        if name == "status":
            values = [v.value for v in values]
        elif _TYPES.get(name) == "jsonb":
            values = [None if v is None else _encode_json(v) for v in values]
        columns.append(values)
    return columns


_EXECUTION_WRITE = (
    "id", "workflow_id", "user_id", "status", "attempt", "started_at", "completed_at",
    "duration", "error", "input", "output", "metadata", "retry_of", "provenance",
)  # fmt: skip
_NODE_RUN_WRITE = (
    "id", "execution_id", "node_id", "attempt", "node_type", "node_name", "status", "input",
    "output", "error", "started_at", "completed_at", "duration", "provenance",
)  # fmt: skip
_TYPES = {
    "attempt": "int", "duration": "bigint", "started_at": "timestamptz",
    "completed_at": "timestamptz", "input": "jsonb", "output": "jsonb", "metadata": "jsonb",
    "provenance": "jsonb", "id": "text",
}  # fmt: skip


def _unnest(names: Sequence[str]) -> str:
    arrays = ", ".join(f"${i}::{_sql_type(n)}[]" for i, n in enumerate(names, 1))
    return f"unnest({arrays}) AS u({', '.join(names)})"


def _sql_type(name: str) -> str:
    kind = _TYPES.get(name, "text")
    return "text" if kind == "jsonb" else kind


def _value(name: str) -> str:
    return f"u.{name}::jsonb" if _TYPES.get(name) == "jsonb" else f"u.{name}"


async def _write_executions(raw: asyncpg.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    sets = ", ".join(f"{n} = {_value(n)}" for n in _EXECUTION_WRITE[1:])
    await raw.execute(
        f"""UPDATE executions e SET {sets}, updated_at = now()
            FROM {_unnest(_EXECUTION_WRITE)} WHERE e.id = u.id""",
        *_pick(rows, _EXECUTION_WRITE),
    )


async def _write_node_runs(raw: asyncpg.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    names = ", ".join(_NODE_RUN_WRITE)
    sets = ", ".join(f"{n} = excluded.{n}" for n in _NODE_RUN_WRITE[4:])
    await raw.execute(
        f"""INSERT INTO execution_logs ({names})
            SELECT u.id::uuid, {', '.join(_value(n) for n in _NODE_RUN_WRITE[1:])}
            FROM {_unnest(_NODE_RUN_WRITE)}
            ON CONFLICT (execution_id, node_id, attempt) DO UPDATE SET {sets},
                updated_at = now()""",
        *_pick(rows, _NODE_RUN_WRITE),
    )


def _count_by_key(letters: Sequence[DeadLetter]) -> list[tuple[DeadLetter, int]]:
    counted: dict[str, tuple[DeadLetter, int]] = {}
    for letter in letters:
        _, seen = counted.get(letter.key, (letter, 0))
        counted[letter.key] = (letter, seen + 1)
    return sorted(counted.values(), key=lambda pair: pair[0].key)


async def _record_dead_letters(
    raw: asyncpg.Connection, letters: Sequence[tuple[DeadLetter, int]]
) -> None:
    await raw.execute(
        """INSERT INTO dead_letters (key, subject, payload, headers, reason, count)
           SELECT k, s, p, h::jsonb, r, n
           FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::int[])
                AS u(k, s, p, h, r, n)
           ON CONFLICT (key) DO UPDATE SET count = dead_letters.count + excluded.count,
               last_seen = now(), reason = excluded.reason""",
        [d.key for d, _ in letters],
        [d.subject for d, _ in letters],
        [d.payload for d, _ in letters],
        [_encode_json(dict(d.headers)) for d, _ in letters],
        [d.reason for d, _ in letters],
        [n for _, n in letters],
    )


def _view(cls: type[V], row: Mapping[str, Any], **computed: Any) -> V:
    """A view from the columns of the same names (they hold what the fold computed)."""
    names = [f.name for f in attrs.fields(cls) if f.name not in computed]
    return cls(**{name: row[name] for name in names}, **computed)


def _execution_view(row: Mapping[str, Any]) -> ExecutionView:
    counts = NodeCounts(
        total=row["total"] or 0,
        running=row["running"] or 0,
        completed=row["completed"] or 0,
        failed=row["failed"] or 0,
    )
    return _view(ExecutionView, row, status=Status(row["status"]), nodes=counts)


def _node_run_view(row: Mapping[str, Any]) -> NodeRunView:
    return _view(NodeRunView, row, status=Status(row["status"]))


def _retry_request(row: Mapping[str, Any]) -> RetryRequest:
    return RetryRequest(**{k: v for k, v in dict(row).items() if k != "message_id"})
