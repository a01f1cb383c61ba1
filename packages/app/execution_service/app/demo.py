"""Demo workflow executions, published as the orchestrator would: one completes, one fails
at a node, one is still running, one is cancelled."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client

from execution_service.adapters.nats import Subjects, find_stream
from execution_service.app.settings import Settings
from execution_service.domain.events import format_time

log = logging.getLogger(__name__)
_DEMO_NAMESPACE = uuid.UUID("6f1c9c2e-33a5-4c6b-9a55-0d7f0f3f5a10")
NODES = [("plan", "agent", "Planner"), ("search", "tool", "Web search"), ("write", "llm", "Writer")]


def workflow(
    outcome: str, start: datetime, execution_id: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(subject, envelope) pairs for one execution; outcome: completed, failed, running,
    cancelled."""
    execution = execution_id or f"demo-{outcome}-{uuid.uuid4().hex[:8]}"
    ids = {"executionId": execution, "workflowId": "wf-research-report", "userId": "demo-user"}
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(subject: str, ms: int, **data: Any) -> None:
        # derived from the execution: publishing the same demo again changes nothing
        event_id = uuid.uuid5(_DEMO_NAMESPACE, f"{execution}:{len(events)}")
        events.append(
            (
                subject,
                {
                    "eventId": str(event_id),
                    "eventType": subject,
                    "timestamp": format_time(start + timedelta(milliseconds=ms)),
                    "version": "1.0",
                    "correlationId": execution,
                    "data": data,
                },
            )
        )

    emit("execution.started", 0, **ids, input={"topic": "event sourcing"}, metadata={"demo": True})
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


async def publish_demo(settings: Settings) -> int:
    nc = await nats.connect(servers=list(settings.nats_urls), connect_timeout=5)
    try:
        events = demo_events()
        await publish(nc, Subjects(settings.nats_subject_prefix), events)
        return len(events)
    finally:
        await nc.close()


def publish_demo_cli(settings: Settings) -> None:
    count = asyncio.run(publish_demo(settings))
    log.info("published %d events of 4 demo executions to %s", count, ",".join(settings.nats_urls))
