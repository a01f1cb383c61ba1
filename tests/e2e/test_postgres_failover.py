"""PostgreSQL that fails over under the service: Patroni with two PostgreSQL 15 nodes and etcd,
DATABASE_URL naming both. Events flow at a steady rate; the primary's whole node (Patroni and
PostgreSQL) is killed with SIGKILL, as when its machine dies; Patroni promotes the standby, and
the old node comes back as a standby. The service is never restarted.

Synchronous replication (synchronous_mode): nothing acknowledged is lost, nothing is applied
twice, and a live stream opened before the kill carries changes after it.
Asynchronous replication with a lagging standby (its WAL receiver stopped for a few seconds
before the kill, as a loaded network would leave it, then killed with the primary): what the
service had committed and acknowledged, and the standby had not received, is gone. That case
runs when PATRONI_ASYNC_FAILOVER=1 and reports how much; docs/OPERATIONS.md (Topologies) has
the figures."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psycopg
import pytest

from execution_service.adapters.nats.embedded import free_port
from execution_service.adapters.postgres import PostgresUrl
from support.environment import delete_stream
from support.ingest import (
    Expected,
    SteadyPublisher,
    dead_letters,
    differences,
    executions,
    recorded,
)
from support.nats import nats_url
from support.patroni import PatroniCluster, missing
from support.polling import poll_until
from support.readiness import Sample, each_says_why, failing_sets, sample_readiness
from support.service import Service, http
from support.sse import EventStream

EXECUTIONS = 500
RATE = 200.0  # events a second: 4,000 events over 20 s, the kill 6 s in

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


@pytest.fixture
def tag() -> Iterator[str]:
    tag = f"pf{uuid.uuid4().hex[:8]}"
    yield tag
    asyncio.run(delete_stream(tag.upper()))


@pytest.mark.parametrize(
    "synchronous",
    [
        True,
        pytest.param(
            False,
            marks=pytest.mark.skipif(
                os.environ.get("PATRONI_ASYNC_FAILOVER") != "1",
                reason="run once to measure (PATRONI_ASYNC_FAILOVER=1): it shows a loss",
            ),
        ),
    ],
    ids=["synchronous", "asynchronous"],
)
def test_the_primary_dies_whole_and_the_standby_takes_over(
    synchronous: bool, tag: str, tmp_path: Path
) -> None:
    cluster = PatroniCluster(synchronous=synchronous).start()
    try:
        url = cluster.create_database("es")
        env = {
            "DATABASE_URL": url.url(),
            "NATS_URL": nats_url(),
            "NATS_SUBJECT_PREFIX": tag,
            "NATS_STREAM": tag.upper(),
            "NATS_CONSUMER": tag,
            "ACK_WAIT_SECONDS": "5",
            "APP_ENV": "production",
            "PORT": str(free_port()),
        }
        service = Service(env, "serve", log=tmp_path / "serve.log")
        try:
            service.wait_healthy()
            pid = service.process.pid
            report = asyncio.run(_failover_under_load(cluster, service, url, tag, synchronous))
            print(report)
            assert service.process.poll() is None and service.process.pid == pid
            assert http("GET", f"{service.base}/api/health/ready")[0] == 200
            assert dead_letters(url) == 0
        finally:
            service.process.terminate()
            service.process.wait(30)
    finally:
        cluster.stop()


async def _failover_under_load(
    cluster: PatroniCluster, service: Service, url: PostgresUrl, tag: str, synchronous: bool
) -> str:
    expected = executions(EXECUTIONS, tag)
    publisher = SteadyPublisher([nats_url()], f"{tag}.", RATE)
    async with aiohttp.ClientSession() as session:
        live = _LiveList(session, f"{service.base}/api/executions/stream")
        listening = asyncio.create_task(live.run())
        readiness: list[Sample] = []
        sampling = asyncio.create_task(sample_readiness([service.base], readiness))
        publishing = asyncio.create_task(publisher.run(expected.events))
        await _until(lambda: len(publisher.acknowledged) >= 6 * RATE, 30, "events flowing")
        old = cluster.leader()
        assert old is not None
        standby = next(n for n in cluster.names if n != old)
        held = None
        if not synchronous:  # the standby falls behind; the primary goes on committing
            held = cluster.walreceiver(standby)
            os.kill(held, signal.SIGSTOP)
            await asyncio.sleep(3)
        kill_clock = time.monotonic()
        await asyncio.to_thread(cluster.kill_node, old)
        # once every process of the node is dead: whatever starts later is the new primary's
        killed = datetime.now(UTC)
        if held is not None:
            # Not SIGCONT: on loopback the WAL it was not taking sits whole in its socket's
            # buffers, where it would read it after the primary's death (a first run lost
            # nothing so). Killed, it loses what it had not written, as a standby whose link
            # lagged; its postmaster restarts its processes and Patroni promotes it.
            os.kill(held, signal.SIGKILL)
        await asyncio.to_thread(
            cluster.wait_until, lambda: cluster.leader() not in (None, old), 60, "a new leader"
        )
        promoted_after = time.monotonic() - kill_clock
        assert cluster.leader() == standby
        cluster.start_node(old)
        await asyncio.to_thread(
            cluster.wait_until, lambda: old in cluster.streaming(), 90, f"{old} streaming again"
        )
        if synchronous:
            await asyncio.to_thread(
                cluster.wait_until, lambda: cluster.sync_standby() == old, 60, "a sync standby"
            )
        await publishing
        lost = await asyncio.to_thread(_settle, expected, url, tag, synchronous)
        first_batch = _first_write_after(url, killed)
        # live updates resumed: a change made now reaches the stream opened before the kill
        after = executions(1, f"{tag}-after")
        await SteadyPublisher([nats_url()], f"{tag}.", RATE).run(after.events)
        await _until(lambda: f"{tag}-after-0" in live.seen, 30, "the live stream to carry it")
        listening.cancel()
        sampling.cancel()
    # not ready while the primary was away, saying why
    assert ("database",) in failing_sets(readiness), failing_sets(readiness)
    assert each_says_why(readiness), failing_sets(readiness)
    not_ready = sum(1 for status, _ in readiness if status != 200)
    return (
        f"{'synchronous' if synchronous else 'asynchronous'}: leader {old} -> {standby} in"
        f" {promoted_after:.1f} s; first batch on the new primary {first_batch:.1f} s after the"
        f" kill; {lost} acknowledged events lost of {len(expected.events)};"
        f" publisher retries {publisher.retries}; live stream reconnections {live.reconnections};"
        f" readiness 503 in {not_ready} of {len(readiness)} samples: {failing_sets(readiness)}"
    )


def _settle(expected: Expected, url: PostgresUrl, tag: str, synchronous: bool) -> int:
    """Until the store holds every event, or (asynchronous) stops gaining; how many it lacks."""
    if synchronous:
        poll_until(lambda: not differences(expected, recorded(url, tag)), 90, "every event")
        assert differences(expected, recorded(url, tag)) == []
        return 0
    counts: list[int] = []

    def steady() -> bool:
        counts.append(len(recorded(url, tag).events))
        return len(counts) > 25 and counts[-1] == counts[-25]  # unchanged for 5 s

    poll_until(steady, 120, "the store to stop gaining")
    lost = len(expected.events) - counts[-1]
    got = recorded(url, tag)
    assert len(got.events) <= len(expected.events)  # lost, never doubled
    assert lost > 0, "a lagging asynchronous standby was promoted and lost nothing?"
    return lost


def _first_write_after(url: PostgresUrl, moment: datetime) -> float:
    with psycopg.connect(url.url()) as conn:
        row = conn.execute(
            "SELECT min(recorded_at) FROM execution_events WHERE recorded_at > %s", [moment]
        ).fetchone()
    assert row is not None and row[0] is not None
    return float((row[0] - moment).total_seconds())


class _LiveList:
    """The list's live stream, read as a browser's EventSource would: resumed with
    Last-Event-ID when the server ends it."""

    def __init__(self, session: aiohttp.ClientSession, address: str) -> None:
        self.session = session
        self.address = address
        self.seen: set[str] = set()
        self.reconnections = -1

    async def run(self) -> None:
        last: str | None = None
        while True:
            self.reconnections += 1
            headers = {"Last-Event-ID": last} if last else {}
            try:
                async with self.session.get(self.address, headers=headers) as response:
                    stream = EventStream(response)
                    while (message := await stream.next(timeout=60)) is not None:
                        if message.event == "execution":
                            self.seen.add(str(message.json()["id"]))
                        last = stream.last_id or last
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.5)


async def _until(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)
