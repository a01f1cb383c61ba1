"""The trace export's figures (CONTRACT §7): what went, what failed, what waits, what was
dropped, and late node events, which are counted, not exported again."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class PrometheusTraceMetrics:
    def __init__(self, registry: CollectorRegistry, late_events: Callable[[], int]) -> None:
        self._exported = Counter(
            "execution_service_traces_exported",
            "Traces of finished execution attempts the receiver accepted",
            registry=registry,
        )
        self._spans = Counter(
            "execution_service_trace_spans_exported",
            "Spans of those traces",
            registry=registry,
        )
        self._failures = Counter(
            "execution_service_trace_export_failures",
            "Exports the receiver did not accept (down, refused, 5xx): their traces wait",
            registry=registry,
        )
        self._backlog = Gauge(
            "execution_service_trace_export_backlog",
            "Finished execution attempts whose trace waits for export (sampled)",
            registry=registry,
        )
        self._dropped = Counter(
            "execution_service_traces_dropped",
            "Traces still waiting for export when retention deleted their execution",
            registry=registry,
        )
        registry.register(_LateEvents(late_events))

    def exported(self, traces: int, spans: int) -> None:
        self._exported.inc(traces)
        self._spans.inc(spans)

    def export_failed(self) -> None:
        self._failures.inc()

    def backlog(self, waiting: int) -> None:
        self._backlog.set(waiting)

    def dropped(self, traces: int) -> None:
        self._dropped.inc(traces)


class _LateEvents(Collector):
    """Read from the recorder when scraped: it counts them as it writes."""

    def __init__(self, count: Callable[[], int]) -> None:
        self._count = count

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "execution_service_trace_late_events",
            "Node runs reported for an attempt after its trace was exported (not exported again)",
            value=self._count(),
        )
