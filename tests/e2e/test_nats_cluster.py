"""A three-server NATS cluster under the service: two built PEXes on one durable consumer of a
stream with three replicas, events published at a steady rate, and meanwhile the stream's
leader killed (SIGKILL) and started again, then the consumer's leader. Neither service is
restarted; at the end every execution and node run is as the events say, each event stored
once, nothing dead-lettered. Meanwhile readiness, sampled, says why whenever it is 503."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import ClusterInfo

from execution_service.adapters.nats.embedded import free_port
from support.ingest import (
    Expected,
    SteadyPublisher,
    dead_letters,
    differences,
    executions,
    recorded,
)
from support.nats_cluster import NatsCluster, current
from support.polling import poll_until
from support.postgres import fresh_database
from support.readiness import Sample, each_says_why, failing_sets, sample_readiness
from support.service import Service, http

EXECUTIONS = 500
RATE = 100.0  # events a second: 4,000 events over 40 s, while both leaders go and come back


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    servers = NatsCluster().start()
    try:
        asyncio.run(servers.wait_for_jetstream())
        yield servers
    finally:
        servers.stop()


def test_the_stream_and_consumer_leaders_die_and_come_back_while_events_flow(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    expected = executions(EXECUTIONS, "nc")
    with fresh_database() as url:
        env = {
            "DATABASE_URL": url.url(),
            "NATS_URL": cluster.urls,
            "NATS_STREAM": "CLUSTERED",
            "NATS_STREAM_REPLICAS": "3",
            "NATS_CONSUMER": "clustered",
            "NATS_SUBJECT_PREFIX": "nc",
            # a batch whose acks died with a server comes back this soon
            "ACK_WAIT_SECONDS": "5",
            "APP_ENV": "production",
        }
        replicas = [
            Service(env | {"PORT": str(free_port())}, "serve", log=tmp_path / f"replica-{i}.log")
            for i in range(2)
        ]
        try:
            for replica in replicas:
                replica.wait_healthy()
            pids = [r.process.pid for r in replicas]
            publisher = SteadyPublisher(cluster.servers, "nc.", RATE)
            readiness = asyncio.run(
                _publish_through_two_failovers(cluster, publisher, expected, env, replicas)
            )
            # meanwhile, when not ready, saying why
            assert each_says_why(readiness), failing_sets(readiness)

            def all_there() -> bool:
                return not differences(expected, recorded(url, "nc"))

            poll_until(all_there, timeout=60, what="every event recorded")
            assert differences(expected, recorded(url, "nc")) == []
            assert dead_letters(url) == 0
            assert [r.process.poll() for r in replicas] == [None, None]
            assert [r.process.pid for r in replicas] == pids
            for replica in replicas:
                assert http("GET", f"{replica.base}/api/health/ready")[0] == 200
            _say_how_it_went(publisher, replicas, readiness)
        finally:
            for replica in replicas:
                replica.process.terminate()
                replica.process.wait(30)


async def _publish_through_two_failovers(
    cluster: NatsCluster,
    publisher: SteadyPublisher,
    expected: Expected,
    env: dict[str, str],
    replicas: list[Service],
) -> list[Sample]:
    """Returns each replica's readiness as sampled meanwhile: (status, failing checks)."""
    readiness: list[Sample] = []
    sampling = asyncio.create_task(sample_readiness([r.base for r in replicas], readiness))
    publishing = asyncio.create_task(publisher.run(expected.events))
    nc = await nats.connect(cluster.servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    js = nc.jetstream(timeout=2)
    stream, durable = env["NATS_STREAM"], env["NATS_CONSUMER"]

    async def stream_cluster() -> ClusterInfo | None:
        return (await js.stream_info(stream)).cluster

    async def consumer_cluster() -> ClusterInfo | None:
        return (await js.consumer_info(stream, durable)).cluster

    try:
        await _until(lambda: len(publisher.acknowledged) >= 400, 30, "events flowing")
        for what, info in (("stream", stream_cluster), ("consumer", consumer_cluster)):
            await _until_info(info, lambda c: current(c, cluster.names), 30, f"{what} current")
            leader = str(_leader(await info()))
            cluster.kill(leader)
            killed_at, killed = len(publisher.acknowledged), time.monotonic()
            await _until_info(info, _other_leader_than(leader), 30, f"a new {what} leader")
            print(f"{what} leader {leader} killed: a new one in {time.monotonic() - killed:.1f} s")
            await _until(
                _acknowledged_past(publisher, killed_at + 100),
                30,
                f"publishing after the {what} leader died",
            )
            cluster.start_server(leader)
            await _until_info(info, lambda c: current(c, cluster.names), 60, f"{leader} back")
        assert not publishing.done(), "the events stopped flowing before the second failover"
        await publishing
    finally:
        publishing.cancel()
        sampling.cancel()
        await nc.close()
    return readiness


def _other_leader_than(gone: str) -> Callable[[ClusterInfo | None], bool]:
    return lambda c: c is not None and c.leader not in (None, gone)


def _acknowledged_past(publisher: SteadyPublisher, count: int) -> Callable[[], bool]:
    return lambda: len(publisher.acknowledged) > count


def _leader(info: ClusterInfo | None) -> str | None:
    return None if info is None else info.leader


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def _until_info(
    info: Callable[[], Awaitable[ClusterInfo | None]],
    check: Callable[[ClusterInfo | None], bool],
    timeout: float,
    what: str,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check(await info()):
                return
        except Exception:  # noqa: BLE001 - no leader to answer yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


def _say_how_it_went(
    publisher: SteadyPublisher, replicas: list[Service], readiness: list[Sample]
) -> None:
    print(f"publisher retries: {publisher.retries}")
    down = sum(1 for status, _ in readiness if status != 200)
    print(f"readiness samples: {len(readiness)}, not ready: {down} {failing_sets(readiness)}")
    for replica in replicas:
        reconnects = replica.log.read_text().count("NATS reconnected")
        print(f"{replica.log.name}: {reconnects} NATS reconnections")
