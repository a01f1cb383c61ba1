"""GET /api/executions/{id} and GET /api/executions?page=1&limit=10 with 100k executions
stored, under wrk (32 connections), next to two baselines in the same run, on the same event
loop: a bare aiohttp handler returning the same JSON from memory, and the minimal read —
aiohttp and an asyncpg pool, one primary-key SELECT of the execution's row, as JSON. Also the
304 path (If-None-Match holding the ETag) beside the 200 one, and the cursor page at the last
row of the list beside the first cursor page and beside the same page asked for by OFFSET
(page=N). Needs wrk (apt-get install wrk). The last line is JSON, for scripts.

    ./pants run bench/http_bench.py -- --executions 100000 --seconds 10 [--loop asyncio]
        [--reads-on-standby]

--reads-on-standby: TEST_DATABASE_URL names a primary and its standby (bench/topology.py
--patroni async), and the service reads the query side from the standby (DATABASE_READ_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import resource
import subprocess
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import attrs
from aiohttp import web

from common import T0, cpu_seconds, servers_cpu, since
from execution_service.adapters.nats import EmbeddedNats
from execution_service.adapters.nats.embedded import free_port
from execution_service.adapters.postgres import PostgresUrl, create_database
from execution_service.adapters.postgres.rows import (
    EXECUTION_IN,
    NODE_RUN_IN,
    execution_rows,
    node_run_rows,
)
from execution_service.domain import (
    Event,
    EventKind,
    ExecutionFilter,
    ExecutionOrder,
    Position,
    encode_cursor,
    project,
)
from support.postgres import fresh_database


def _events(number: int) -> list[Event]:
    execution = f"exec-{number:07d}"
    start = T0 + timedelta(seconds=number)
    common = {"execution_id": execution, "timestamp": start, "at": start}
    out = [
        Event(f"{execution}-s", EventKind.EXECUTION_STARTED, workflow_id=f"wf-{number % 50}",
              user_id="u1", input={"prompt": "hello"}, **common),  # type: ignore[arg-type]
    ]  # fmt: skip
    for node in ("plan", "write"):
        out.append(Event(f"{execution}-{node}-s", EventKind.NODE_STARTED, node_id=node,
                         node_type="agent", **common))  # type: ignore[arg-type]  # fmt: skip
        out.append(Event(f"{execution}-{node}-c", EventKind.NODE_COMPLETED, node_id=node,
                         output={"ok": True}, duration=40, **common))  # type: ignore[arg-type]  # fmt: skip
    kind = EventKind.EXECUTION_FAILED if number % 7 == 0 else EventKind.EXECUTION_COMPLETED
    out.append(Event(f"{execution}-end", kind, duration=90, error=None, **common))  # type: ignore[arg-type]
    return out


async def seed(url: PostgresUrl, executions: int) -> None:
    """The rows the store would write, folded by the domain and copied in bulk (the counts
    follow: COPY fires the triggers that keep them), on a connection of the store's own pool
    (its codecs write JSON as the store does)."""
    database = create_database(url, min_size=1, max_size=1)
    await database.connect()
    async with database.connection() as connection:
        await _copy(connection, executions)
    await database.disconnect()


async def _copy(conn: asyncpg.Connection, executions: int) -> None:
    for start in range(0, executions, 10_000):
        state = project(
            e for n in range(start, min(start + 10_000, executions)) for e in _events(n)
        )
        await conn.copy_records_to_table(
            "executions",
            records=execution_rows(sorted(state.executions.items())),
            columns=list(EXECUTION_IN),
        )
        await conn.copy_records_to_table(
            "execution_logs",
            records=node_run_rows(sorted(state.node_runs.items())),
            columns=list(NODE_RUN_IN),
        )
    await conn.execute("ANALYZE")


def run_service(env: dict[str, str]) -> None:
    os.environ.update(env)
    from execution_service.app.cli import main

    main(["serve"])


def run_bare(port: int, by_id: bytes, page: bytes, loop: str) -> None:
    async def one(_: web.Request) -> web.Response:
        return web.Response(body=by_id, content_type="application/json")

    async def many(_: web.Request) -> web.Response:
        return web.Response(body=page, content_type="application/json")

    if loop == "uvloop":
        import uvloop

        uvloop.install()
    app = web.Application()
    app.router.add_get("/api/executions/{id}", one)
    app.router.add_get("/api/executions", many)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def run_min_read(port: int, dsn: dict[str, Any], loop: str) -> None:
    """The least a correct read can do: the row by its primary key, as JSON."""

    async def pool_context(app: web.Application) -> Any:
        app["pool"] = await asyncpg.create_pool(min_size=2, max_size=10, **dsn)
        yield
        await app["pool"].close()

    async def one(request: web.Request) -> web.Response:
        row = await request.app["pool"].fetchrow(
            "SELECT * FROM executions WHERE id = $1", request.match_info["id"]
        )
        if row is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=json.dumps(dict(row), default=str), content_type="application/json"
        )

    if loop == "uvloop":
        import uvloop

        uvloop.install()
    app = web.Application()
    app.cleanup_ctx.append(pool_context)
    app.router.add_get("/api/executions/{id}", one)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def wait(url: str) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def wrk(url: str, seconds: int, headers: tuple[str, ...] = ()) -> dict[str, float]:
    given = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", *given, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise AssertionError(f"{errors.group(1)} failed responses from {url}")
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%")}


def measured(pid: int, url: str, seconds: int, headers: tuple[str, ...] = ()) -> dict[str, float]:
    """wrk's figures, and the CPU the server process, PostgreSQL and wrk spent per request."""
    before, servers, load = cpu_seconds(pid), servers_cpu(), _children_cpu()
    result = wrk(url, seconds, headers)
    requests = result["rps"] * seconds
    result["cpu_us"] = (cpu_seconds(pid) - before) / requests * 1e6
    result["pg_us"] = since(servers)["postgres"] / requests * 1e6
    result["wrk_us"] = (_children_cpu() - load) / requests * 1e6
    return result


