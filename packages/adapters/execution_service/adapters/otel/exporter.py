"""The TraceExporter port on the OpenTelemetry SDK's OTLP/HTTP exporter: the SDK encodes the
spans (protobuf) and sends them, retrying within its timeout; this says whether the receiver
took them.

Making and encoding spans costs tens of µs each in Python, as much as recording the events
they come from: in the ingesting process it would take that time from ingest (one GIL). So
the work runs in a worker process of its own (`processes=1`, what the service uses), on
another core when there is one; `processes=0` runs it in a thread here (tests that patch it).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace.export import SpanExportResult

from execution_service.adapters.otel.mapping import TraceOptions, spans_of
from execution_service.domain import ExportFailed, FinishedAttempt

DEFAULT_SERVICE_NAME = "execution-service"
log = logging.getLogger(__name__)


def resource_from_env() -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, as the SDK reads them; the service is
    called execution-service when they name none."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


class _Sender:
    """Makes the spans and sends them; one per process that does it."""

    def __init__(
        self,
        endpoint: str,
        options: TraceOptions,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> None:
        # headers, timeout, compression and certificates not given here come from the
        # SDK's own OTEL_EXPORTER_OTLP_* variables
        self.otlp = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=timeout)
        self.options = options

    def send(self, attempts: Sequence[FinishedAttempt]) -> int:
        spans = []
        for attempt in attempts:
            try:
                spans += spans_of(attempt, self.options)
            except Exception:  # noqa: BLE001 - one trace that cannot be made holds up no other
                log.exception(
                    "the trace of %s attempt %d could not be made: it is not exported",
                    attempt.execution_id,
                    attempt.attempt,
                )
        if spans and self.otlp.export(spans) is not SpanExportResult.SUCCESS:
            raise ExportFailed(f"the receiver did not take {len(attempts)} traces")
        return len(spans)


_worker: _Sender | None = None  # in a worker process, its own


def _start_worker(settings: tuple[Any, ...]) -> None:
    global _worker
    endpoint, attributes, schema_url, payloads, limit, headers, timeout = settings
    options = TraceOptions(Resource(attributes, schema_url), payloads, limit)
    _worker = _Sender(endpoint, options, headers, timeout)


def _send_in_worker(attempts: Sequence[FinishedAttempt]) -> int:
    assert _worker is not None, "the worker was not started"
    return _worker.send(attempts)


class OtlpTraceExporter:
    def __init__(
        self,
        endpoint: str,
        options: TraceOptions,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        processes: int = 0,
    ) -> None:
        self._sender: _Sender | None = None
        self._pool: Executor | None = None
        self._processes = processes
        resource = options.resource
        self._settings = (
            endpoint, dict(resource.attributes), resource.schema_url, options.payloads,
            options.payload_limit, None if headers is None else dict(headers), timeout,
        )  # fmt: skip
        if processes:
            self._pool = self._start_pool()
        else:
            self._sender = _Sender(endpoint, options, headers, timeout)

    def _start_pool(self) -> Executor:
        # spawn: a fork would copy this process's event loop, threads and connections
        return ProcessPoolExecutor(
            self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._settings,),
        )

    async def export(self, attempts: Sequence[FinishedAttempt]) -> int:
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(self._pool, _send_in_worker, list(attempts))
            except BrokenProcessPool:
                self._pool = self._start_pool()  # the worker died (killed, out of memory)
                raise ExportFailed("the export's worker process died") from None
        assert self._sender is not None
        return await asyncio.to_thread(self._sender.send, attempts)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._sender is not None:
            self._sender.otlp.shutdown()
