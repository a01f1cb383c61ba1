"""End to end: 100k events published first, then drained from the same stream, in the same
run, by
  (a) a bare nats-py fetch(500)+ack loop,
  (b) JetStream's pull protocol on the core client, +ACK per message (baselines.py),
  (c) the minimal durable sink: (b), then COPY into a table, commit, ack (baselines.py),
  (d) the service's consumer into PostgreSQL, every event checked afterwards.
The service drains in child processes (one per replica, sharing the durable consumer, all
started before the clock starts) so that each one's memory and CPU are its own.
`--preload N` first stores N other events through the service's own store, to show whether
the cost per event stays flat as the tables grow. `--traces` drains the stream a second time,
into a fresh database, with trace export on (issue 20): each replica also runs the export loop
to a real OTLP/HTTP receiver in this process (tests/support/otlp.py), OTEL_EXPORT_DELAY 0, and
its clock stops only when the stream is drained and no trace waits; every trace is checked
received, once. The last line is JSON, for scripts.

    ./pants run bench/drain_bench.py -- --executions 1000 [--in-flight 1] [--replicas 2]
        [--preload 2000000] [--loop asyncio] [--stream-replicas 3] [--traces]
Against the failover tests' clusters (bench/topology.py): BENCH_NATS_URL one server of a NATS
cluster (with --stream-replicas 3), TEST_DATABASE_URL Patroni's primary and standby.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import asyncpg
import nats
from baselines import pull_drain, sink_drain
from nats.js.api import AckPolicy, ConsumerConfig
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry

from common import (
    delete_stream,
    postmaster_of,
    run,
    servers_cpu,
    since,
    tree_cpu,
    watch_servers,
    workflow_events,
)
from execution_service.adapters.nats import (
    ConsumerSettings,
    EmbeddedNats,
    EventConsumer,
    Subjects,
    bind_or_create_stream,
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
from support.postgres import fresh_database, server_url

NO_TRACES = "-"


async def publish(
    url: str, subjects: Subjects, stream: str, executions: int, replicas: int = 1
) -> int:
    messages = workflow_events(executions)
    nc = await nats.connect(url)
    js = nc.jetstream()
    await bind_or_create_stream(js, subjects, stream, replicas=replicas)
    for start in range(0, len(messages), 1000):
        for m in messages[start : start + 1000]:
            await js.publish_async(subjects.prefix + m.subject, m.data)
        await js.publish_async_completed()
    await nc.close()
    return len(messages)


async def bare_drain(
    url: str, subjects: Subjects, stream: str, total: int
) -> tuple[float, dict[str, float]]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=2000)
    sub = await js.pull_subscribe(subjects.events, durable="bare", stream=stream, config=config)
    seen = 0
    started, cpu, servers = time.perf_counter(), time.process_time(), servers_cpu()
    while seen < total:
        try:
            batch = await sub.fetch(500, timeout=1)
        except TimeoutError:
            continue
        for msg in batch:
            await msg.ack()
        seen += len(batch)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    servers = since(servers)
    await sub.unsubscribe()
    await nc.flush()
    await nc.close()
    return seconds, {"cpu": cpu, **servers}


async def service_drain(
    url: str,
    prefix: str,
    stream: str,
    database: str,
    total: int,
    in_flight: int,
    durable: str = "svc",
    receiver: str = NO_TRACES,
) -> None:
    """A child: start the service's consumer, say "ready", wait for "go" on stdin, drain until
    the durable consumer has nothing pending or unacknowledged (with several replicas, that is
    everyone's work) and, with traces on, no trace waits for export, say "drained", wait for
    "bye", and report seconds, own CPU and peak RSS."""
    db = create_database(PostgresUrl.parse(database))
    await db.connect()
    nc = await nats.connect(url)
    settings = ConsumerSettings(stream=stream, durable=durable, concurrency=in_flight)
    traced = receiver != NO_TRACES
    recorder = PostgresRecorder(db, trace_delay=0.0 if traced else None)
    consumer = EventConsumer(nc, recorder, Subjects(prefix), settings)
    await consumer.start()
    export = None
    if traced:
        options = TraceOptions(Resource({"service.name": "bench"}))
        exporter = OtlpTraceExporter(receiver, options, processes=1)  # as the service does
        metrics = PrometheusTraceMetrics(CollectorRegistry(), lambda: recorder.late_trace_events)
        export = TraceExport(PostgresTraceOutbox(db, decode_event_body), exporter, metrics, 0.02)
        await exporter.export([])  # its worker process started before the clock
    gc.freeze()  # as the service does once started (app/web.py)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    peak, done = 0, False

    def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, _rss_kib())
            time.sleep(0.05)

    started, cpu = time.perf_counter(), tree_cpu(os.getpid())  # the export's worker's too
    threading.Thread(target=sample, daemon=True).start()
    task = asyncio.create_task(consumer.run())
    exporting = asyncio.create_task(export.run()) if export is not None else None
    js = nc.jetstream()
    while True:
        await asyncio.sleep(0.02)
        info = await js.consumer_info(stream, durable)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
    while traced and await db.fetch_val(
        "SELECT count(*) FROM trace_outbox WHERE exported_at IS NULL"
    ):
        await asyncio.sleep(0.02)
    seconds, cpu, done = time.perf_counter() - started, tree_cpu(os.getpid()) - cpu, True
    if exporting is not None:
        exporting.cancel()
    # the parent reads the servers' CPU while this process's database backends still live
    print("drained", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    consumer.stop()
    await task
    await nc.close()
    await db.disconnect()
    result = {"seconds": seconds, "cpu": cpu, "peak_rss_kib": peak}
    print(json.dumps(result | {"applied": consumer.stats.applied}))


async def check(url: PostgresUrl) -> dict[str, int]:
    """Every event applied correctly: each workflow of common.workflow_events ends COMPLETED
    with all its node runs COMPLETED, and every event is in the history once."""
    conn = await asyncpg.connect(**url.connect_kwargs())
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM executions WHERE status = 'COMPLETED') AS completed,
                  (SELECT count(*) FROM executions) AS executions,
                  (SELECT count(*) FROM execution_logs WHERE status = 'COMPLETED'
                     AND started_at IS NOT NULL) AS runs,
                  (SELECT count(*) FROM execution_events) AS events"""
    )
    await conn.close()
    return dict(row)


