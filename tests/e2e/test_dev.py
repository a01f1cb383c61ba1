"""`execution-service dev` on a machine with nothing configured: it starts its own PostgreSQL
and NATS, serves the demo executions, says where to look and what to paste, answers a retry
of a demo execution as an orchestrator would, and Ctrl-C (to its whole process group, as a
terminal sends it) stops it all in order, without a traceback."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats

from execution_service.adapters.nats import Subjects
from execution_service.adapters.nats.embedded import free_port
from execution_service.app.banner import RUN
from execution_service.app.demo import publish, workflow
from support.polling import poll_until
from support.service import Service, pex_path

DEMO = ["CANCELLED", "COMPLETED", "FAILED", "RUNNING"]  # the demo's statuses, sorted


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


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}


def run_dev(tmp_path: Path, data: Path, log: str) -> Service:
    env = clean_env() | {"PORT": str(free_port())}
    service = Service(
        env, "dev", "--data-dir", str(data), log=tmp_path / log, replace_env=True, own_group=True
    )
    service.wait_healthy(timeout=120)
    return service


def executions(service: Service) -> dict[str, tuple[str, int]]:
    body = service.get("/api/executions?limit=100")[1]
    return {e["id"]: (e["status"], e["attempt"]) for e in body["data"]}


def wait_for(service: Service, expected: dict[str, tuple[str, int]] | list[str]) -> None:
    """Until the executions are these (ids with status and attempt), or have these statuses:
    an execution is listed from its first event on, before the rest of them are applied."""

    def there() -> bool:
        now = executions(service)
        return (now if isinstance(expected, dict) else sorted(s for s, _ in now.values())) == (
            expected
        )

    poll_until(there, what=f"the executions to be {expected}")


def pasted(line: str) -> tuple[dict[str, str], list[str]]:
    """A command the banner prints, as a shell would read it: its variables, and the PEX's
    arguments in place of the `./pants run` that builds and runs the same PEX."""
    words = shlex.split(line)
    env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
    command = words[len(env) :]
    assert command[: len(RUN.split())] == RUN.split(), line
    return env, command[len(RUN.split()) :]


def run_pasted(line: str) -> subprocess.CompletedProcess[str]:
    env, args = pasted(line)
    return subprocess.run(
        [str(pex_path()), *args], env=clean_env() | env, capture_output=True, text=True, timeout=60
    )


def banner_line(log: str, ends: str) -> str:
    return next(line for line in log.splitlines() if line.rstrip().endswith(ends))


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
    wait_for(service, DEMO)
    started = list(processes_using(data).values())
    assert any("postgres" in p for p in started) and any("nats-server" in p for p in started)
    assert all(not p.startswith("/usr/") for p in started)  # the wheels' servers, not the OS's

    log = service.log.read_text()
    database = re.search(r"^  Database +(\S+)$", log, re.M)
    assert database and database[1].startswith("postgresql://"), log
    check_the_commands_to_paste(log, database[1])
    nats_url = pasted(banner_line(log, "publish-demo"))[0]["NATS_URL"]
    check_publish_demo_prints_its_ids(service, banner_line(log, "publish-demo"))
    check_the_demo_answers_a_retry(service, nats_url)

    before = executions(service)
    assert service.interrupt() == 0
    check_it_stopped_quietly(service.log.read_text())
    poll_until(lambda: processes_using(data) == {}, timeout=10, what="postgres and nats to exit")

    again = run_dev(tmp_path, data, "dev-again.log")  # reuses the data, adds nothing twice
    wait_for(again, before)
    assert again.interrupt() == 0
    check_it_stopped_quietly(again.log.read_text())
    poll_until(lambda: processes_using(data) == {}, timeout=10, what="postgres and nats to exit")


def check_the_commands_to_paste(log: str, database: str) -> None:
    """The banner's prune and migrate lines work as printed, on the database it names."""
    prune = banner_line(log, "prune --dry-run")
    assert pasted(prune)[0]["DATABASE_URL"] == database
    dry = run_pasted(prune)
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"^executions +\d+ would delete$", dry.stdout, re.M), dry.stdout
    migrated = run_pasted(banner_line(log, " migrate"))
    assert migrated.returncode == 0 and "migrations: none pending" in migrated.stderr


def check_publish_demo_prints_its_ids(service: Service, line: str) -> None:
    published = run_pasted(line)
    assert published.returncode == 0, published.stderr
    ids = published.stdout.split()
    assert len(ids) == 4 and all(re.fullmatch(r"demo-[a-z]+-[0-9a-f]{8}", i) for i in ids), ids
    poll_until(
        lambda: sorted(s for i, (s, _) in executions(service).items() if i in ids) == DEMO,
        what="the executions publish-demo named",
    )


def check_the_demo_answers_a_retry(service: Service, nats_url: str) -> None:
    """Retry on the failed demo execution: the demo's stand-in orchestrator runs attempt 2
    to the end. Another failed execution's retry is left alone."""
    other = workflow("failed", datetime.now(UTC) - timedelta(seconds=5), "not-a-demo")
    other[0][1]["data"].pop("metadata")

    async def publish_other() -> None:
        nc = await nats.connect(nats_url)
        await publish(nc, Subjects(), other)
        await nc.close()

    asyncio.run(publish_other())
    poll_until(lambda: executions(service).get("not-a-demo") == ("FAILED", 1), what="not-a-demo")
    for execution in ("not-a-demo", "demo-failed"):
        status, body = service.post(f"/api/executions/{execution}/retry")
        assert (status, body["attempt"]) == (202, 2), body
    poll_until(
        lambda: executions(service)["demo-failed"] == ("COMPLETED", 2),
        what="attempt 2 of demo-failed to complete",
    )
    runs = service.get("/api/executions/demo-failed/logs?attempt=2")[1]["data"]
    assert sorted((r["nodeId"], r["status"]) for r in runs) == [
        ("search", "COMPLETED"),
        ("write", "COMPLETED"),
    ]
    poll_until(
        lambda: "retry of not-a-demo asked for: not a demo execution" in service.log.read_text(),
        what="the stand-in to pass over not-a-demo",
    )
    assert executions(service)["not-a-demo"] == ("FAILED", 1)
    log = service.log.read_text()
    assert "demo orchestrator (a stand-in" in log and "attempt 2 of demo-failed completed" in log
    assert "Retries     no orchestrator runs here: the demo stands in for one" in log


def check_it_stopped_quietly(log: str) -> None:
    after = log[log.index("stopping…") :]
    assert "Traceback" not in after and not re.search(r" (ERROR|WARNING) ", after), after
    assert after.index("execution_service.app.web: stopped") < after.index(
        "embedded servers stopped"
    )