async def deep_cursor(url: PostgresUrl, executions: int, limit: int) -> str:
    """The cursor of the list's last page: the position of the row before it."""
    conn = await asyncpg.connect(**url.connect_kwargs())
    row = await conn.fetchrow(
        "SELECT started_at, id FROM executions ORDER BY started_at DESC NULLS LAST, id DESC"
        f" OFFSET {max(executions - limit - 1, 0)} LIMIT 1"
    )
    await conn.close()
    position = Position(row["started_at"], row["id"])
    return encode_cursor(ExecutionFilter(), ExecutionOrder.NEWEST_STARTED, position)


def _children_cpu() -> float:
    """CPU of the finished child processes waited for (wrk's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def round_trip_cpu_us(url: PostgresUrl, n: int = 3000) -> float:
    """Client CPU of one PostgreSQL round trip (SELECT 1) from Python on this machine."""
    conn = await asyncpg.connect(**url.connect_kwargs())
    await conn.fetchval("SELECT 1")
    started = time.process_time()
    for _ in range(n):
        await conn.fetchval("SELECT 1")
    spent = time.process_time() - started
    await conn.close()
    return spent / n * 1e6


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(executions: int, seconds: int, loop: str, reads_on_standby: bool = False) -> None:
    nats_url = os.environ.get("BENCH_NATS_URL") or os.environ.get("TEST_NATS_URL")
    server = None if nats_url else EmbeddedNats(Path(tempfile.mkdtemp())).start()
    context = multiprocessing.get_context("fork")
    with fresh_database() as url:
        asyncio.run(seed(url, executions))
        port, bare_port, min_port = free_port(), free_port(), free_port()
        tag = os.urandom(4).hex()
        env = {
            "DATABASE_URL": url.url(), "NATS_URL": nats_url or server.url,  # type: ignore[union-attr]
            "PORT": str(port), "APP_ENV": "production", "LOG_LEVEL": "WARNING",
            "NATS_SUBJECT_PREFIX": f"h{tag}.", "NATS_STREAM": f"H{tag}",
        }  # fmt: skip
        if reads_on_standby:
            env["DATABASE_READ_URL"] = attrs.evolve(url, target_session_attrs="standby").url()
        service = context.Process(target=run_service, args=(env,))
        service.start()
        children = [service]
        try:
            base = f"http://127.0.0.1:{port}"
            wait(f"{base}/api/health")
            by_id_path = f"/api/executions/exec-{executions // 2:07d}"
            wait(base + by_id_path)  # on a standby, once it has replayed the seeding
            page_path = "/api/executions?page=1&limit=10"
            by_id_response = urllib.request.urlopen(base + by_id_path)
            by_id, etag = by_id_response.read(), by_id_response.headers["ETag"]
            not_modified = (f"If-None-Match: {etag}",)
            cursor = asyncio.run(deep_cursor(url, executions, 10))
            first_cursor_path = "/api/executions?limit=10&cursor="
            deep_cursor_path = f"/api/executions?limit=10&cursor={cursor}"
            deep_offset_path = f"/api/executions?limit=10&page={-(-executions // 10)}"
            deepest = json.loads(urllib.request.urlopen(base + deep_cursor_path).read())
            assert deepest["data"][-1]["id"] == "exec-0000000", "the deep cursor is not deep"
            page = urllib.request.urlopen(base + page_path).read()
            bare = context.Process(target=run_bare, args=(bare_port, by_id, page, loop))
            min_read = context.Process(
                target=run_min_read, args=(min_port, url.connect_kwargs(), loop)
            )
            for process in (bare, min_read):
                process.start()
                children.append(process)
            wait(f"http://127.0.0.1:{bare_port}/api/executions")
            wait(f"http://127.0.0.1:{min_port}{by_id_path}")
            s_pid, b_pid, m_pid = service.pid, bare.pid, min_read.pid
            bare_base = f"http://127.0.0.1:{bare_port}"
            min_base = f"http://127.0.0.1:{min_port}"
            results = {
                "service by id": measured(s_pid, base + by_id_path, seconds),  # type: ignore[arg-type]
                "minimal read": measured(m_pid, min_base + by_id_path, seconds),  # type: ignore[arg-type]
                "bare by id": measured(b_pid, bare_base + by_id_path, seconds),  # type: ignore[arg-type]
                "service list": measured(s_pid, base + page_path, seconds),  # type: ignore[arg-type]
                "bare list": measured(b_pid, bare_base + page_path, seconds),  # type: ignore[arg-type]
                "by id 304": measured(s_pid, base + by_id_path, seconds, not_modified),  # type: ignore[arg-type]
                "cursor page 1": measured(s_pid, base + first_cursor_path, seconds),  # type: ignore[arg-type]
                "cursor last": measured(s_pid, base + deep_cursor_path, seconds),  # type: ignore[arg-type]
                "offset last": measured(s_pid, base + deep_offset_path, seconds),  # type: ignore[arg-type]
            }
            peak = rss_peak_mb(service.pid)  # type: ignore[arg-type]
            round_trip = asyncio.run(round_trip_cpu_us(url))
        finally:
            for process in children:
                process.terminate()
                process.join(20)
    if server:
        server.stop()
    print(f"{executions} executions stored; wrk -t2 -c32 -d{seconds}s; event loop: {loop}")
    for name, r in results.items():
        latency = f"p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms"
        cpu = (
            f"CPU µs/request: server {r['cpu_us']:4.0f}, PostgreSQL {r['pg_us']:3.0f},"
            f" wrk {r['wrk_us']:3.0f}"
        )
        print(f"  {name:<14} {r['rps']:>9,.0f} req/s   {latency}   {cpu}")
    sb, bb = results["service by id"], results["bare by id"]
    sl, mr = results["service list"], results["minimal read"]
    print(f"by id: service/bare throughput {sb['rps'] / bb['rps']:.2f}")
    print(f"by id: service/minimal read throughput {sb['rps'] / mr['rps']:.2f}")
    print(f"list p50 / by-id p50: {sl['p50'] / sb['p50']:.2f}  (p99: {sl['p99'] / sb['p99']:.2f})")
    n3, c1, cl, ol = (
        results[k] for k in ("by id 304", "cursor page 1", "cursor last", "offset last")
    )
    print(f"by id: 304/200 throughput {n3['rps'] / sb['rps']:.2f}")
    print(
        f"last page of {executions}: cursor p50 / cursor page 1 p50 {cl['p50'] / c1['p50']:.2f};"
        f" OFFSET p50 / cursor page 1 p50 {ol['p50'] / c1['p50']:.2f}"
    )
    print(f"service peak RSS: {peak:.0f} MB")
    print(f"one PostgreSQL round trip (SELECT 1) costs the client {round_trip:.0f} µs of CPU")
    figures = {
        "by_id_rps": round(sb["rps"]),
        "min_read_rps": round(mr["rps"]),
        "by_id_vs_min_read": round(sb["rps"] / mr["rps"], 3),
        "by_id_vs_bare": round(sb["rps"] / bb["rps"], 3),
        "list_p50_vs_by_id": round(sl["p50"] / sb["p50"], 3),
        "not_modified_rps": round(n3["rps"]),
        "not_modified_vs_200": round(n3["rps"] / sb["rps"], 3),
        "deep_cursor_p50_vs_first": round(cl["p50"] / c1["p50"], 3),
        "deep_offset_p50_vs_first": round(ol["p50"] / c1["p50"], 3),
        "peak_rss_mb": round(peak),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--reads-on-standby", action="store_true", help="DATABASE_READ_URL")
    args = parser.parse_args()
    main(args.executions, args.seconds, args.loop, args.reads_on_standby)
