"""What the event consumer tells whoever watches it, once per batch: the port behind the
service's metrics. The consumer calls it; an adapter turns it into figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from execution_service.domain.use_cases import BatchReport


class BatchObserver(Protocol):
    """Called once per batch, never once per event: an implementation counts a whole batch
    at a time, so that watching costs nothing measurable per event."""

    def batch_fetched(self, size: int, redelivered: int) -> None:
        """A batch arrived; `redelivered` of its messages had been delivered before."""
        ...

    def batch_recorded(self, subjects: Sequence[str], report: BatchReport) -> None:
        """The batch is committed: `report.outcomes[i]` is what became of `subjects[i]`
        (rejected ones are stored as dead letters)."""
        ...

    def batch_finished(self, seconds: float) -> None:
        """From fetched to acknowledged (or handed back for redelivery)."""
        ...

    def dead_lettered_after_failures(self, count: int) -> None:
        """Messages stored as dead letters because they failed too many deliveries."""
        ...


class UnobservedBatches:
    """The observer to use when nobody watches."""

    def batch_fetched(self, size: int, redelivered: int) -> None:
        pass

    def batch_recorded(self, subjects: Sequence[str], report: BatchReport) -> None:
        pass

    def batch_finished(self, seconds: float) -> None:
        pass

    def dead_lettered_after_failures(self, count: int) -> None:
        pass
