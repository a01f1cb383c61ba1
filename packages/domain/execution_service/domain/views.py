"""What readers get back: pages, execution and node-run views, dead letters, retry requests."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from execution_service.domain.events import JSON, format_time
from execution_service.domain.fold import duration
from execution_service.domain.identity import node_run_id
from execution_service.domain.status import Status

T = TypeVar("T")


@attrs.frozen
class Page:
    number: int = 1
    limit: int = 10

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.limit


def _statuses(given: Iterable[Status]) -> frozenset[Status]:
    return frozenset(given)


@attrs.frozen
class ExecutionFilter:
    """Which executions a list holds. The start-time window is half-open, [after, before), so
    that consecutive windows neither overlap nor leave a gap; an execution whose start is
    unknown is outside every window."""

    statuses: frozenset[Status] = attrs.field(default=frozenset(), converter=_statuses)
    workflow_id: str | None = None
    user_id: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None

    def admits(
        self,
        status: Status,
        workflow_id: str | None,
        user_id: str | None,
        started_at: datetime | None = None,
    ) -> bool:
        return (
            (not self.statuses or status in self.statuses)
            and (self.workflow_id is None or self.workflow_id == workflow_id)
            and (self.user_id is None or self.user_id == user_id)
            and self._in_window(started_at)
        )

    def _in_window(self, started_at: datetime | None) -> bool:
        if self.started_after is None and self.started_before is None:
            return True
        return (
            started_at is not None
            and (self.started_after is None or started_at >= self.started_after)
            and (self.started_before is None or started_at < self.started_before)
        )

    def fingerprint(self) -> str:
        """The same for equal filters, whatever order the statuses were given in."""
        times = [
            None if t is None else t.timestamp() for t in (self.started_after, self.started_before)
        ]
        parts = [sorted(s.value for s in self.statuses), self.workflow_id, self.user_id, *times]
        return repr(parts)


class ExecutionOrder(enum.Enum):
    """How a list of executions is sorted; ties are broken by id, the same way round.
    Unknown start times come last either way."""

    NEWEST_STARTED = "newest started"
    OLDEST_STARTED = "oldest started"
    LAST_UPDATED = "last updated"


@attrs.frozen
class Position:
    """Where a keyset page ends: the last row's sort time (None: unknown) and id. The next
    page holds the rows strictly after it in the order."""

    at: datetime | None
    id: str


@attrs.frozen
class NodeRunFilter:
    statuses: frozenset[Status] = attrs.field(default=frozenset(), converter=_statuses)
    node_id: str | None = None
    attempt: int | None = None

    def admits(self, status: Status, node_id: str, attempt: int) -> bool:
        return (
            (not self.statuses or status in self.statuses)
            and (self.node_id is None or self.node_id == node_id)
            and (self.attempt is None or self.attempt == attempt)
        )


@attrs.frozen
class DeadLetterFilter:
    subject: str | None = None
    replayed: bool | None = None

    def admits(self, letter: DeadLetter) -> bool:
        return (self.subject is None or self.subject == letter.subject) and (
            self.replayed is None or self.replayed == (letter.replayed_at is not None)
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
    # Changes whenever any other field does (a store's own token, opaque): what a reader can
    # tell a copy is current by, without comparing the rest.
    revision: str = attrs.field(default="", eq=False)

    @classmethod
    def of(
        cls,
        fields: Mapping[str, Any],
        nodes: NodeCounts,
        created_at: datetime,
        updated_at: datetime,
        revision: str = "",
    ) -> ExecutionView:
        """From a state's fields by name (fold.EXECUTION's, or a store's columns of the same
        names), the execution's id among them."""
        status = fields["status"]
        status = status if isinstance(status, Status) else Status(status)
        started, completed = fields["started_at"], fields["completed_at"]
        return cls(
            fields["id"], fields["workflow_id"], fields["user_id"], status, fields["attempt"],
            started, completed, duration(status, fields["reported_duration"], started, completed),
            fields["error"], fields["input"], fields["output"], fields["metadata"],
            fields["retry_of"], nodes, created_at, updated_at, revision,
        )  # fmt: skip


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

    @classmethod
    def of(
        cls, fields: Mapping[str, Any], created_at: datetime, updated_at: datetime
    ) -> NodeRunView:
        """From a state's fields by name (fold.NODE_RUN's, or a store's columns of the same
        names), the run's execution id, node id and attempt among them."""
        status = fields["status"]
        status = status if isinstance(status, Status) else Status(status)
        execution_id, node_id, attempt = (
            fields["execution_id"],
            fields["node_id"],
            fields["attempt"],
        )
        started, completed = fields["started_at"], fields["completed_at"]
        return cls(
            node_run_id((execution_id, node_id, attempt)), execution_id, node_id, attempt,
            fields["node_type"], fields["node_name"], status, fields["input"], fields["output"],
            fields["error"], started, completed,
            duration(status, fields["reported_duration"], started, completed),
            created_at, updated_at,
        )  # fmt: skip


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
    # Set when it was put back, cleared when it fails again: "replayed" means since its last
    # failure. `replays` counts every replay published.
    replayed_at: datetime | None = None
    replays: int = 0

    @property
    def replay_message_id(self) -> str:
        """What the broker de-duplicates a replay on: one replay per failure, however often
        it is asked for."""
        return f"replay:{self.key}:{self.count}"


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
