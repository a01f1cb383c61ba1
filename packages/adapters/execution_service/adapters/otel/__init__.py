"""OpenTelemetry: executions as traces (mapping.py) sent over OTLP/HTTP (exporter.py)."""

from execution_service.adapters.otel.exporter import OtlpTraceExporter, resource_from_env
from execution_service.adapters.otel.mapping import TraceOptions, spans_of

__all__ = ["OtlpTraceExporter", "TraceOptions", "resource_from_env", "spans_of"]
