"""Traces from the built deployable (issue 20): two replicas export to a real OTLP/HTTP
receiver (support/otlp.py) while one is killed with SIGKILL during an export and the receiver
is down for 30 s. Every finished execution arrives; a trace arrives twice only within the
crash window (the request in flight when the replica died, at most 100 traces), and with the
same ids."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from execution_service.adapters.nats.embedded import free_port
from support.environment import service_environment
from support.events import Workflow
from support.otlp import receiver_thread
from support.polling import poll_until
from support.service import Service, http

EXECUTIONS = 300
PER_REQUEST = 100  # app/tracing.py TRACES_PER_EXPORT: what one crash can send twice
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    with service_environment("t", {"APP_ENV": "production", "ACK_WAIT_SECONDS": "3"}) as e:
        yield e


async def publish(env: dict[str, str], first: int, count: int) -> None:
    nc = await nats.connect(env["NATS_URL"])
    js = nc.jetstream()
    for n in range(first, first + count):
        run = Workflow(f"t-{n}").started(0, workflowId="wf").node("a", 1, 2, nodeType="tool")
        for i, m in enumerate(run.ended(3).messages):
            headers = {"traceparent": PARENT} if i == 0 and n == 0 else None
            await js.publish(env["NATS_SUBJECT_PREFIX"] + m.subject, m.data, headers=headers)
    await nc.close()


def test_every_finished_execution_arrives_once_through_a_kill_and_a_receiver_down(
    env: dict[str, str], tmp_path: Path
) -> None:
    with receiver_thread() as otlp:
        receiver = otlp.receiver
        receiver.response_delay = 1.0  # a window in which a request is in flight
        traced = env | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "3",
            "OTEL_EXPORT_DELAY": "1s",
            "OTEL_SERVICE_NAME": "e2e",
        }

        def replica(name: str) -> Service:
            port = str(free_port())
            return Service(traced | {"PORT": port}, "serve", log=tmp_path / f"{name}.log")

        replicas = [replica("a"), replica("b")]
        try:
            for r in replicas:
                r.wait_healthy()
            asyncio.run(publish(env, 0, EXECUTIONS // 2))
            poll_until(lambda: receiver.in_flight > 0, 60, what="an export in flight")
            replicas[0].process.kill()  # SIGKILL in the middle of a request
            replicas[0].process.wait(10)
            replicas[0] = replica("a-again")
            replicas[0].wait_healthy()

            otlp.stop()  # the receiver is down for 30 s while the rest finish
            down_since = time.monotonic()
            asyncio.run(publish(env, EXECUTIONS // 2, EXECUTIONS // 2))
            for r in replicas:  # readiness does not depend on the receiver
                assert http("GET", r.base + "/api/health/ready")[0] == 200
            time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))
            assert _metric(replicas, "execution_service_trace_export_failures_total") > 0
            receiver.response_delay = 0.0
            otlp.start()

            def all_arrived() -> bool:
                return len({s.attributes["execution.id"] for s in receiver.roots()}) == EXECUTIONS

            poll_until(all_arrived, 120, what="every trace")
            time.sleep(3)  # anything more that would come
        finally:
            for r in replicas:
                if r.process.poll() is None:
                    r.stop(signal.SIGTERM)

        roots = Counter(s.attributes["execution.id"] for s in receiver.roots())
        assert set(roots) == {f"t-{n}" for n in range(EXECUTIONS)}
        twice = sum(n - 1 for n in roots.values())
        assert twice <= PER_REQUEST, roots.most_common(3)
        # a resend is the same spans: the same ids, the same contents
        distinct = {(s.trace_id, s.span_id, s.name, s.start, s.end) for s in receiver.spans}
        assert len(distinct) == 2 * EXECUTIONS
        joined = [s for s in receiver.roots() if s.attributes["execution.id"] == "t-0"]
        assert {(s.trace_id, s.parent_span_id) for s in joined} == {
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
        }
        assert {s.resource["service.name"] for s in receiver.spans} == {"e2e"}


def _metric(replicas: list[Service], name: str) -> float:
    total = 0.0
    for r in replicas:
        text = _text(r.base + "/metrics")
        total += sum(
            float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
        )
    return total


def _text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())
