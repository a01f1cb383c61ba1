"""Building raw event messages the way the orchestrator publishes them, and the one workflow
builder of the tests: an execution's events, told in the order a test needs them."""

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
        run = Workflow(f"e{e}", e).started(0, workflowId="wf")
        for n in range(nodes):
            run.node(f"n{n}", n + 1, n + 2, failed=n == nodes - 1 and e % 3 == 0)
        events += run.ended(nodes + 5, failed=e % 3 == 0).messages
    return events


class Workflow:
    """Events of one execution. Times are ms after `start_ms` (on support.events' clock);
    `common` fields (say attempt) go into every event's data."""

    def __init__(self, execution: str, start_ms: int = 0, **common: Any) -> None:
        self.execution = execution
        self.start_ms = start_ms
        self.common = common
        self.messages: list[RawMessage] = []

    def emit(self, subject: str, ms: int, **data: Any) -> Workflow:
        body = {"executionId": self.execution} | self.common | data
        self.messages.append(message(f"execution.{subject}", body, ms=self.start_ms + ms))
        return self

    def started(self, ms: int, **data: Any) -> Workflow:
        return self.emit("started", ms, **data)

    def node_started(self, node: str, ms: int, **data: Any) -> Workflow:
        return self.emit("node.started", ms, nodeId=node, **data)

    def node_ended(self, node: str, ms: int, failed: bool = False, **data: Any) -> Workflow:
        return self.emit(f"node.{'failed' if failed else 'completed'}", ms, nodeId=node, **data)

    def node(
        self, node: str, ms: int, ended_ms: int, failed: bool = False, **data: Any
    ) -> Workflow:
        """A node run from start to end; `data` goes into both events."""
        return self.node_started(node, ms, **data).node_ended(node, ended_ms, failed, **data)

    def ended(self, ms: int, failed: bool = False, **data: Any) -> Workflow:
        return self.emit("failed" if failed else "completed", ms, **data)
