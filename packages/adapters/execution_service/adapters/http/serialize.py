"""Views as the old service's clients read them: camelCase, ISO-8601 UTC, upper-case status."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import orjson

from execution_service.domain import (
    DeadLetter,
    ExecutionView,
    NodeRunView,
    Paged,
    RawMessage,
    RetryRequest,
)


def iso(at: datetime | None) -> str | None:
    """format_time's text (what JavaScript's toISOString writes: UTC, ms, Z), at a third of its
    cost: orjson writes the date and time, the milliseconds are added. A list page writes
    forty of these (tests/unit/test_http.py holds the two to the same text)."""
    if at is None:
        return None
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    whole = orjson.dumps(at, option=orjson.OPT_OMIT_MICROSECONDS | orjson.OPT_UTC_Z)
    return f"{whole[1:20].decode()}.{at.microsecond // 1000:03d}Z"


def execution(view: ExecutionView) -> dict[str, Any]:
    return {
        "id": view.id,
        "workflowId": view.workflow_id,
        "userId": view.user_id,
        "status": view.status.value,
        "startedAt": iso(view.started_at),
        "completedAt": iso(view.completed_at),
        "duration": view.duration,
        "error": view.error,
        "input": view.input,
        "output": view.output,
        "metadata": view.metadata,
        "attempt": view.attempt,
        "retryOf": view.retry_of,
        "nodes": {
            "total": view.nodes.total,
            "running": view.nodes.running,
            "completed": view.nodes.completed,
            "failed": view.nodes.failed,
        },
        "createdAt": iso(view.created_at),
        "updatedAt": iso(view.updated_at),
    }


def node_run(view: NodeRunView) -> dict[str, Any]:
    return {
        "id": view.id,
        "executionId": view.execution_id,
        "nodeId": view.node_id,
        "nodeName": view.node_name,
        "nodeType": view.node_type,
        "status": view.status.value,
        "attempt": view.attempt,
        "input": view.input,
        "output": view.output,
        "error": view.error,
        "startedAt": iso(view.started_at),
        "completedAt": iso(view.completed_at),
        "duration": view.duration,
        "createdAt": iso(view.created_at),
        "updatedAt": iso(view.updated_at),
    }


def dead_letter(letter: DeadLetter) -> dict[str, Any]:
    try:
        payload, encoding = letter.payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(letter.payload).decode(), "base64"
    return {
        "key": letter.key,
        "subject": letter.subject,
        "reason": letter.reason,
        "payload": payload,
        "encoding": encoding,
        "headers": dict(letter.headers),
        "count": letter.count,
        "firstSeen": iso(letter.first_seen),
        "lastSeen": iso(letter.last_seen),
        "replayedAt": iso(letter.replayed_at),
        "replays": letter.replays,
    }


def replay_accepted(letter: DeadLetter) -> dict[str, Any]:
    return {
        "message": "Dead letter replayed",
        "key": letter.key,
        "messageId": letter.replay_message_id,
        "replays": letter.replays,
    }


def listing(items: list[dict[str, Any]], paged: Paged[Any]) -> dict[str, Any]:
    """The envelope of the list endpoints: data and pagination."""
    return {"data": items, "pagination": pagination(paged)}


def pagination(paged: Paged[Any]) -> dict[str, int]:
    return {
        "total": paged.total,
        "page": paged.page.number,
        "limit": paged.page.limit,
        "totalPages": paged.total_pages,
    }


def retry_accepted(request: RetryRequest) -> dict[str, Any]:
    return {
        "message": "Execution retry initiated",
        "executionId": request.execution_id,
        "failedNodeId": request.failed_node_id,
        "attempt": request.attempt,
    }


def recorded_event(message: RawMessage) -> dict[str, Any]:
    return {
        "key": message.headers.get("Nats-Msg-Id"),
        "subject": message.subject,
        "event": json.loads(message.data),
    }


def retry_request(request: RetryRequest) -> dict[str, Any]:
    return {
        "executionId": request.execution_id,
        "attempt": request.attempt,
        "failedNodeId": request.failed_node_id,
        "requestedAt": iso(request.requested_at),
        "messageId": request.message_id,
    }
