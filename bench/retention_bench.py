"""What retention costs and frees, in one run:
  1. N events (default 1M: 100 per execution) stored through the service's own store, then the
     bytes on disk per event of each table, its TOAST and each index, against the raw payload;
  2. ingest alone: the drain bench's service drain (child processes, NATS -> PostgreSQL) of
     M newer events;
  3. the same drain of M other newer events while a pruning pass deletes all N stored events'
     executions: how long the pass takes, and ingest beside it.
The last line is JSON, for scripts.

    ./pants run bench/retention_bench.py -- --events 1000000 [--ingest 100000] [--max-rows 4000]
    ./pants run bench/retention_bench.py -- --events 20000      # a quick check that it runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import nats
import nats.js.errors
from drain_bench import drain_with_replicas

from common import T0, delete_stream, workflow_events
from execution_service.adapters.nats import EmbeddedNats, Subjects, bind_or_create_stream
from execution_service.adapters.postgres import (
    PostgresPruner,
    PostgresRecorder,
    PostgresUrl,
    create_database,
)
from execution_service.domain import Cutoffs, Event, Pruned, parse_message
from support.postgres import fresh_database

TABLES = ("execution_events", "executions", "execution_logs")
# Stored events finish on T0's day; ingested ones a month later (publish_newer): the pass's
# cutoff lies between.
CUTOFF = Cutoffs(executions_finished_before=T0 + timedelta(days=1))


async def store(url: PostgresUrl, events: int) -> int:
    """Store `events` events through the store, in batches of 5000; their raw payload bytes."""
    db = create_database(url)
    await db.connect()
    recorder = PostgresRecorder(db)
    messages = workflow_events(max(events // 100, 1), seed=2, prefix="old")
    payload = 0
    for start in range(0, len(messages), 5000):
        chunk = messages[start : start + 5000]
        payload += sum(len(m.data) for m in chunk)
        parsed = [parse_message(m) for m in chunk]
        await recorder.record([e for e in parsed if isinstance(e, Event)], [])
    await db.disconnect()
    return payload


async def sizes(url: PostgresUrl) -> list[dict[str, Any]]:
    """Bytes of each table's heap, its TOAST (with the TOAST index) and each of its indexes."""
    conn = await asyncpg.connect(**url.connect_kwargs())
    try:
        await conn.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
        rows = await conn.fetch(
            """SELECT c.relname AS table, 'heap' AS part, pg_relation_size(c.oid) AS bytes
               FROM pg_class c WHERE c.relname = ANY ($1)
               UNION ALL
               SELECT c.relname, 'toast', coalesce(pg_total_relation_size(c.reltoastrelid), 0)
               FROM pg_class c WHERE c.relname = ANY ($1)
               UNION ALL
               SELECT i.tablename, 'index ' || i.indexname,
                      pg_relation_size(format('%I', i.indexname)::regclass)
               FROM pg_indexes i WHERE i.tablename = ANY ($1) AND i.schemaname = current_schema()
               ORDER BY 1, 2""",
            list(TABLES),
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def publish_newer(url: str, subjects: Subjects, stream: str, executions: int) -> int:
    """common.workflow_events a month after the stored events, under other execution ids."""
    messages = workflow_events(executions, prefix=f"new-{uuid.uuid4().hex[:6]}")
    nc = await nats.connect(url)
    js = nc.jetstream()
    await bind_or_create_stream(js, subjects, stream)
    for start in range(0, len(messages), 1000):
        for m in messages[start : start + 1000]:
            data = m.data.replace(b'"2026-11-25T', b'"2026-12-25T')
            await js.publish_async(subjects.prefix + m.subject, data)
        await js.publish_async_completed()
    await nc.close()
    return len(messages)


class Ingest:
    """A stream of newer events, published up front, drained by one service process."""

    def __init__(self, url: str, executions: int) -> None:
        tag = uuid.uuid4().hex[:8]
        self.url, self.subjects, self.stream = url, Subjects(f"r{tag}."), f"R{tag}"
        self.total = asyncio.run(publish_newer(url, self.subjects, self.stream, executions))

    def drain(self, database: PostgresUrl) -> float:
        """Seconds from the drain's start to its last acknowledgement."""
        try:
            result = drain_with_replicas(
                self.url, self.subjects.prefix, self.stream, database.url(), self.total,
                2, 1, "uvloop",
            )  # fmt: skip
        finally:
            delete_stream(self.url, self.stream)
        return float(result["seconds"])


async def draining(ingest: Ingest) -> float:
    """Until the service's drain has taken its first messages (the pass starts beside it);
    when that was."""
    nc = await nats.connect(ingest.url)
    js = nc.jetstream()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            info = await js.consumer_info(ingest.stream, "svc")
            if info.delivered is not None and info.delivered.stream_seq > 0:
                break
        except nats.js.errors.NotFoundError:
            pass
        await asyncio.sleep(0.01)
    await nc.close()
    return time.time()


def main(events: int, ingested: int, max_rows: int) -> None:
    configured = os.environ.get("BENCH_NATS_URL") or os.environ.get("TEST_NATS_URL")
    server = None if configured else EmbeddedNats(Path(tempfile.mkdtemp())).start()
    url = configured or server.url  # type: ignore[union-attr]
    try:
        with fresh_database() as database:
            started = time.perf_counter()
            payload = asyncio.run(store(database, events))
            stored_seconds = time.perf_counter() - started
            parts = asyncio.run(sizes(database))
            alone = Ingest(url, ingested // 100)
            alone_seconds = alone.drain(database)
            beside = Ingest(url, ingested // 100)

            pass_result: dict[str, Any] = {}

            def prune_all() -> None:
                async def one_pass() -> None:
                    db = create_database(database, min_size=1, max_size=1)
                    await db.connect()
                    pass_result["drain_began"] = await draining(beside)
                    began = time.time()
                    pruned = await PostgresPruner(db, max_rows).prune(CUTOFF)
                    pass_result["span"] = (began, time.time())
                    pass_result["tombstone_bytes"] = await db.fetch_val(
                        "SELECT pg_total_relation_size('execution_tombstones')"
                    )
                    pass_result["pruned"] = pruned
                    await db.disconnect()

                asyncio.run(one_pass())

            pruning = threading.Thread(target=prune_all)
            pruning.start()
            beside_seconds = beside.drain(database)
            pruning.join()
    finally:
        if server:
            server.stop()
    pruned: Pruned = pass_result["pruned"]
    assert pruned.events == events // 100 * 100, pruned
    began, ended = pass_result["span"]
    drain_ended = pass_result["drain_began"] + beside_seconds
    overlap = max(0.0, min(ended, drain_ended) - began)
    report(events, payload, stored_seconds, parts, pruned, ended - began,
           (alone.total, alone_seconds), (beside.total, beside_seconds), overlap)  # fmt: skip
    print(f"tombstones: {pass_result['tombstone_bytes'] / max(pruned.executions, 1):.0f} bytes"
          " per pruned execution (table and index)")  # fmt: skip


def report(
    events: int,
    payload: int,
    stored_seconds: float,
    parts: list[dict[str, Any]],
    pruned: Pruned,
    prune_seconds: float,
    alone: tuple[int, float],
    beside: tuple[int, float],
    overlap_seconds: float,
) -> None:
    print(f"stored {events:,} events ({events // 100:,} executions) through the store in"
          f" {stored_seconds:.0f} s; raw payload {payload / events:.0f} bytes/event")  # fmt: skip
    total = 0
    for part in parts:
        total += part["bytes"]
        print(f"  {part['table']:<18} {part['part']:<44} {part['bytes'] / events:>8.1f} B/event")
    print(f"  {'all':<63} {total / events:>8.1f} B/event"
          f" ({total / payload:.2f} x the raw payload)")  # fmt: skip
    rows = sum(pruned.as_dict().values())
    print(f"pruning pass: {prune_seconds:.1f} s for {rows:,} rows ({pruned})"
          f" = {pruned.events / prune_seconds:,.0f} events/s")  # fmt: skip
    alone_rate, beside_rate = alone[0] / alone[1], beside[0] / beside[1]
    overlap = overlap_seconds / beside[1]
    print(f"ingest alone:        {alone_rate:>9,.0f} events/s ({alone[0]:,} events)")
    print(f"ingest while pruning: {beside_rate:>8,.0f} events/s ({beside[0]:,} events;"
          f" the pass ran during {overlap:.0%} of it)")  # fmt: skip
    print(json.dumps({
        "events": events,
        "bytes_per_event": round(total / events, 1),
        "payload_bytes_per_event": round(payload / events, 1),
        "prune_seconds": round(prune_seconds, 2),
        "pruned_events_per_s": round(pruned.events / prune_seconds),
        "ingest_alone_events_per_s": round(alone_rate),
        "ingest_while_pruning_events_per_s": round(beside_rate),
        "pass_share_of_ingest": round(overlap, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="stored, then pruned")
    parser.add_argument(
        "--ingest", type=int, default=None, help="events per drain (default: 100k, at most N)"
    )
    parser.add_argument("--max-rows", type=int, default=4000, help="rows per pruning txn")
    args = parser.parse_args()
    main(args.events, args.ingest or min(100_000, args.events), args.max_rows)
