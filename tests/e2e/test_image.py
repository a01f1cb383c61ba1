"""The container image: the Dockerfile built by podman on a local base image (no registry is
reachable here), run as `serve` against the test PostgreSQL and NATS, seen over NATS and HTTP,
then stopped. `.ci/run` installs podman and builds the base (deploy/base-image.sh)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest

from execution_service.app.demo import workflow
from support.environment import service_environment
from support.postgres import server_url
from support.service import http, pex_path, wait_healthy

# Set by .ci/run, where the image must be tested: then a missing engine fails instead of skipping.
BASE_IMAGE_VARIABLE = "EXECUTION_SERVICE_BASE_IMAGE"
DEFAULT_BASE_IMAGE = "localhost/execution-service-base:bookworm"
PEX_IN_CONTEXT = Path("dist/packages.app.execution_service.app/execution-service.pex")


def podman(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy()
    if "CONTAINERS_CONF" not in env and Path("deploy/containers.conf").exists():
        env["CONTAINERS_CONF"] = str(Path("deploy/containers.conf").resolve())
    return subprocess.run(
        ["podman", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def why_no_engine(base: str) -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (.ci/run installs podman and runc from Debian)"
    if podman("image", "exists", base).returncode != 0:
        return f"no base image {base}: deploy/base-image.sh builds it (debootstrap)"
    return None


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get(BASE_IMAGE_VARIABLE) or DEFAULT_BASE_IMAGE
    reason = why_no_engine(base)
    if reason and os.environ.get(BASE_IMAGE_VARIABLE):
        pytest.fail(f"{BASE_IMAGE_VARIABLE} is set but {reason}")
    if reason:
        pytest.skip(reason)
    if (server_url().host or "").startswith("/"):
        pytest.skip(
            "the embedded PostgreSQL listens on a socket inside its private data directory, "
            "out of the container user's reach: set TEST_DATABASE_URL to a server on TCP"
        )
    # The build context as a checkout has it after `./pants package`: the Dockerfile's COPY is
    # checked too.
    context = tmp_path_factory.mktemp("context")
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(name, context / name)
    (context / PEX_IN_CONTEXT).parent.mkdir(parents=True)
    shutil.copy(pex_path(), context / PEX_IN_CONTEXT)
    tag = f"localhost/execution-service-test:{uuid.uuid4().hex[:8]}"
    # --format docker: the OCI format has no HEALTHCHECK. --layers=false: no intermediate
    # images left behind.
    build = ["build", "--format", "docker", "--layers=false", "--build-arg", f"BASE={base}"]
    built = podman(*build, "--tag", tag, str(context), timeout=420)
    assert built.returncode == 0, f"podman build failed:\n{built.stdout}\n{built.stderr}"
    yield tag
    podman("rmi", "--force", tag)


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    with service_environment("i") as e:
        yield e


async def publish(env: dict[str, str], events: list[tuple[str, bytes]]) -> None:
    nc = await nats.connect(env["NATS_URL"])
    for subject, data in events:
        await nc.jetstream().publish(env["NATS_SUBJECT_PREFIX"] + subject, data)
    await nc.close()


class Container:
    def __init__(self, image: str, env: dict[str, str]) -> None:
        self.name = f"execution-service-test-{uuid.uuid4().hex[:8]}"
        self.base = f"http://127.0.0.1:{env['PORT']}"
        options = ["--network", "host", "--read-only", "--name", self.name]
        for key, value in env.items():
            options += ["--env", f"{key}={value}"]
        started = podman("run", "--detach", *options, image)
        assert started.returncode == 0, f"podman run failed: {started.stderr}"

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name).stdout.strip()

    def logs(self) -> str:
        logs = podman("logs", self.name)
        return (logs.stdout + logs.stderr)[-3000:]

    def wait_healthy(self, timeout: float = 90.0) -> None:
        def gone() -> str | None:
            if self.inspect("{{.State.Running}}") == "true":
                return None
            code = self.inspect("{{.State.ExitCode}}")
            return f"the container exited {code}"

        wait_healthy(self.base, gone, self.logs, timeout)

    def get(self, path: str) -> tuple[int, Any]:
        return http("GET", self.base + path)

    def stop(self) -> int:
        stopped = podman("stop", "--time", "30", self.name, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        return int(self.inspect("{{.State.ExitCode}}"))

    def remove(self) -> None:
        podman("rm", "--force", self.name)


def wait_for_status(container: Container, execution: str, status: str) -> None:
    deadline = time.monotonic() + 60
    while container.get(f"/api/executions/{execution}")[1].get("status") != status:
        assert time.monotonic() < deadline, f"{execution} never {status}:\n{container.logs()}"
        time.sleep(0.2)


def test_image_serves_published_workflows_as_non_root_and_stops_cleanly(
    image: str, env: dict[str, str]
) -> None:
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", image).stdout)
    assert labels["org.opencontainers.image.title"] == "execution-service"
    container = Container(image, env)
    try:
        container.wait_healthy()
        assert podman("exec", container.name, "id", "-u").stdout.strip() == "10001"
        # the image's own HEALTHCHECK, run now rather than on podman's (systemd) timer
        checked = podman("healthcheck", "run", container.name)
        assert checked.returncode == 0, f"HEALTHCHECK failed: {checked.stdout}{checked.stderr}"

        start = datetime(2026, 11, 25, 10, tzinfo=UTC)
        events = []
        for outcome in ("completed", "failed"):
            steps = workflow(outcome, start, f"image-{outcome}")
            events += [(subject, json.dumps(event).encode()) for subject, event in steps]
        asyncio.run(publish(env, events))
        wait_for_status(container, "image-completed", "COMPLETED")
        wait_for_status(container, "image-failed", "FAILED")
        status, failed = container.get("/api/executions/image-failed")
        assert status == 200 and failed["nodes"] == {
            "total": 2, "running": 0, "completed": 1, "failed": 1,
        }  # fmt: skip
        status, listed = container.get("/api/executions?limit=10")
        assert sorted(e["id"] for e in listed["data"]) == ["image-completed", "image-failed"]

        assert container.stop() == 0, container.logs()
    finally:
        container.remove()
