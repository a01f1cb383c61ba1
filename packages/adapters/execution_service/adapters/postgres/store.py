"""The ExecutionStore on PostgreSQL.

`databases` owns the pool and the connections; the SQL goes through the raw asyncpg
connection, because bulk writes need it (`databases`' execute_many runs one statement per
row) and so that arrays, jsonb and $n parameters are native everywhere.

Recording a batch is one transaction of a fixed number of round trips, whatever its size:
insert the events (the primary key finds duplicates), fold the new ones in Python into the
batch's own state of each node run and execution (the domain's fold), then join those into the
stored rows in SQL, one statement per table — INSERT … ON CONFLICT DO UPDATE with, column by
column, the domain's join (Execution.join, NodeRun.join; domain/snapshots.py says how the
provenance is kept). Nothing is read back into Python. A join is the same in any order, and
ON CONFLICT updates the latest committed row under its row lock, so replicas writing the same
rows end in the state one writer would; rows are written in key order so that they queue
rather than deadlock. Triggers keep execution_counts (migrations/0003).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
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
from execution_service.domain.model import Execution, NodeRun, NodeRunKey, node_run_id
from execution_service.domain.snapshots import (
    CLAIM_COLUMNS,
    EXECUTION_COLUMNS,
    EXECUTION_REGISTERS,
    NODE_RUN_COLUMNS,
    NODE_RUN_REGISTERS,
    execution_record,
    node_run_record,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

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
_RETRY_REQUEST = "SELECT * FROM retry_requests WHERE execution_id = $1 AND attempt = $2"
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


_encode_json = json.JSONEncoder(separators=(",", ":")).encode


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
        # the first of each key, in key order
        unique = sorted({e.key: e for e in reversed(events)}.values(), key=_key)
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
           SELECT * FROM unnest($1::event_in[])
           ON CONFLICT (event_key) DO NOTHING RETURNING event_key""",
        [(e.key, e.execution_id, e.kind.value, e.timestamp, e.payload) for e in events],
    )
    return frozenset(r["event_key"] for r in rows)


async def _apply(raw: asyncpg.Connection, batch: Sequence[Event]) -> frozenset[str]:
    """`batch` is in key order: concurrent writers insert shared keys in the same order.

    While PostgreSQL inserts the events, Python folds the batch as if all of them were new
    (they usually are); if some were duplicates, it folds again without them."""
    inserting = asyncio.ensure_future(_insert_events(raw, batch))
    try:
        await asyncio.sleep(0)  # the insert is sent: fold meanwhile
        writes = _writes(batch)
        applied = await inserting
    finally:
        if not inserting.done():
            inserting.cancel()
    if not applied:
        return applied
    if len(applied) < len(batch):
        writes = _writes([e for e in batch if e.key in applied])
    for statement, arguments in writes:
        await raw.execute(statement, *arguments)
    return applied


def _writes(events: Sequence[Event]) -> list[tuple[str, list[Any]]]:
    """The statements that join these events' state into the rows, with their arguments:
    node runs first, then executions, each in key order."""
    executions: dict[str, Execution] = {}
    node_runs: dict[NodeRunKey, NodeRun] = {}
    merge(executions, node_runs, events)
    writes: list[tuple[str, list[Any]]] = []
    if node_runs:
        runs = (node_runs[key] for key in sorted(node_runs))
        records = ((node_run_id(r.key), *node_run_record(r)) for r in runs)
        writes.append((_WRITE_NODE_RUNS, [_rows(records, _NODE_RUN_IN)]))
    if executions:
        # Most say only "attempt n runs" (node reports): those go as (id, attempt) only.
        running: list[Execution] = []
        rest: list[tuple[Any, ...]] = []
        for execution_id in sorted(executions):
            state = executions[execution_id]
            if _only_running(state):
                running.append(state)
            else:
                rest.append(execution_record(state))
        arguments: list[Any] = [
            _rows(rest, EXECUTION_COLUMNS),
            [e.id for e in running],
            [e.attempt for e in running],
        ]
        writes.append((_WRITE_EXECUTIONS, arguments))
    return writes


def _only_running(e: Execution) -> bool:
    """The state no more than a node report makes: Claim.running, no register set."""
    return e.claim.rank == 0 and all(getattr(e, name) is None for name in EXECUTION_REGISTERS)


