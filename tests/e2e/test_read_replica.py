"""The query side on a streaming replica (DATABASE_READ_URL), the rest on the primary. With the
replica's replay paused, a read lags behind what the primary holds, while a retry asked right
after the failure is checked on the primary: 202, not a false 409."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from execution_service.adapters.nats.embedded import free_port
from execution_service.adapters.postgres import PostgresUrl
from support.environment import delete_stream
from support.events import Workflow
from support.ingest import SteadyPublisher
from support.nats import nats_url
from support.patroni import PatroniCluster, missing
from support.polling import poll_until
from support.service import Service, http

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


@pytest.fixture
def cluster() -> Iterator[PatroniCluster]:
    servers = PatroniCluster(synchronous=False).start()
    try:
        yield servers
    finally:
        servers.stop()


def test_reads_come_from_the_replica_and_retries_are_checked_on_the_primary(
    cluster: PatroniCluster, tmp_path: Path
) -> None:
    tag = f"rr{uuid.uuid4().hex[:8]}"
    url = cluster.create_database("es")
    leader = cluster.leader()
    replica = next(n for n in cluster.names if n != leader)
    env = {
        "DATABASE_URL": url.url(),
        "DATABASE_READ_URL": cluster.node_url(replica, "es").url(),
        "NATS_URL": nats_url(),
        "NATS_SUBJECT_PREFIX": tag,
        "NATS_STREAM": tag.upper(),
        "NATS_CONSUMER": tag,
        "PORT": str(free_port()),
    }
    service = Service(env, "serve", log=tmp_path / "serve.log")
    try:
        service.wait_healthy()
        ready = http("GET", f"{service.base}/api/health/ready")
        assert ready[0] == 200 and ready[1]["checks"]["database_read"] == "up", ready
        run = Workflow(f"{tag}-x").started(0, workflowId="wf").node_started("n0", 1)
        _publish(tag, run)
        poll_until(lambda: _status(service, f"{tag}-x") == "RUNNING", 30, what="RUNNING read")

        cluster.maintenance()  # else Patroni resumes the replay
        with psycopg.connect(cluster.node_url(replica, "es").url(), autocommit=True) as standby:
            standby.execute("SELECT pg_wal_replay_pause()")
            run.messages.clear()
            _publish(tag, run.node_ended("n0", 2, failed=True).ended(3, failed=True))
            primary = cluster.node_url(str(leader), "es")
            poll_until(lambda: _status_on(primary, f"{tag}-x") == "FAILED", 30, what="FAILED")

            assert _status(service, f"{tag}-x") == "RUNNING"  # read on the paused replica
            status, body = http("POST", f"{service.base}/api/executions/{tag}-x/retry")
            assert status == 202, body  # checked on the primary, which knows it FAILED

            standby.execute("SELECT pg_wal_replay_resume()")
        poll_until(lambda: _status(service, f"{tag}-x") == "FAILED", 30, what="replay resumed")
    finally:
        service.process.terminate()
        service.process.wait(30)
        asyncio.run(delete_stream(tag.upper()))


def _publish(tag: str, run: Workflow) -> None:
    events = [(m.subject, m.data, f"{tag}-{i}-{uuid.uuid4().hex}") for i, m in
              enumerate(run.messages)]  # fmt: skip
    asyncio.run(SteadyPublisher([nats_url()], f"{tag}.", 1000.0).run(events))


def _status(service: Service, execution: str) -> str | None:
    status, body = service.get(f"/api/executions/{execution}")
    return body.get("status") if status == 200 else None


def _status_on(url: PostgresUrl, execution: str) -> str | None:
    with psycopg.connect(url.url()) as conn:
        row = conn.execute("SELECT status FROM executions WHERE id = %s", [execution]).fetchone()
    return None if row is None else str(row[0])
