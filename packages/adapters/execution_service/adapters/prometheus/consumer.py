"""The consumer's figures: the BatchObserver port on prometheus-client counters and
histograms. Each batch costs one pass to count it and one `inc` per label set in it."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from execution_service.domain import BatchReport, EventKind, Outcome

OTHER_SUBJECT = "other"  # a subject no event has: one label value, whatever was sent
KNOWN_SUBJECTS = frozenset(kind.value for kind in EventKind)
BATCH_SIZES = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class PrometheusBatchObserver:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._events = Counter(
            "execution_service_events",
            "Events consumed, by what became of them and their subject",
            ["outcome", "subject"],
            registry=registry,
        )
        self._dead_letters = Counter(
            "execution_service_dead_letters",
            "Events stored as dead letters: rejected, or failing too many deliveries",
            registry=registry,
        )
        self._redeliveries = Counter(
            "execution_service_redeliveries",
            "Messages that JetStream had delivered before (not acknowledged in time, or "
            "handed back after a failure)",
            registry=registry,
        )
        self._batch_seconds = Histogram(
            "execution_service_batch_duration_seconds",
            "Time from a batch's arrival to its acknowledgement",
            registry=registry,
        )
        self._batch_size = Histogram(
            "execution_service_batch_size",
            "Messages per batch",
            buckets=BATCH_SIZES,
            registry=registry,
        )
        # Until an event is applied, the age counts from start-up: a service that never
        # applies one still looks idle to the "no events while the stream grows" alert.
        self._last_applied = time.monotonic()
        age = Gauge(
            "execution_service_last_event_age_seconds",
            "Seconds since an event was last applied (since start-up before the first)",
            registry=registry,
        )
        age.set_function(lambda: time.monotonic() - self._last_applied)
        # Every series exists from the start, at 0, so that rate() sees the first events.
        for outcome in Outcome:
            for subject in (*sorted(KNOWN_SUBJECTS), OTHER_SUBJECT):
                self._events.labels(outcome.value, subject)

    def batch_fetched(self, size: int, redelivered: int) -> None:
        self._batch_size.observe(size)
        if redelivered:
            self._redeliveries.inc(redelivered)

    def batch_recorded(self, subjects: Sequence[str], report: BatchReport) -> None:
        tally = Tally(zip(report.outcomes, subjects, strict=True))
        rejected = applied = 0
        for (outcome, subject), n in tally.items():
            label = subject if subject in KNOWN_SUBJECTS else OTHER_SUBJECT
            self._events.labels(outcome.value, label).inc(n)
            if outcome is Outcome.REJECTED:
                rejected += n
            elif outcome is Outcome.APPLIED:
                applied += n
        if rejected:
            self._dead_letters.inc(rejected)
        if applied:
            self._last_applied = time.monotonic()

    def batch_finished(self, seconds: float) -> None:
        self._batch_seconds.observe(seconds)

    def dead_lettered_after_failures(self, count: int) -> None:
        self._dead_letters.inc(count)
