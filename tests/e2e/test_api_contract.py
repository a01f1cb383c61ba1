"""Schemathesis against the built deployable, as a new user would run it: every check, on the
OpenAPI document the service serves, with real PostgreSQL and NATS and some executions in it.
Tokens are on (API_TOKENS and READ_TOKENS), so that schemathesis also checks that a call without
the token is refused; the token it sends is an API token, which may read and act."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from execution_service.adapters.nats import Subjects
from execution_service.app.demo import demo_events, publish
from support.environment import service_environment
from support.nats import nats_url
from support.service import Service

API_TOKEN = "act-" + uuid.uuid4().hex
READ_TOKEN = "read-" + uuid.uuid4().hex
# Per operation; with the coverage phase's cases that makes well over 1,000 in all (asserted).
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "40")
# A fixed seed keeps CI's run repeatable; set SCHEMATHESIS_SEED=random to explore.
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261129")
MIN_CASES = 1000


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    guarded = {
        "APP_ENV": "production",
        "API_TOKENS": API_TOKEN,
        "READ_TOKENS": READ_TOKEN,
        "CORS_ORIGINS": "https://app.example.com",
    }
    with service_environment("st", guarded) as env:
        running = Service(env, "serve", log=tmp_path / "serve.log")
        try:
            running.wait_healthy()
            asyncio.run(_seed(env["NATS_SUBJECT_PREFIX"]))
            _wait_for_executions(running, 4)
            yield running
        finally:
            running.stop(2)


async def _seed(prefix: str) -> None:
    """The four demo executions (one of them FAILED, so retry can succeed) and a dead letter."""
    nc = await nats.connect(nats_url())
    await publish(nc, Subjects(prefix), demo_events(fixed_ids=True))
    await nc.jetstream().publish(prefix + "execution.failed", b"{not json")
    await nc.close()


def _wait_for_executions(service: Service, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = service.get("/api/executions", {"Authorization": f"Bearer {READ_TOKEN}"})
        if status == 200 and body["pagination"]["total"] >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"the seeded executions were not recorded in {timeout}s")


# A cursor is opaque: any text is schema-valid, and only the server can tell one it made, so a
# made-up cursor is a 400 (CONTRACT §4) that schemathesis would count as a valid request
# rejected. For that one list, and that check only, 400 is an expected answer.
CONFIG = """
[[operations]]
include-path = "/api/executions"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx",
]
"""


def run_schemathesis(url: str, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    config = report.parent / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file", str(config),
        "run", url,
        "--checks", "all",
        "--max-examples", MAX_EXAMPLES,
        "--workers", "2",
        "--report", "json", "--report-json-path", str(report),
        "--header", f"Authorization: Bearer {API_TOKEN}",
        "--no-color",
        *(() if SEED == "random" else ("--seed", SEED)),
        *extra,
    ]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", *command],
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_schemathesis_finds_nothing_in_at_least_1000_cases(
    service: Service, tmp_path: Path
) -> None:
    report = tmp_path / "schemathesis.json"
    run = run_schemathesis(f"{service.base}/api/docs/swagger.json", report)
    summary: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    output = run.stdout[-8000:] + run.stderr[-2000:]
    assert summary, f"no report; schemathesis said:\n{output}"
    assert summary["failures"] == [] and summary["errors"] == [], output
    assert run.returncode == 0, output
    print(f"schemathesis: {summary['test_cases']} in {summary['running_time']:.0f} s")
    assert summary["test_cases"]["generated"] >= MIN_CASES, summary["test_cases"]
    # Every operation was tested, none was skipped for want of a schema it could read.
    assert summary["warnings"]["unsupported_regex"] == [], summary["warnings"]
