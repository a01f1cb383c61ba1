"""What the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from execution_service.domain.events import Event, RawMessage
from execution_service.domain.views import (
    DeadLetter,
    ExecutionFilter,
    ExecutionView,
    NodeRunView,
    Page,
    Paged,
    RetryRequest,
)


class Unavailable(Exception):
    """A passing failure of a port (a database or broker down): try again later."""


@attrs.frozen
class Recorded:
    """What became of a batch's events: the keys of those recorded for the first time, and of
    those ignored because their execution had been pruned (retention.py)."""

    applied: frozenset[str]
    of_pruned_executions: frozenset[str] = frozenset()


class ExecutionRecorder(Protocol):
    """The write side. Each call is its own unit of work: atomic, and safe to call from
    concurrent tasks."""

    async def record(self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]) -> Recorded:
        """Atomically store the events not seen before (by key), bring their executions and
        node runs to the fold of all their events, and store the dead letters (a repeated
        key counts up). Events of an execution that was pruned are left out. Says which
        events were new, and which were left out."""
        ...

    async def record_retry_request(self, request: RetryRequest) -> RetryRequest:
        """Store the request; if one for the same execution and attempt exists, keep and
        return that one."""
        ...


class ExecutionQueries(Protocol):
    """The query side: what has been recorded, read back. Safe to call from concurrent tasks."""

    async def execution(self, execution_id: str) -> ExecutionView | None: ...

    async def executions(
        self, page: Page, where: ExecutionFilter = ExecutionFilter()
    ) -> Paged[ExecutionView]:
        """Newest first: by start time (unknown last), then id."""
        ...

    async def node_runs(self, execution_id: str, page: Page) -> Paged[NodeRunView]:
        """By start time (unknown last), then node id, then attempt."""
        ...

    async def failed_node(self, execution_id: str, attempt: int) -> str | None:
        """The node of that attempt that failed first (by failure time, then node id)."""
        ...

    async def history(self, execution_id: str) -> Sequence[RawMessage]:
        """Every event recorded for the execution, as received, in the order they were
        recorded: a batch's new events in the order the batch held them, batches in the
        order they were committed. Not the events' own timestamps: these are whatever the
        producer claimed, and the history shows what arrived, not what it says."""
        ...

    async def dead_letters(self, page: Page) -> Paged[DeadLetter]:
        """Most recently seen first."""
        ...

    async def retry_request(self, execution_id: str, attempt: int) -> RetryRequest | None: ...

    async def retry_requests(self, execution_id: str) -> Sequence[RetryRequest]:
        """Every retry requested for the execution, by attempt."""
        ...


class RetryPublisher(Protocol):
    async def publish_retry(self, request: RetryRequest) -> None:
        """Publish `execution.retry.requested`; raise PublishFailed if it did not go out."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...
