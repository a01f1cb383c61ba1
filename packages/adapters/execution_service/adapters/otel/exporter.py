"""The TraceExporter port on the OpenTelemetry SDK's OTLP/HTTP exporter: the SDK encodes the
spans (protobuf) and sends them, retrying within its timeout; this runs it off the event loop
and says whether the receiver took them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

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


class OtlpTraceExporter:
    def __init__(
        self,
        endpoint: str,
        options: TraceOptions,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        # headers, timeout, compression and certificates not given here come from the
        # SDK's own OTEL_EXPORTER_OTLP_* variables
        self._otlp = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=timeout)
        self._options = options

    async def export(self, attempts: Sequence[FinishedAttempt]) -> int:
        return await asyncio.to_thread(self._send, attempts)

    def _send(self, attempts: Sequence[FinishedAttempt]) -> int:
        spans = []
        for attempt in attempts:
            try:
                spans += spans_of(attempt, self._options)
            except Exception:  # noqa: BLE001 - one trace that cannot be made holds up no other
                log.exception(
                    "the trace of %s attempt %d could not be made: it is not exported",
                    attempt.execution_id,
                    attempt.attempt,
                )
        if spans and self._otlp.export(spans) is not SpanExportResult.SUCCESS:
            raise ExportFailed(f"the receiver did not take {len(attempts)} traces")
        return len(spans)

    def close(self) -> None:
        self._otlp.shutdown()