def drain_with_replicas(
    url: str,
    prefix: str,
    stream: str,
    database: str,
    total: int,
    in_flight: int,
    replicas: int,
    loop: str,
    durable: str = "svc",
    receiver: str = NO_TRACES,
) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", url, prefix, stream, database, str(total),
               str(in_flight), loop, durable, receiver]  # fmt: skip
    children = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(replicas)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    servers = servers_cpu()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "drained"
    servers = since(servers)
    outputs = [child.communicate("bye\n", timeout=600)[0] for child in children]
    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    assert all(child.returncode == 0 for child in children)
    assert sum(r["applied"] for r in results) == total, results
    return {
        "seconds": max(r["seconds"] for r in results),
        "cpu": sum(r["cpu"] for r in results),
        "peak_rss_kib": max(r["peak_rss_kib"] for r in results),
        **servers,
    }


async def preload(url: PostgresUrl, events: int) -> None:
    """Store `events` other events through the service's own store, in big batches; then let
    the database settle as it would have over that much traffic (statistics gathered, dead rows
    vacuumed, a checkpoint behind it), so that the drain measures tables that size rather than
    autovacuum and a checkpoint catching up with a bulk load."""
    db = create_database(url)
    await db.connect()
    store = PostgresRecorder(db)
    messages = workflow_events(max(events // 100, 1), seed=2, prefix="old")
    for start in range(0, len(messages), 5000):
        parsed = [parse_message(m) for m in messages[start : start + 5000]]
        await store.record([e for e in parsed if isinstance(e, Event)], [])
    await db.execute("VACUUM ANALYZE")
    await db.execute("CHECKPOINT")
    await db.disconnect()


async def _postmaster(url: PostgresUrl) -> int:
    conn = await asyncpg.connect(**url.connect_kwargs())
    try:
        return postmaster_of(await conn.fetchval("SELECT pg_backend_pid()"))
    finally:
        await conn.close()


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def traced_drain(
    url: str, prefix: str, stream: str, total: int, executions: int, args: tuple[int, int, str]
) -> dict[str, float]:
    """The service's drain again, from the stream's start, into a fresh database, with trace
    export on to a receiver in this process: every trace received once."""
    in_flight, replicas, loop = args
    with fresh_database() as database, receiver_thread() as otlp:
        result = drain_with_replicas(
            url, prefix, stream, database.url(), total, in_flight, replicas, loop,
            durable="svc-traced", receiver=otlp.receiver.url,
        )  # fmt: skip
        roots = [s.attributes["execution.id"] for s in otlp.receiver.roots()]
    assert len(roots) == len(set(roots)) == executions, (len(roots), len(set(roots)))
    return result


def main(
    executions: int,
    in_flight: int,
    replicas: int,
    preloaded: int,
    loop: str,
    stream_replicas: int = 1,
    traces: bool = False,
) -> None:
    # Not TEST_NATS_URL: Debian's nats-server 2.9.10 there served this consumer's fetches in
    # 0.3-1.7 s each for several seconds of a drain (the server busy, ~350 µs of its CPU per
    # event), where the embedded 2.15 took 5-10 ms: a benchmark of that server, not of ours.
    configured = os.environ.get("BENCH_NATS_URL")
    server = None if configured else EmbeddedNats(Path(tempfile.mkdtemp())).start()
    url = configured or server.url  # type: ignore[union-attr]
    tag = uuid.uuid4().hex[:8]
    subjects, stream = Subjects(f"b{tag}."), f"B{tag}"
    nats_pid = server.process.pid if server and server.process else None
    watch_servers(run(_postmaster(server_url()), loop), nats_pid)
    try:
        total = run(publish(url, subjects, stream, executions, stream_replicas), loop)
        fetch = run(bare_drain(url, subjects, stream, total), loop)
        pull = run(pull_drain(url, stream, subjects.events, total), loop)
        with fresh_database() as database:
            sink = run(
                sink_drain(url, stream, subjects.events, total, database.connect_kwargs()), loop
            )
            if preloaded:
                started = time.perf_counter()
                run(preload(database, preloaded), loop)
                print(f"preloaded {preloaded:,} events in {time.perf_counter() - started:.0f} s")
            result = drain_with_replicas(
                url, subjects.prefix, stream, database.url(), total, in_flight, replicas, loop
            )
            checked = run(check(database), loop)
        traced = None
        if traces:
            args = (in_flight, replicas, loop)
            traced = traced_drain(url, subjects.prefix, stream, total, executions, args)
    finally:
        delete_stream(url, stream)
        if server:
            server.stop()
    service = result["seconds"]
    nodes = (total // executions - 2) // 2
    old = max(preloaded // 100, 1) if preloaded else 0
    assert checked["events"] == total + old * 100, checked
    assert checked["completed"] == checked["executions"] == executions + old, checked
    assert checked["runs"] == (executions + old) * nodes, checked
    print(f"events: {total} ({executions} executions, shuffled), published before draining;"
          f" {preloaded:,} events stored before; event loop: {loop};"
          f" stream replicas: {stream_replicas}")  # fmt: skip

    def cpu(spent: dict[str, float]) -> str:
        per = {name: spent[name] / total * 1e6 for name in ("cpu", "postgres", "nats-server")}
        return (
            f"CPU µs/event: own {per['cpu']:.0f}, PostgreSQL {per['postgres']:.0f},"
            f" NATS {per['nats-server']:.0f}; all {sum(per.values()):.0f}"
        )

    rates = {}
    for name, (seconds, spent) in {
        "nats-py fetch(500)+ack drain": fetch,
        "pull protocol +ACK drain": pull,
        "minimal durable sink (COPY)": sink,
    }.items():
        rates[name] = total / seconds
        print(f"{name + ':':<42}{total / seconds:>9,.0f} events/s")
        print(f"  {cpu(spent)}")
    print(
        f"{'service drain (parse, record, ack) -> PG:':<42}{total / service:>9,.0f} events/s"
        f" ({replicas} replica(s), {in_flight} batch(es) in flight each;"
        " every event applied and checked)"
    )
    print(f"  {cpu(result)}")
    print(f"service peak RSS while draining: {result['peak_rss_kib'] / 1024:.0f} MB per process")
    if traced is not None:
        print(
            f"{'service drain with trace export on:':<42}{total / traced['seconds']:>9,.0f}"
            f" events/s, every trace received: {service / traced['seconds']:.3f}× export off"
        )
        print(f"  {cpu(traced)}")
    fetch_rate, pull_rate, sink_rate = rates.values()
    figures = {
        "events_per_s": round(total / service),
        "sink_events_per_s": round(sink_rate),
        "ingest_vs_sink": round(total / service / sink_rate, 3),
        "ingest_vs_pull": round(total / service / pull_rate, 3),
        "ingest_vs_fetch": round(total / service / fetch_rate, 3),
        "replicas": replicas,
        "preloaded": preloaded,
        "stream_replicas": stream_replicas,
        "peak_rss_mb": round(result["peak_rss_kib"] / 1024),
    }
    if traced is not None:
        figures["traced_events_per_s"] = round(total / traced["seconds"])
        figures["traced_vs_off"] = round(service / traced["seconds"], 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, prefix, stream, database, total, in_flight, loop, durable, receiver = sys.argv[2:11]
        drain = service_drain(
            url, prefix, stream, database, int(total), int(in_flight), durable, receiver
        )
        run(drain, loop)
    else:
        parser = argparse.ArgumentParser()
        parser.add_argument("--executions", type=int, default=1000)
        parser.add_argument(
            "--in-flight", type=int, default=ConsumerSettings().concurrency, help="batches"
        )
        parser.add_argument("--replicas", type=int, default=1, help="service processes")
        parser.add_argument("--preload", type=int, default=0, help="events stored before")
        parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
        parser.add_argument(
            "--stream-replicas", type=int, default=1, help="needs BENCH_NATS_URL on a cluster"
        )
        parser.add_argument("--traces", action="store_true", help="again with export on")
        args = parser.parse_args()
        main(
            args.executions,
            args.in_flight,
            args.replicas,
            args.preload,
            args.loop,
            args.stream_replicas,
            args.traces,
        )
