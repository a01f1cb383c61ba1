"""Trace export in the running service (CONTRACT §7): every replica runs this loop on the
shared outbox, which hands each finished attempt to one of them (adapters/postgres/outbox.py).
A receiver that is down makes the loop wait, longer each time, and fails nothing else:
readiness does not ask about it."""

from __future__ import annotations

import asyncio
import logging
import time

from execution_service.adapters.prometheus import PrometheusTraceMetrics
from execution_service.domain import ExportFailed, TraceExporter, TraceOutbox

log = logging.getLogger(__name__)

TRACES_PER_EXPORT = 100  # one OTLP request each; the outbox's rows held meanwhile
BACKLOG_EVERY = 5.0  # seconds between samples of the backlog


class TraceExport:
    def __init__(
        self,
        outbox: TraceOutbox,
        exporter: TraceExporter,
        metrics: PrometheusTraceMetrics,
        idle: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self._outbox = outbox
        self._exporter = exporter
        self._metrics = metrics
        self._idle = idle
        self._max_backoff = max_backoff
        self._backoff = 0.0
        self._sampled = 0.0

    async def run(self) -> None:
        while True:
            await self._sample_backlog()
            try:
                done = await self._outbox.export_due(TRACES_PER_EXPORT, self._exporter)
            except ExportFailed as failed:
                self._metrics.export_failed()
                self._backoff = min(self._max_backoff, max(self._idle, self._backoff * 2))
                log.warning("trace export failed (%s); next try in %.0f s", failed, self._backoff)
                await asyncio.sleep(self._backoff)
                continue
            except Exception:  # noqa: BLE001 - the database may be down: try again later
                log.exception("trace export failed")
                await asyncio.sleep(max(self._idle, 5.0))
                continue
            if self._backoff:
                log.info("trace export works again")
                self._backoff = 0.0
            self._metrics.exported(done.traces, done.spans)
            if done.traces < TRACES_PER_EXPORT:
                await asyncio.sleep(self._idle)

    async def _sample_backlog(self) -> None:
        if time.monotonic() - self._sampled < BACKLOG_EVERY:
            return
        self._sampled = time.monotonic()
        try:
            self._metrics.backlog(await self._outbox.backlog())
        except Exception as exc:  # noqa: BLE001 - a figure: the next sample may do
            log.debug("could not count the trace backlog: %r", exc)
