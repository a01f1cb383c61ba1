"""The export rate of a backlog of finished executions (issue 20): N executions stored through
the service's own recorder with their traces held back, then made due at once and exported by
one replica's export loop (a child process, so that its CPU is its own) to a real OTLP/HTTP
receiver in this process (tests/support/otlp.py). Prints spans/s and the exporter's CPU per
span (its process and its worker process; PostgreSQL's apart). The last line is JSON.

    ./pants run bench/trace_backlog_bench.py -- --executions 100000 [--nodes 9]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry

from common import (
    postmaster_of,
    run,
    servers_cpu,
    since,
    tree_cpu,
    watch_servers,
    workflow_events,
)
from execution_service.adapters.nats.decoding import decode_event_body
from execution_service.adapters.otel import OtlpTraceExporter, TraceOptions
from execution_service.adapters.postgres import (
    PostgresRecorder,
    PostgresTraceOutbox,
    PostgresUrl,
    create_database,
)
from execution_service.adapters.prometheus import PrometheusTraceMetrics
from execution_service.app.tracing import TraceExport
from execution_service.domain import Event, parse_message
from support.otlp import receiver_thread
from support.postgres import fresh_database

_WAITING = "SELECT count(*) FROM trace_outbox WHERE exported_at IS NULL"


async def store(url: PostgresUrl, executions: int, nodes: int) -> int:
    """The executions, finished, their traces waiting; returns how many wait."""
    db = create_database(url)
    await db.connect()
    recorder = PostgresRecorder(db, trace_delay=24 * 3600.0)  # held back while stored
    messages = workflow_events(executions, nodes=nodes)
    for start in range(0, len(messages), 5000):
        parsed = [parse_message(m) for m in messages[start : start + 5000]]
        await recorder.record([e for e in parsed if isinstance(e, Event)], [])
    await db.execute("VACUUM ANALYZE")
    await db.execute("CHECKPOINT")
    waiting = int(await db.fetch_val(_WAITING))
    backend = int(await db.fetch_val("SELECT pg_backend_pid()"))
    watch_servers(postmaster_of(backend))
    await db.disconnect()
    return waiting


async def exporter_process(database: str, receiver: str) -> None:
    """A child: say "ready", wait for "go", make every waiting trace due and export them all
    with the service's own loop, report seconds and CPU, and wait for "bye"."""
    db = create_database(PostgresUrl.parse(database))
    await db.connect()
    options = TraceOptions(Resource({"service.name": "bench"}))
    exporter = OtlpTraceExporter(receiver, options, processes=1)  # as the service does
    metrics = PrometheusTraceMetrics(CollectorRegistry(), lambda: 0)
    export = TraceExport(PostgresTraceOutbox(db, decode_event_body), exporter, metrics, 0.02)
    await exporter.export([])  # its worker process started before the clock
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await db.execute("UPDATE trace_outbox SET due_at = clock_timestamp()")
    started, cpu = time.perf_counter(), tree_cpu(os.getpid())
    task = asyncio.create_task(export.run())
    while await db.fetch_val(_WAITING):
        await asyncio.sleep(0.05)
    seconds, cpu = time.perf_counter() - started, tree_cpu(os.getpid()) - cpu
    task.cancel()
    # the parent reads PostgreSQL's CPU while this process's backends still live
    print(json.dumps({"seconds": seconds, "cpu": cpu}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await db.disconnect()


def main(executions: int, nodes: int, loop: str) -> None:
    with fresh_database() as database, receiver_thread() as otlp:
        started = time.perf_counter()
        waiting = run(store(database, executions, nodes), loop)
        print(f"stored {executions:,} executions ({nodes} nodes each) in"
              f" {time.perf_counter() - started:.0f} s; {waiting:,} traces waiting")  # fmt: skip
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", database.url(), otlp.receiver.url, loop],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        servers = servers_cpu()
        child.stdin.write("go\n")
        child.stdin.flush()
        result = json.loads(child.stdout.readline())
        servers = since(servers)
        child.communicate("bye\n", timeout=60)
        spans = len(otlp.receiver.spans)
        roots = {s.attributes["execution.id"] for s in otlp.receiver.roots()}
    assert child.returncode == 0 and len(roots) == waiting == executions, (len(roots), waiting)
    rate = spans / result["seconds"]
    per_span = result["cpu"] / spans * 1e6
    print(f"exported {waiting:,} traces, {spans:,} spans in {result['seconds']:.1f} s:"
          f" {rate:,.0f} spans/s; exporter CPU {per_span:.0f} µs/span,"
          f" PostgreSQL {servers['postgres'] / spans * 1e6:.0f} µs/span")  # fmt: skip
    postgres = servers["postgres"] / spans * 1e6
    figures = {"traces": waiting, "spans": spans, "spans_per_s": round(rate),
               "exporter_cpu_us_per_span": round(per_span, 1),
               "postgres_cpu_us_per_span": round(postgres, 1)}  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        database, receiver, loop = sys.argv[2:5]
        run(exporter_process(database, receiver), loop)
    else:
        parser = argparse.ArgumentParser()
        parser.add_argument("--executions", type=int, default=10_000)
        parser.add_argument("--nodes", type=int, default=9, help="node runs per execution")
        parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
        args = parser.parse_args()
        main(args.executions, args.nodes, args.loop)
