"""Shared by the benchmarks: a throw-away database, and realistic event histories."""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from execution_service.adapters.postgres import PostgresUrl, apply_migrations
from execution_service.domain import RawMessage

T0 = datetime(2026, 11, 25, 10, tzinfo=UTC)


@contextlib.contextmanager
def scratch_database() -> Iterator[PostgresUrl]:
    """On BENCH_DATABASE_URL / TEST_DATABASE_URL's server, else an embedded one."""
    configured = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    server: Any = None
    if configured:
        admin = PostgresUrl.parse(configured)
    else:
        import pgserver

        server = pgserver.get_server(tempfile.mkdtemp(prefix="es-bench-"), cleanup_mode="delete")
        admin = PostgresUrl.parse(server.get_uri())
    name = f"es_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin.with_database(name)
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(admin.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _event(subject: str, data: dict[str, Any], ms: int) -> dict[str, Any]:
    at = (T0 + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")
    return {
        "eventId": str(uuid.uuid4()),
        "eventType": subject,
        "timestamp": at,
        "version": "1.0",
        "data": data,
    }


def workflow_events(executions: int, nodes: int = 49, seed: int = 1) -> list[RawMessage]:
    """Per execution: started, `nodes` × (node started, node completed), completed — with
    nodes=49 that is 100 events. Shuffled: worst case for ordering."""
    out = []
    for e in range(executions):
        execution = f"exec-{e:06d}"
        base = {"executionId": execution, "workflowId": f"wf-{e % 50}", "userId": "u1"}
        out.append(_event("execution.started", base | {"input": {"prompt": "hi"}}, e))
        for n in range(nodes):
            node = {"executionId": execution, "nodeId": f"node-{n}", "nodeType": "agent"}
            out.append(_event("execution.node.started", node | {"input": {"n": n}}, e + n))
            out.append(
                _event(
                    "execution.node.completed",
                    node | {"output": {"text": "ok" * 20}, "duration": 12},
                    e + n + 12,
                )
            )
        out.append(_event("execution.completed", base | {"duration": 900}, e + nodes + 20))
    random.Random(seed).shuffle(out)
    return [RawMessage(m["eventType"], json.dumps(m).encode()) for m in out]
