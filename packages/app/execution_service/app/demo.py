"""Demo workflow executions, published as the orchestrator would: one completes, one fails
at a node, one is still running, one is cancelled."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client

from execution_service.adapters.nats import Subjects, find_stream
from execution_service.app.container import Container
from execution_service.app.settings import Settings
from execution_service.domain import format_time

log = logging.getLogger(__name__)
_DEMO_NAMESPACE = uuid.UUID("6f1c9c2e-33a5-4c6b-9a55-0d7f0f3f5a10")
NODES = [("plan", "agent", "Planner"), ("search", "tool", "Web search"), ("write", "llm", "Writer")]
WORKFLOW = "wf-research-report"
# What marks a demo execution (its metadata): the only ones dev's stand-in orchestrator retries.
DEMO_METADATA = {"demo": True}


def envelope(execution: str, key: str, subject: str, at: datetime, data: Any) -> dict[str, Any]:
    """An event as the orchestrator would send it. Its id derives from the execution and
    `key`: publishing the same demo again changes nothing."""
    return {
        "eventId": str(uuid.uuid5(_DEMO_NAMESPACE, f"{execution}:{key}")),
        "eventType": subject,
        "timestamp": format_time(at),
        "version": "1.0",
        "correlationId": execution,
        "data": data,
    }


def workflow(
    outcome: str, start: datetime, execution_id: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(subject, envelope) pairs for one execution; outcome: completed, failed, running,
    cancelled."""
    execution = execution_id or f"demo-{outcome}-{uuid.uuid4().hex[:8]}"
    ids = {"executionId": execution, "workflowId": WORKFLOW, "userId": "demo-user"}
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(subject: str, ms: int, **data: Any) -> None:
        at = start + timedelta(milliseconds=ms)
        events.append((subject, envelope(execution, str(len(events)), subject, at, data)))

    emit("execution.started", 0, **ids, input={"topic": "event sourcing"}, metadata=DEMO_METADATA)
    stop_after = {"completed": 3, "failed": 2, "running": 2, "cancelled": 1}[outcome]
    ms = 10
    for index, (node, node_type, name) in enumerate(NODES[:stop_after]):
        node_ids = {"executionId": execution, "nodeId": node, "nodeType": node_type}
        emit("execution.node.started", ms, **node_ids, nodeName=name, input={"step": index})
        if outcome == "failed" and index == 1:
            emit("execution.node.failed", ms + 420, **node_ids, error="search API timed out")
        elif not (outcome == "running" and index == stop_after - 1):
            emit(
                "execution.node.completed", ms + 300, **node_ids, output={"ok": True}, duration=300
            )
        ms += 500
    if outcome == "completed":
        emit("execution.completed", ms, **ids, output={"report": "…"}, duration=ms)
    elif outcome == "failed":
        emit("execution.failed", ms, **ids, error="node search failed: search API timed out")
    elif outcome == "cancelled":
        emit("execution.cancelled", ms, **ids, reason="cancelled by the user")
    return events


OUTCOMES = ("completed", "failed", "running", "cancelled")


def is_demo(metadata: Any) -> bool:
    return isinstance(metadata, dict) and metadata.get("demo") is True


def next_attempt(request: dict[str, Any]) -> list[tuple[float, str, dict[str, Any]]]:
    """What an orchestrator would run for a retry request (its `data`, CONTRACT §3) of a
    demo execution: the nodes from the failed one on, again, under the requested attempt;
    then the execution completes. Each step is (pause before it in seconds, subject, data)."""
    execution, attempt = request["executionId"], request["attempt"]
    names = [node for node, _, _ in NODES]
    first = names.index(request["failedNodeId"]) if request["failedNodeId"] in names else 0
    steps: list[tuple[float, str, dict[str, Any]]] = []
    for index, (node, node_type, name) in enumerate(NODES[first:], first):
        ids = {"executionId": execution, "nodeId": node, "nodeType": node_type, "attempt": attempt}
        steps.append(
            (0.3, "execution.node.started", ids | {"nodeName": name, "input": {"step": index}})
        )
        steps.append((1.2, "execution.node.completed", ids | {"output": {"ok": True}}))
    ids = {k: request.get(k) for k in ("executionId", "workflowId", "userId")}
    steps.append(
        (0.3, "execution.completed", ids | {"attempt": attempt, "output": {"report": "…"}})
    )
    return steps


def demo_events(
    now: datetime | None = None, fixed_ids: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """Four executions a few minutes apart. With fixed_ids they are always the same four
    (`dev`'s demo data); otherwise new ones each time."""
    now = now or datetime.now(UTC)
    events = []
    for minutes, outcome in enumerate(OUTCOMES):
        execution = f"demo-{outcome}" if fixed_ids else None
        events += workflow(outcome, now - timedelta(minutes=4 - minutes), execution)
    return events


def execution_ids(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Each execution the events are about, once, in order."""
    return list(dict.fromkeys(envelope["data"]["executionId"] for _, envelope in events))


async def publish(nc: Client, subjects: Subjects, events: list[tuple[str, dict[str, Any]]]) -> None:
    js = nc.jetstream()
    through_stream = await find_stream(js, subjects.started) is not None
    for subject, envelope in events:
        data = json.dumps(envelope).encode()
        headers = {"Nats-Msg-Id": envelope["eventId"]}
        if through_stream:
            await js.publish(subjects.prefix + subject, data, headers=headers)
        else:
            await nc.publish(subjects.prefix + subject, data, headers=headers)
    await nc.flush()


async def publish_demo(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    container = Container(settings=settings)
    nc = await container.nats_connector().once("publish-demo")
    try:
        events = demo_events()
        await publish(nc, container.subjects(), events)
        return events
    finally:
        await nc.close()


def publish_demo_cli(settings: Settings) -> None:
    events = asyncio.run(publish_demo(settings))
    ids = execution_ids(events)
    log.info("published %d events of %d demo executions to %s",
             len(events), len(ids), ",".join(settings.nats_urls))  # fmt: skip
    # On stdout, one a line: for a reader, and for a script (`… | xargs -I{} curl …/{}`).
    for execution in ids:
        print(execution, flush=True)
