"""What readers get back: pages, execution and node-run views, dead letters, retry requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from execution_service.domain.events import JSON, format_time
from execution_service.domain.model import Status

T = TypeVar("T")


@attrs.frozen
class Page:
    number: int = 1
    limit: int = 10

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.limit


@attrs.frozen
class ExecutionFilter:
    status: Status | None = None
    workflow_id: str | None = None
    user_id: str | None = None

    def admits(self, status: Status, workflow_id: str | None, user_id: str | None) -> bool:
        return (
            (self.status is None or self.status is status)
            and (self.workflow_id is None or self.workflow_id == workflow_id)
            and (self.user_id is None or self.user_id == user_id)
        )


@attrs.frozen
class Paged(Generic[T]):
    items: Sequence[T]
    total: int
    page: Page

    @property
    def total_pages(self) -> int:
        return -(-self.total // self.page.limit)


@attrs.frozen
class NodeCounts:
    """Over distinct nodes, each counted by its run of the highest attempt."""

    total: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0


@attrs.frozen
class ExecutionView:
    id: str
    workflow_id: str | None
    user_id: str | None
    status: Status
    attempt: int
    started_at: datetime | None
    completed_at: datetime | None
    duration: int | None
    error: str | None
    input: JSON
    output: JSON
    metadata: JSON
    retry_of: str | None
    nodes: NodeCounts
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class NodeRunView:
    id: str
    execution_id: str
    node_id: str
    attempt: int
    node_type: str | None
    node_name: str | None
    status: Status
    input: JSON
    output: JSON
    error: str | None
    started_at: datetime | None
    completed_at: datetime | None
    duration: int | None
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class DeadLetter:
    key: str
    subject: str
    payload: bytes
    headers: Mapping[str, str]
    reason: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    count: int = 1


@attrs.frozen
class RetryRequest:
    execution_id: str
    attempt: int
    failed_node_id: str
    workflow_id: str | None
    user_id: str | None
    requested_at: datetime

    @property
    def message_id(self) -> str:
        """What the broker de-duplicates on: one request per execution and attempt."""
        return f"retry:{self.execution_id}:{self.attempt}"

    def envelope(self) -> dict[str, Any]:
        at = format_time(self.requested_at)
        return {
            "eventId": self.message_id,
            "eventType": "execution.retry.requested",
            "timestamp": at,
            "version": "1.0",
            "data": {
                "executionId": self.execution_id,
                "workflowId": self.workflow_id,
                "userId": self.user_id,
                "failedNodeId": self.failed_node_id,
                "attempt": self.attempt,
                "requestedAt": at,
            },
        }
