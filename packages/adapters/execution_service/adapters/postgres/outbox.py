"""The trace outbox on PostgreSQL (migrations/0009): each finished attempt is exported once,
whichever replica claims it.

A replica claims due rows with FOR UPDATE SKIP LOCKED and holds them, in one transaction, while
the receiver answers: another replica skips them meanwhile, and a replica that dies releases
them with its connection, to be claimed again. They are marked exported in that transaction,
after the receiver's 200: a crash between the two sends the same trace again, with the same
ids (adapters/otel/ids.py). A failed export puts them off, by a delay that doubles with each
try up to `max_backoff`, and keeps them.
"""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from execution_service.adapters.postgres.database import Connected, Database
from execution_service.domain import (
    Event,
    Exported,
    ExportFailed,
    FastDecoder,
    FinishedAttempt,
    NodeRunTrace,
    Status,
    TraceExporter,
    parse_message,
    stored_message,
)

_CLAIM = """
SELECT execution_id, attempt FROM trace_outbox
WHERE exported_at IS NULL AND due_at <= clock_timestamp()
ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED"""
# The executions' own events, not node reports: the node runs are read as folded.
_EVENTS = """
SELECT execution_id, event_key, subject, payload, traceparent FROM execution_events
WHERE execution_id = ANY ($1::text[]) AND subject NOT LIKE 'execution.node.%'
ORDER BY execution_id, seq"""
_NODE_RUNS = """
SELECT l.execution_id, l.attempt, l.node_id, l.status, l.node_type, l.node_name, l.started_at,
       l.completed_at, l.error, l.input, l.output
FROM unnest($1::text[], $2::int[]) AS d(x, a)
JOIN execution_logs AS l ON l.execution_id = d.x AND l.attempt = d.a
ORDER BY l.execution_id, l.attempt, l.node_id"""
_EXPORTED = """
UPDATE trace_outbox SET exported_at = clock_timestamp(), tries = tries + 1, last_error = NULL
FROM unnest($1::text[], $2::int[]) AS d(x, a) WHERE execution_id = d.x AND attempt = d.a"""
_PUT_OFF = """
UPDATE trace_outbox SET tries = tries + 1, last_error = $3,
    due_at = clock_timestamp() + make_interval(secs => least($4, 2.0 ^ tries))
FROM unnest($1::text[], $2::int[]) AS d(x, a) WHERE execution_id = d.x AND attempt = d.a"""
_BACKLOG = "SELECT count(*) FROM trace_outbox WHERE exported_at IS NULL"


class PostgresTraceOutbox(Connected):
    def __init__(
        self,
        database: Database,
        decode: FastDecoder | None = None,
        max_backoff: float = 300.0,
        max_retries: int = 8,
    ) -> None:
        super().__init__(database, max_retries)
        self._decode = decode
        self._max_backoff = max_backoff

    async def export_due(self, limit: int, exporter: TraceExporter) -> Exported:
        async def work(raw: asyncpg.Connection) -> Exported | ExportFailed:
            claimed = [(r[0], r[1]) for r in await raw.fetch(_CLAIM, limit)]
            if not claimed:
                return Exported(0, 0)
            ids = [x for x, _ in claimed]
            attempts = [a for _, a in claimed]
            events = await self._events(raw, sorted(set(ids)))
            runs: dict[tuple[str, int], list[NodeRunTrace]] = defaultdict(list)
            for r in await raw.fetch(_NODE_RUNS, ids, attempts):
                runs[(r[0], r[1])].append(NodeRunTrace(r[2], Status(r[3]), *r[4:]))
            finished = [
                FinishedAttempt(x, a, tuple(events.get(x, ())), tuple(runs.get((x, a), ())))
                for x, a in claimed
            ]
            try:
                spans = await exporter.export(finished)
            except ExportFailed as failed:
                await raw.execute(_PUT_OFF, ids, attempts, str(failed)[:1000], self._max_backoff)
                return failed
            await raw.execute(_EXPORTED, ids, attempts)
            return Exported(len(claimed), spans)

        outcome = await self._in_transaction(work)
        if isinstance(outcome, ExportFailed):
            raise outcome
        return outcome

    async def _events(self, raw: asyncpg.Connection, ids: list[str]) -> dict[str, list[Event]]:
        """Each execution's own events, parsed as when they were recorded (all were accepted)."""
        events: dict[str, list[Event]] = defaultdict(list)
        for x, key, subject, payload, traceparent in await raw.fetch(_EVENTS, ids):
            parsed = parse_message(
                stored_message(key, subject, payload, traceparent),
                max_bytes=len(payload),
                fast=self._decode,
            )
            if isinstance(parsed, Event):
                events[x].append(parsed)
        return events

    async def backlog(self) -> int:
        return int(await self._run(lambda raw: raw.fetchval(_BACKLOG)))
