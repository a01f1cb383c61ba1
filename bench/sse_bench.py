"""Ingest with idle live-update clients connected, against none, in the same run; and the
serving process's memory with many clients.

For each client count, a fresh service (`serve`, in a child process) on a fresh database and
stream: a number of executions that stay RUNNING are recorded first, each client follows one of
them (`GET /api/executions/{id}/stream`, so it is connected but hears nothing more), then a
shuffled workflow history is published and the clock runs until every event is recorded and
acknowledged. The service is the same in every round; only the clients differ. The last line
is JSON, for scripts.

    ./pants run bench/sse_bench.py -- --executions 1000 --clients 0 100 [--rss-clients 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import nats

from common import T0, workflow_events
from execution_service.adapters.nats import EmbeddedNats, Subjects, bind_or_create_stream
from execution_service.adapters.nats.embedded import free_port
from support.postgres import fresh_database


def run_service(env: dict[str, str]) -> None:
    os.environ.update(env)
    from execution_service.app.cli import main

    main(["serve"])


def _idle(number: int) -> bytes:
    return json.dumps(
        {
            "eventId": f"idle-{number}",
            "eventType": "execution.started",
            "timestamp": T0.isoformat().replace("+00:00", "Z"),
            "data": {"executionId": f"idle-{number:05d}", "workflowId": "idle"},
        }
    ).encode()


async def _drained(js: nats.js.JetStreamContext, stream: str, durable: str) -> None:
    while True:
        info = await js.consumer_info(stream, durable)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.02)


async def one_round(url: str, nats_url: str, executions: int, clients: int) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    subjects, stream, durable = Subjects(f"s{tag}."), f"S{tag}", f"sse{tag}"
    port = free_port()
    env = {
        "DATABASE_URL": url, "NATS_URL": nats_url, "PORT": str(port), "APP_ENV": "production",
        "LOG_LEVEL": "WARNING", "NATS_SUBJECT_PREFIX": subjects.prefix, "NATS_STREAM": stream,
        "NATS_CONSUMER": durable, "SSE_MAX_CLIENTS": str(max(clients, 1) + 10),
    }  # fmt: skip
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await bind_or_create_stream(js, subjects, stream)
    service = multiprocessing.get_context("fork").Process(target=run_service, args=(env,))
    service.start()
    base = f"http://127.0.0.1:{port}"
    try:
        # no cap on connections: the clients hold theirs open
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            while True:
                try:
                    async with http.get(f"{base}/api/health/ready") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            idle = max(clients, 1)
            for n in range(idle):
                await js.publish_async(f"{subjects.prefix}execution.started", _idle(n))
            await js.publish_async_completed()
            await _drained(js, stream, durable)
            streams = [
                await http.get(f"{base}/api/executions/idle-{n % idle:05d}/stream")
                for n in range(clients)
            ]
            for response in streams:
                assert response.status == 200, response.status
                await response.content.readline()  # connected: the snapshot is on its way
            messages = workflow_events(executions)
            started = time.perf_counter()
            for start in range(0, len(messages), 1000):
                for m in messages[start : start + 1000]:
                    await js.publish_async(subjects.prefix + m.subject, m.data)
                await js.publish_async_completed()
            await _drained(js, stream, durable)
            seconds = time.perf_counter() - started
            peak_rss = _peak_rss_mb(service.pid)  # type: ignore[arg-type]
            async with http.get(f"{base}/api/executions?limit=1&workflowId=wf-1") as response:
                assert response.status == 200
            for response in streams:
                response.close()
    finally:
        service.terminate()
        service.join(30)
        await js.delete_stream(stream)
        await nc.close()
    return {
        "events_per_s": len(messages) / seconds,
        "rss_mb": peak_rss,
    }


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(executions: int, counts: list[int], rss_clients: int) -> None:
    configured = os.environ.get("BENCH_NATS_URL")
    server = None if configured else EmbeddedNats(Path(tempfile.mkdtemp())).start()
    nats_url = configured or server.url  # type: ignore[union-attr]
    results: dict[int, dict[str, float]] = {}
    try:
        for clients in [*counts, *counts[::-1]]:  # each count twice, in both orders
            with fresh_database() as database:
                figures = asyncio.run(one_round(database.url(), nats_url, executions, clients))
            print(
                f"{clients:>5} idle SSE clients: {figures['events_per_s']:>8,.0f} events/s,"
                f" service peak RSS {figures['rss_mb']:.0f} MB"
            )
            best = results.setdefault(clients, figures)
            best["events_per_s"] = max(best["events_per_s"], figures["events_per_s"])
        if rss_clients:
            with fresh_database() as database:
                many = asyncio.run(one_round(database.url(), nats_url, executions, rss_clients))
            print(f"{rss_clients} SSE clients: service peak RSS {many['rss_mb']:.0f} MB")
    finally:
        if server:
            server.stop()
    base = results[counts[0]]["events_per_s"]
    summary = {
        f"ingest_{c}_clients_vs_{counts[0]}": round(r["events_per_s"] / base, 3)
        for c, r in results.items()
    }
    if rss_clients:
        summary[f"rss_mb_{rss_clients}_clients"] = round(many["rss_mb"])
    print(json.dumps(summary))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=1000, help="100 events each")
    parser.add_argument("--clients", type=int, nargs="+", default=[0, 100])
    parser.add_argument("--rss-clients", type=int, default=0)
    args = parser.parse_args()
    main(args.executions, args.clients, args.rss_clients)
