"""Realistic event histories for the benchmarks. Their throw-away databases are the tests'
own (support.postgres: on TEST_DATABASE_URL's server, else an embedded one)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import nats

from execution_service.domain import RawMessage

T = TypeVar("T")
T0 = datetime(2026, 11, 25, 10, tzinfo=UTC)


def _event(subject: str, data: dict[str, Any], ms: int) -> dict[str, Any]:
    at = (T0 + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")
    return {
        "eventId": str(uuid.uuid4()),
        "eventType": subject,
        "timestamp": at,
        "version": "1.0",
        "data": data,
    }


def workflow_events(
    executions: int, nodes: int = 49, seed: int = 1, prefix: str = "exec"
) -> list[RawMessage]:
    """Per execution: started, `nodes` × (node started, node completed), completed — with
    nodes=49 that is 100 events. Shuffled: worst case for ordering."""
    out = []
    for e in range(executions):
        execution = f"{prefix}-{e:06d}"
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


def run(main: Coroutine[Any, Any, T], loop: str) -> T:
    """Run on the named event loop: "uvloop" (what the service runs on) or "asyncio"."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def cpu_seconds(pid: int | str) -> float:
    """CPU a process has spent (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The servers a bench measures, as the process ids of their roots (the postmaster, the
# nats-server); None counts every process of that name on the machine. Other servers here (a
# test's cluster, another checkout's) would otherwise be counted as this bench's.
_ROOTS: dict[str, int | None] = {"postgres": None, "nats-server": None}


def watch_servers(postgres: int | None = None, nats: int | None = None) -> None:
    _ROOTS.update({"postgres": postgres, "nats-server": nats})


def postmaster_of(backend_pid: int) -> int:
    """The postmaster that forked a backend (`SELECT pg_backend_pid()`)."""
    for line in Path(f"/proc/{backend_pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise LookupError(backend_pid)


def servers_cpu() -> dict[str, float]:
    """CPU spent so far by the PostgreSQL and NATS servers (a database backend's is gone with
    it: read this while the connections live)."""
    spent = {"postgres": 0.0, "nats-server": 0.0}
    parents: dict[str, int] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            name = (proc / "comm").read_text().strip()
            if name not in spent:
                continue
            root = _ROOTS[name]
            if root is not None and int(proc.name) != root:
                parents[proc.name] = parents.get(proc.name) or _parent(proc.name)
                if parents[proc.name] != root:
                    continue
            spent[name] += cpu_seconds(proc.name)
        except (OSError, LookupError):  # gone meanwhile
            continue
    return spent


def tree_cpu(pid: int) -> float:
    """CPU spent so far by a process and every live process under it (a worker pool's)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            children.setdefault(_parent(proc.name), []).append(int(proc.name))
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            continue
        todo += children.get(current, [])
    return total


def _parent(pid: str) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def since(before: dict[str, float]) -> dict[str, float]:
    return {name: spent - before[name] for name, spent in servers_cpu().items()}


def delete_stream(url: str, stream: str) -> None:
    """A bench's stream goes with it (the server may be a shared one)."""

    async def delete() -> None:
        nc = await nats.connect(url)
        await nc.jetstream().delete_stream(stream)
        await nc.close()

    asyncio.run(delete())
