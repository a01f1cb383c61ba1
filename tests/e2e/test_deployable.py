"""The built PEX, run as `serve` against real PostgreSQL and NATS, seen only over NATS and
HTTP (the database is read directly only to count what was stored)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import psycopg
import pytest

from execution_service.adapters.nats import Subjects
from execution_service.adapters.postgres import PostgresUrl
from execution_service.app.demo import workflow
from support.environment import service_environment
from support.events import history
from support.polling import poll_until
from support.service import OpenApi, Service


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    # the prefix without its dot: the service adds it
    with service_environment(
        "e", {"APP_ENV": "production", "ACK_WAIT_SECONDS": "3"}, prefix_dot=False
    ) as e:
        yield e


async def publish(env: dict[str, str], events: list[tuple[str, bytes]]) -> None:
    nc = await nats.connect(env["NATS_URL"])
    js = nc.jetstream()
    for subject, data in events:
        await js.publish(f"{env['NATS_SUBJECT_PREFIX']}.{subject}", data)
    await nc.close()


async def consumer_settled(env: dict[str, str]) -> bool:
    """Every event acknowledged and none left to deliver: nothing can come again."""
    nc = await nats.connect(env["NATS_URL"])
    try:
        info = await nc.jetstream().consumer_info(env["NATS_STREAM"], env["NATS_CONSUMER"])
        return info.num_ack_pending == 0 and info.num_pending == 0
    finally:
        await nc.close()


def test_serve_records_workflows_serves_them_retries_and_stops_on_sigterm(
    env: dict[str, str], tmp_path: Path
) -> None:
    service = Service(env, "serve", log=tmp_path / "serve.log")
    service.wait_healthy()
    start = datetime(2026, 11, 25, 10, tzinfo=UTC)
    events = []
    for outcome in ("completed", "failed", "cancelled"):
        events += [(s, json.dumps(e).encode()) for s, e in workflow(outcome, start, f"x-{outcome}")]
    asyncio.run(publish(env, events))
    poll_until(
        lambda: service.get("/api/executions/x-cancelled")[1].get("status") == "CANCELLED",
        timeout=60,
        what="the events applied",
    )
    status, document = service.get("/api/docs/swagger.json")
    api = OpenApi(document)
    seen = []
    for path in [
        "/api/executions?page=1&limit=10",
        "/api/executions/x-completed",
        "/api/executions/x-failed",
        "/api/executions/x-cancelled",
        "/api/executions/x-failed/logs",
        "/api/executions/x-completed/logs?pageSize=2",
        "/api/executions/nope",
        "/api/executions?limit=0",
        "/api/health",
        "/api/dead-letters",
        "/api/executions/x-failed/events",
    ]:
        status, body = service.get(path)
        api.check("GET", path, status, body)
        seen.append((path, status, body))
    listed = seen[0][2]
    # all three started at the same instant: newest first, then by id descending
    assert [e["id"] for e in listed["data"]] == ["x-failed", "x-completed", "x-cancelled"]
    assert seen[1][2]["status"] == "COMPLETED" and seen[1][2]["nodes"]["completed"] == 3
    failed = seen[2][2]
    assert failed["status"] == "FAILED" and failed["nodes"] == {
        "total": 2, "running": 0, "completed": 1, "failed": 1,
    }  # fmt: skip
    assert seen[3][2]["status"] == "CANCELLED" and seen[3][2]["error"] == "cancelled by the user"
    logs = seen[4][2]
    assert [(r["nodeId"], r["status"]) for r in logs["data"]] == [
        ("plan", "COMPLETED"),
        ("search", "FAILED"),
    ]
    assert seen[6][1] == 404 and seen[7][1] == 400

    async def retry() -> tuple[int, Any, Any]:
        nc = await nats.connect(env["NATS_URL"])
        sub = await nc.subscribe(Subjects(env["NATS_SUBJECT_PREFIX"]).retry_requested)
        status, body = await asyncio.to_thread(service.post, "/api/executions/x-failed/retry")
        received = json.loads((await sub.next_msg(timeout=10)).data)
        await nc.close()
        return status, body, received

    status, body, received = asyncio.run(retry())
    api.check("POST", "/api/executions/x-failed/retry", status, body)
    assert status == 202 and body["failedNodeId"] == "search" and body["attempt"] == 2
    assert received["eventType"] == "execution.retry.requested"
    assert received["data"]["executionId"] == "x-failed"
    assert received["data"]["failedNodeId"] == "search" and received["data"]["attempt"] == 2
    retries = service.get("/api/executions/x-failed/retries")
    api.check("GET", "/api/executions/x-failed/retries", *retries)
    assert [r["attempt"] for r in retries[1]["data"]] == [2]
    # one time format: what was published reads the same as what is served
    assert retries[1]["data"][0]["requestedAt"] == received["data"]["requestedAt"]
    conflict = service.post("/api/executions/x-completed/retry")
    api.check("POST", "/api/executions/x-completed/retry", *conflict)
    assert conflict[0] == 409

    assert service.stop(signal.SIGTERM) == 0
    lines = (tmp_path / "serve.log").read_text().splitlines()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert logged and all("level" in entry for entry in logged)  # JSON logs in production


def test_sigkill_mid_stream_then_restart_applies_every_event_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    events = history(executions=60, nodes=4)  # 600 events
    service = Service(env | {"BATCH_SIZE": "20"}, "serve", log=tmp_path / "first.log")
    service.wait_healthy()
    asyncio.run(publish(env, [(m.subject, m.data) for m in events]))
    poll_until(lambda: service.get("/api/executions?limit=1")[1]["pagination"]["total"] > 5, 60)
    service.stop(signal.SIGKILL)  # no goodbye: the batch in hand is neither committed nor acked
    restarted = Service(env, "serve", log=tmp_path / "second.log")
    restarted.wait_healthy()
    url = PostgresUrl.parse(env["DATABASE_URL"])

    def stored() -> int:
        with psycopg.connect(url.url()) as conn:
            row = conn.execute("SELECT count(*) FROM execution_events").fetchone()
            return int(row[0]) if row else 0

    poll_until(lambda: stored() == len(events), timeout=90, what="every event stored")
    poll_until(lambda: asyncio.run(consumer_settled(env)), timeout=30, what="every event acked")
    status, body = restarted.get("/api/executions?limit=100")
    assert status == 200 and body["pagination"]["total"] == 60
    summary = {e["id"]: (e["status"], e["nodes"]) for e in body["data"]}
    for e in range(60):  # as history() builds them: every third fails at its last node
        failed = e % 3 == 0
        nodes = {"total": 4, "running": 0, "completed": 3 if failed else 4, "failed": int(failed)}
        assert summary[f"e{e}"] == ("FAILED" if failed else "COMPLETED", nodes), e
    assert restarted.stop(signal.SIGTERM) == 0
