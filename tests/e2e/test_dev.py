"""`execution-service dev` on a machine with nothing configured: it starts its own PostgreSQL
and NATS, serves the demo executions, and Ctrl-C leaves no process of it behind."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

from execution_service.adapters.nats.embedded import free_port
from support.polling import poll_until
from support.service import Service


def processes_using(path: Path) -> dict[int, str]:
    """Running processes whose command line mentions `path` (postgres -D, nats-server -sd)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in args and int(entry.name) != os.getpid():
            found[int(entry.name)] = args
    return found


def run_dev(tmp_path: Path, data: Path, log: str) -> Service:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    env["PORT"] = str(free_port())
    service = Service(env, "dev", "--data-dir", str(data), log=tmp_path / log, replace_env=True)
    service.wait_healthy(timeout=120)
    return service


def demo_statuses(service: Service) -> list[str]:
    def listed() -> bool:
        status, body = service.get("/api/executions")
        return status == 200 and body["pagination"]["total"] >= 4

    poll_until(listed, what="the demo executions")
    return sorted(e["status"] for e in service.get("/api/executions")[1]["data"])


def test_dev_starts_everything_serves_the_demo_and_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    # Not under tmp_path: the embedded PostgreSQL runs as the OS user `pgserver`, and every
    # pytest process that starts (Pants runs test files side by side) sets its base,
    # /tmp/pytest-of-root, back to mode 0700, cutting that user off mid-start.
    data = Path(tempfile.mkdtemp(prefix="es-dev-test-"))
    try:
        check_dev(tmp_path, data)
    finally:  # whatever happened, leave nothing running, and nothing on disk
        for pid in processes_using(data):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(data, ignore_errors=True)


def check_dev(tmp_path: Path, data: Path) -> None:
    service = run_dev(tmp_path, data, "dev.log")
    assert demo_statuses(service) == ["CANCELLED", "COMPLETED", "FAILED", "RUNNING"]
    started = list(processes_using(data).values())
    assert any("postgres" in p for p in started) and any("nats-server" in p for p in started)
    assert all(not p.startswith("/usr/") for p in started)  # the wheels' servers, not the OS's
    assert service.stop(signal.SIGINT) == 0
    poll_until(lambda: processes_using(data) == {}, timeout=10, what="postgres and nats to exit")

    again = run_dev(tmp_path, data, "dev-again.log")  # reuses the data, adds nothing twice
    assert demo_statuses(again) == ["CANCELLED", "COMPLETED", "FAILED", "RUNNING"]
    assert again.get("/api/executions")[1]["pagination"]["total"] == 4
    assert again.stop(signal.SIGINT) == 0
    poll_until(lambda: processes_using(data) == {}, timeout=10, what="postgres and nats to exit")
