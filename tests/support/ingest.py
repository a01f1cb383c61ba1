"""A steady stream of executions' events for the failover tests, published the way an
orchestrator must publish through a failover (each event retried until JetStream
acknowledges it, with its event id as the message id so a retry is not stored twice), and
the check that the store holds exactly what those events say."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import attrs
import nats
import psycopg

from execution_service.adapters.postgres import PostgresUrl
from support.events import Workflow

NODES = 3


@attrs.frozen
class Expected:
    events: list[tuple[str, bytes, str]]  # subject without prefix, body, event id
    executions: dict[str, str]  # id -> status
    node_runs: dict[tuple[str, str], str]  # (execution id, node id) -> status


def executions(count: int, tag: str) -> Expected:
    """`count` executions of NODES nodes; every third fails at its last node."""
    events: list[tuple[str, bytes, str]] = []
    statuses: dict[str, str] = {}
    runs: dict[tuple[str, str], str] = {}
    for e in range(count):
        execution = f"{tag}-{e}"
        failed = e % 3 == 0
        run = Workflow(execution, e).started(0, workflowId="wf")
        for n in range(NODES):
            last = n == NODES - 1
            run.node(f"n{n}", n + 1, n + 2, failed=failed and last)
            runs[(execution, f"n{n}")] = "FAILED" if failed and last else "COMPLETED"
        run.ended(NODES + 5, failed=failed)
        statuses[execution] = "FAILED" if failed else "COMPLETED"
        for message in run.messages:
            event_id = str(_json(message.data)["eventId"])
            events.append((message.subject, message.data, event_id))
    return Expected(events, statuses, runs)


def _json(data: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(data)
    return value


@attrs.define
class SteadyPublisher:
    """Publishes at `rate` events a second; `acknowledged[i]` is when event i was acked."""

    servers: list[str]
    prefix: str
    rate: float
    acknowledged: list[float] = attrs.Factory(list)
    retries: int = 0
    finished_at: float | None = None

    async def run(self, events: list[tuple[str, bytes, str]]) -> None:
        nc = await nats.connect(self.servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        js = nc.jetstream(timeout=2)
        started = time.monotonic()
        try:
            for i, (subject, body, event_id) in enumerate(events):
                delay = started + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                while True:
                    try:
                        await js.publish(
                            f"{self.prefix}{subject}", body, headers={"Nats-Msg-Id": event_id}
                        )
                        break
                    except Exception:  # noqa: BLE001 - no leader, reconnecting: again
                        self.retries += 1
                        await asyncio.sleep(0.2)
                self.acknowledged.append(time.monotonic())
        finally:
            self.finished_at = time.monotonic()
            await nc.close()


def recorded(url: PostgresUrl, tag: str) -> Expected:
    """What the store holds of the executions named `tag-…` (events without bodies)."""
    pattern = f"{tag}-%"
    with psycopg.connect(url.url()) as conn:
        statuses: dict[str, str] = dict(
            conn.execute("SELECT id, status FROM executions WHERE id LIKE %s", [pattern])
        )
        runs = {
            (e, n): s
            for e, n, s in conn.execute(
                "SELECT execution_id, node_id, status FROM execution_logs"
                " WHERE execution_id LIKE %s",
                [pattern],
            )
        }
        count = conn.execute(
            "SELECT count(*) FROM execution_events WHERE execution_id LIKE %s", [pattern]
        ).fetchone()
    assert count is not None
    return Expected([("", b"", "")] * int(count[0]), statuses, runs)


def dead_letters(url: PostgresUrl) -> int:
    with psycopg.connect(url.url()) as conn:
        row = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert row is not None
    return int(row[0])


def differences(expected: Expected, got: Expected) -> list[str]:
    """Empty when the store holds each event once and every state the events say."""
    found = []
    if len(got.events) != len(expected.events):
        found.append(f"{len(got.events)} events stored, {len(expected.events)} published")
    wrong = {k: (v, got.executions.get(k)) for k, v in expected.executions.items()
             if got.executions.get(k) != v}  # fmt: skip
    if wrong:
        found.append(f"{len(wrong)} executions differ, e.g. {list(wrong.items())[:3]}")
    runs = {k: (v, got.node_runs.get(k)) for k, v in expected.node_runs.items()
            if got.node_runs.get(k) != v}  # fmt: skip
    if runs or len(got.node_runs) != len(expected.node_runs):
        found.append(f"{len(runs)} node runs differ, e.g. {list(runs.items())[:3]}")
    return found