_JSON = frozenset({"input", "output", "metadata"})


def _rows(records: Iterable[tuple[Any, ...]], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """Records as the row types node_run_in and execution_in take them (migrations/0003):
    one array of rows per statement, which asyncpg encodes at half the cost of an array per
    column. JSON goes as text and is cast back (asyncpg would take a JSON list for an array
    dimension)."""
    status = names.index("status")
    json_at = [i for i, name in enumerate(names) if name in _JSON]
    rows = []
    for record in records:
        row = list(record)
        row[status] = row[status].value
        for i in json_at:
            if row[i] is not None:
                row[i] = _encode_json(row[i])
        rows.append(tuple(row))
    return rows


def _select(names: Sequence[str]) -> str:
    return ", ".join(f"u.{n}::jsonb" if n in _JSON else f"u.{n}" for n in names)


def _join(table: str, order: Sequence[str], registers: Sequence[str]) -> str:
    """SET clauses: the row's and the batch's state joined, as Execution.join does it — the
    claim of greater order decides the claim's columns, and each register keeps the value of
    the earlier event."""
    ours = ", ".join(f"{table}.{c}" for c in order)
    claim_wins = f"({', '.join(f'excluded.{c}' for c in order)}) > ({ours})"
    sets = [
        f"{c} = CASE WHEN {claim_wins} THEN excluded.{c} ELSE {table}.{c} END"
        for c in CLAIM_COLUMNS
        if c != "attempt" or table == "e"
    ]
    for name in registers:
        earlier = f"{table}.{name}_stamp IS NULL OR excluded.{name}_stamp < {table}.{name}_stamp"
        sets += [
            f"{c} = CASE WHEN {earlier} THEN excluded.{c} ELSE {table}.{c} END"
            for c in (name, f"{name}_stamp")
        ]
    return ", ".join(sets) + ", updated_at = now()"


# A node run: its attempt is part of the key, so its claim is ordered by rank and stamp.
_NODE_RUN_IN = ("id", *NODE_RUN_COLUMNS)
_WRITE_NODE_RUNS = f"""
    INSERT INTO execution_logs AS l ({', '.join(_NODE_RUN_IN)})
    SELECT u.id::uuid, {_select(NODE_RUN_COLUMNS)} FROM unnest($1::node_run_in[]) AS u
    ON CONFLICT (execution_id, node_id, attempt) DO UPDATE SET
        {_join("l", ("claim_rank", "claim_stamp"), NODE_RUN_REGISTERS)}
"""
# An execution whose row already holds all the batch says (the join would change nothing:
# most node reports) is left alone, unlocked. A row that dominates the batch's state once
# always will (the join only grows), so reading it outside the upsert's lock is safe.
_DOMINATED = " AND ".join(
    ["(d.attempt, d.claim_rank, d.claim_stamp) >= (u.attempt, u.claim_rank, u.claim_stamp"
     ' COLLATE "C")']
    + [f'(u.{n}_stamp IS NULL OR d.{n}_stamp <= u.{n}_stamp COLLATE "C")'
       for n in EXECUTION_REGISTERS]
)  # fmt: skip
_RUNNING_ROW = {"id": "r.id", "status": "'RUNNING'", "attempt": "r.attempt",
                "claim_rank": "0", "claim_stamp": "''"}  # fmt: skip
_WRITE_EXECUTIONS = f"""
    INSERT INTO executions AS e ({', '.join(EXECUTION_COLUMNS)})
    SELECT * FROM (
        SELECT {_select(EXECUTION_COLUMNS)} FROM unnest($1::execution_in[]) AS u
        UNION ALL
        SELECT {', '.join(_RUNNING_ROW.get(n, 'NULL') for n in EXECUTION_COLUMNS)}
        FROM unnest($2::text[], $3::int[]) AS r(id, attempt)
    ) u
    WHERE NOT EXISTS (SELECT 1 FROM executions d WHERE d.id = u.id AND {_DOMINATED})
    ORDER BY u.id
    ON CONFLICT (id) DO UPDATE SET
        {_join("e", ("attempt", "claim_rank", "claim_stamp"), EXECUTION_REGISTERS)}
"""


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


def _retry_request(row: Mapping[str, Any]) -> RetryRequest:
    return RetryRequest(**{k: v for k, v in dict(row).items() if k != "message_id"})
