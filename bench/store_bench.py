"""How fast the PostgreSQL store records events, next to asyncpg's raw COPY of the same rows
into a bare table, measured in the same run on the same server.

    ./pants run bench/store_bench.py -- --executions 1000 --batch 500 [--writers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

import asyncpg

from common import workflow_events
from execution_service.adapters.postgres import PostgresRecorder, create_database
from execution_service.domain import Event, Outcome, RawMessage, parse_message, record_events
from support.postgres import fresh_database


async def main(executions: int, batch: int, writers: int) -> None:
    messages = workflow_events(executions)
    gc.freeze()  # the bench's own 100k messages are not the store's garbage to scan
    with fresh_database() as url:
        database = create_database(url)
        await database.connect()
        store = PostgresRecorder(database)

        batches = [messages[i : i + batch] for i in range(0, len(messages), batch)]

        async def writer(mine: list[list[RawMessage]]) -> int:
            applied = 0
            for chunk in mine:
                applied += (await record_events(store, chunk)).count(Outcome.APPLIED)
            return applied

        started = time.perf_counter()
        counts = await asyncio.gather(*(writer(batches[w::writers]) for w in range(writers)))
        applied = sum(counts)
        store_seconds = time.perf_counter() - started
        assert applied == len(messages), (applied, len(messages))

        events = [parse_message(m) for m in messages]
        rows = [
            (e.key, e.execution_id, e.kind.value, e.payload) for e in events if isinstance(e, Event)
        ]
        raw = await asyncpg.connect(**url.connect_kwargs())
        try:
            await raw.execute(
                """CREATE TABLE bare (event_key text, execution_id text, subject text,
                                      payload bytea)"""
            )
            started = time.perf_counter()
            for start in range(0, len(rows), batch):
                await raw.copy_records_to_table("bare", records=rows[start : start + batch])
            copy_seconds = time.perf_counter() - started
            sizes = await raw.fetch(
                """SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) AS size,
                          reltuples::bigint AS rows
                   FROM pg_class WHERE relname IN ('executions', 'execution_logs',
                        'execution_events', 'bare') ORDER BY relname"""
            )
        finally:
            await raw.close()
        await database.disconnect()

    n = len(messages)
    print(
        f"events: {n} ({executions} executions, shuffled), batches of {batch}, {writers} writer(s)"
    )
    print(f"store.record (parse + dedupe + fold + upsert): {n / store_seconds:,.0f} events/s")
    print(f"raw COPY of the same rows, bare table:          {n / copy_seconds:,.0f} events/s")
    print(f"ratio store / COPY: {copy_seconds / store_seconds:.2f}")
    for row in sizes:
        print(f"  {row['relname']:<18} {row['size']:>10}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--writers", type=int, default=1, help="concurrent writers, as replicas")
    args = parser.parse_args()
    asyncio.run(main(args.executions, args.batch, args.writers))
