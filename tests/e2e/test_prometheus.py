"""A real Prometheus scrapes the built deployable, with the project's alert rules loaded, and
the lag and the event count are read back through Prometheus' HTTP API."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from execution_service.adapters.nats.embedded import free_port
from support.environment import service_environment
from support.events import history
from support.service import Service

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Pants runs tests with a scrubbed PATH; Debian's package puts prometheus in /usr/bin.
PROMETHEUS = shutil.which(
    "prometheus", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin"])
)
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the prometheus binary is not installed (Debian: apt-get install prometheus; "
    ".ci/run does)",
)


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    with service_environment("p", {"APP_ENV": "production"}) as e:
        yield e


async def _publish(env: dict[str, str], count: int) -> int:
    events = history(count, 2)
    nc = await nats.connect(env["NATS_URL"])
    js = nc.jetstream()
    for m in events:
        await js.publish(env["NATS_SUBJECT_PREFIX"] + m.subject, m.data)
    await nc.close()
    return len(events)


class Prometheus:
    def __init__(self, target: str, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "prometheus-rules.yml", workdir / "rules.yml")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "scrape_configs": [
                {"job_name": "execution-service", "static_configs": [{"targets": [target]}]}
            ],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = workdir / "prometheus.log"
        assert PROMETHEUS
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **query: str) -> Any:
        url = f"{self.base}/api/v1/{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def value(self, promql: str) -> float | None:
        """The instant value of a one-series query; None while Prometheus has none."""
        try:
            result = self.api("query", query=promql)["result"]
        except OSError:
            return None  # not listening yet
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out: {what}")


def test_prometheus_scrapes_the_service_and_reads_its_lag_back(
    env: dict[str, str], tmp_path: Path
) -> None:
    service = Service(env, "serve", log=tmp_path / "serve.log")
    prometheus: Prometheus | None = None
    try:
        service.wait_healthy()
        published = asyncio.run(_publish(env, 25))
        prometheus = Prometheus(f"127.0.0.1:{env['PORT']}", tmp_path / "prometheus")
        job = '{job="execution-service"}'

        def applied() -> bool:
            assert prometheus and prometheus.process.poll() is None, prometheus.log.read_text()
            total = prometheus.value(
                'sum(execution_service_events_total{job="execution-service",outcome="applied"})'
            )
            return total == published

        wait_for(applied, 90, "Prometheus to see every event applied")
        wait_for(
            lambda: prometheus.value(f"execution_service_consumer_pending{job}") == 0.0,
            60,
            "the lag, read through Prometheus, at 0",
        )
        assert prometheus.value(f"up{job}") == 1.0
        series = prometheus.api("series", **{"match[]": f"execution_service_consumer_pending{job}"})
        assert [s["instance"] for s in series] == [f"127.0.0.1:{env['PORT']}"]
        rules = prometheus.api("rules")["groups"]
        alerts = {r["name"] for g in rules for r in g["rules"]}
        assert "ExecutionServiceLagGrowing" in alerts and "ExecutionServiceStalled" in alerts
    finally:
        if prometheus is not None:
            prometheus.stop()
        assert service.stop(signal.SIGTERM) == 0
