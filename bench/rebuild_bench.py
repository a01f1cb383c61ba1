"""rebuild and verify against ingest, in one run (issue 22): the same events drained through
the service's consumer from NATS into a fresh database (drain_bench.py's replicas), then
  (a) a full `verify` of what ingest stored,
  (b) a full `rebuild` over rows that are already right (reads and folds, writes nothing),
  (c) a full `rebuild` from the events alone (executions and node runs emptied first),
each checked afterwards (every row as ingest made it; verify finds nothing). The last line is
JSON, for scripts. 10,000 executions are 1M events (common.workflow_events: 100 each).

    ./pants run bench/rebuild_bench.py -- --executions 10000 [--replicas 1] [--in-flight 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from drain_bench import check, drain_with_replicas, publish

from common import delete_stream, run
from execution_service.adapters.nats import ConsumerSettings, EmbeddedNats, Subjects
from execution_service.adapters.postgres import PostgresEventLog, PostgresUrl, create_database
from execution_service.adapters.system import SystemClock
from execution_service.app.rebuilding import derive_fast
from execution_service.domain import Difference, rebuild, verify
from support.postgres import fresh_database


async def timed_log_work(url: PostgresUrl) -> dict[str, float]:
    database = create_database(url, min_size=1, max_size=2)
    await database.connect()
    event_log = PostgresEventLog(database)
    found: list[Difference] = []
    seconds: dict[str, float] = {}
    try:
        started = time.perf_counter()
        await verify(event_log, derive_fast, SystemClock(), found.append)
        seconds["verify"] = time.perf_counter() - started
        assert not found, found[:10]

        started = time.perf_counter()
        _, changed = await rebuild(event_log, derive_fast)
        seconds["rebuild_unchanged"] = time.perf_counter() - started
        assert changed == 0, changed

        await database.execute("TRUNCATE executions, execution_logs CASCADE")
        await database.execute("UPDATE execution_counts SET n = 0")
        await database.execute("VACUUM ANALYZE executions, execution_logs")
        started = time.perf_counter()
        await rebuild(event_log, derive_fast)
        seconds["rebuild_from_events"] = time.perf_counter() - started

        await verify(event_log, derive_fast, SystemClock(), found.append)
        assert not found, found[:10]
    finally:
        await database.disconnect()
    return seconds


def main(executions: int, in_flight: int, replicas: int, loop: str) -> None:
    configured = os.environ.get("BENCH_NATS_URL")  # as drain_bench.py: embedded by default
    server = None if configured else EmbeddedNats(Path(tempfile.mkdtemp())).start()
    url = configured or server.url  # type: ignore[union-attr]
    tag = uuid.uuid4().hex[:8]
    subjects, stream = Subjects(f"r{tag}."), f"R{tag}"
    try:
        total = run(publish(url, subjects, stream, executions), loop)
        with fresh_database() as database:
            drained = drain_with_replicas(
                url, subjects.prefix, stream, database.url(), total, in_flight, replicas, loop
            )
            ingested = run(check(database), loop)
            seconds = run(timed_log_work(database), loop)
            assert run(check(database), loop) == ingested, "the rebuild changed what ingest made"
    finally:
        delete_stream(url, stream)
        if server:
            server.stop()
    print(f"events: {total} ({executions} executions, shuffled); ingest by {replicas} "
          f"replica(s), {in_flight} batch(es) in flight each")  # fmt: skip
    rates = {"ingest (NATS -> consumer -> PostgreSQL)": total / drained["seconds"]}
    rates |= {
        "verify, full": total / seconds["verify"],
        "rebuild over rows already right": total / seconds["rebuild_unchanged"],
        "rebuild from the events alone": total / seconds["rebuild_from_events"],
    }
    for name, rate in rates.items():
        print(f"{name + ':':<42}{rate:>9,.0f} events/s")
    ingest = total / drained["seconds"]
    print(
        json.dumps(
            {
                "events": total,
                "ingest_events_per_s": round(ingest),
                "verify_events_per_s": round(total / seconds["verify"]),
                "rebuild_events_per_s": round(total / seconds["rebuild_from_events"]),
                "rebuild_vs_ingest": round(total / seconds["rebuild_from_events"] / ingest, 3),
                "rebuild_unchanged_events_per_s": round(total / seconds["rebuild_unchanged"]),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=ConsumerSettings().concurrency)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    main(args.executions, args.in_flight, args.replicas, args.loop)
