"""Building raw event messages the way the orchestrator publishes them."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from execution_service.domain import RawMessage
from execution_service.domain.events import format_time

T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
_ids = itertools.count()


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def message(
    subject: str,
    data: dict[str, Any],
    ms: int | None = 0,
    event_id: str | None = None,
    **envelope: Any,
) -> RawMessage:
    body: dict[str, Any] = {
        "eventId": event_id or f"evt-{next(_ids)}",
        "eventType": subject,
        "version": "1.0",
        "data": data,
    }
    if ms is not None:
        body["timestamp"] = format_time(at(ms))
    body.update(envelope)
    return RawMessage(subject, json.dumps(body).encode())


def raw(subject: str, body: Any) -> RawMessage:
    return RawMessage(subject, json.dumps(body).encode())


def history(executions: int, nodes: int) -> list[RawMessage]:
    """Executions in order: every third fails at its last node, the others complete."""
    events = []
    for e in range(executions):
        base = {"executionId": f"e{e}"}
        events.append(message("execution.started", base | {"workflowId": "wf"}, ms=e))
        for n in range(nodes):
            node = base | {"nodeId": f"n{n}"}
            events.append(message("execution.node.started", node, ms=e + n + 1))
            outcome = "failed" if n == nodes - 1 and e % 3 == 0 else "completed"
            events.append(message(f"execution.node.{outcome}", node, ms=e + n + 2))
        end = "execution.failed" if e % 3 == 0 else "execution.completed"
        events.append(message(end, base, ms=e + nodes + 5))
    return events
