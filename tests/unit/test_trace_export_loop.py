"""The export loop of every replica (app/tracing.py) on fakes: a failing receiver is counted
and waited out, longer each time, and the loop goes on; the backlog is sampled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest

from execution_service.adapters.prometheus import PrometheusTraceMetrics
from execution_service.app.tracing import TraceExport
from execution_service.domain import Exported, ExportFailed, FinishedAttempt, TraceExporter
from support.metrics import Scrape


class Exporter:
    async def export(self, attempts: Sequence[FinishedAttempt]) -> int:
        return 0


class Outbox:
    """Fails `failing` times, then exports what waits, 2 traces of 3 spans a call."""

    def __init__(self, waiting: int, failing: int) -> None:
        self.waiting, self.failing, self.calls = waiting, failing, 0

    async def export_due(self, limit: int, exporter: TraceExporter) -> Exported:
        self.calls += 1
        if self.failing:
            self.failing -= 1
            raise ExportFailed("the receiver answered 503")
        done = min(2, self.waiting)
        self.waiting -= done
        return Exported(done, 3 * done)

    async def backlog(self) -> int:
        return self.waiting


async def test_failures_are_counted_and_waited_out_then_the_backlog_goes() -> None:
    registry = CollectorRegistry()
    outbox = Outbox(waiting=4, failing=3)
    loop = TraceExport(
        outbox, Exporter(), PrometheusTraceMetrics(registry, lambda: 0), idle=0.01, max_backoff=0.03
    )
    task = asyncio.create_task(loop.run())
    for _ in range(200):
        await asyncio.sleep(0.01)
        if outbox.waiting == 0:
            break
    task.cancel()
    figures = Scrape.parse(generate_latest(registry).decode())
    assert figures.sum("execution_service_trace_export_failures_total") == 3
    assert figures.sum("execution_service_traces_exported_total") == 4
    assert figures.sum("execution_service_trace_spans_exported_total") == 12
    assert figures.sum("execution_service_trace_export_backlog") == 4  # the first sample
    assert loop._backoff == 0  # back to no waiting once it works
