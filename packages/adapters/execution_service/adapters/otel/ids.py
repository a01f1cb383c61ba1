"""The domain's trace and span ids (domain/tracing.py) as OpenTelemetry's span contexts."""

from __future__ import annotations

from opentelemetry.trace import SpanContext, TraceFlags

from execution_service.domain import RemoteParent

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def remote(parent: RemoteParent) -> SpanContext:
    return SpanContext(
        parent.trace_id, parent.span_id, is_remote=True, trace_flags=TraceFlags(parent.flags)
    )


def local(trace: int, span: int) -> SpanContext:
    return SpanContext(trace, span, is_remote=False, trace_flags=_SAMPLED)
