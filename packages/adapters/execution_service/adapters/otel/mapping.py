"""An execution attempt as OpenTelemetry spans, in the GenAI agent conventions (CONTRACT §7).

A pure function of the attempt's events: the same events give the same spans, ids included.
The attempt's own events decide its times and its end (the stored execution keeps the earliest
start of any attempt, and the latest attempt's end); any event of the execution may say what
it is (its workflow, its user)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event as SpanEvent
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from execution_service.adapters.otel.ids import local, remote
from execution_service.domain import (
    EXECUTION,
    FinishedAttempt,
    NodeRunTrace,
    node_span_id,
    project,
    root_span_id,
)
from execution_service.domain import Status as RunStatus

PAYLOAD_LIMIT = 4096  # characters of an input or output's JSON, when payloads are exported
# nodeType, lower-cased, to the GenAI operation its span is named after (CONTRACT §7)
AGENT_TYPES = frozenset(("agent", "ai_agent", "ai-agent", "llm_agent"))
TOOL_TYPES = frozenset(("tool", "function", "function_call", "tool_call"))
MODEL_TYPES = frozenset(("llm", "model", "chat", "chat_model", "completion", "llm_call"))
SCOPE = InstrumentationScope("execution_service")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@attrs.frozen
class TraceOptions:
    resource: Resource = attrs.field(factory=Resource.get_empty)
    payloads: bool = False  # OTEL_EXPORT_PAYLOADS: inputs and outputs as attributes
    payload_limit: int = PAYLOAD_LIMIT


_QUIET = TraceOptions()


def spans_of(attempt: FinishedAttempt, options: TraceOptions = _QUIET) -> list[ReadableSpan]:
    """The attempt's trace: its execution's span first, then one span per node run; none
    for an attempt of which no event is left."""
    if not attempt.events:
        return []
    x, number = attempt.execution_id, attempt.attempt
    own = attempt.own_events()
    mine = project(own)
    whole = project(attempt.events).executions.get(x)
    state = EXECUTION.as_dict(mine.executions[x]) if x in mine.executions else {}
    known = EXECUTION.as_dict(whole) if whole is not None else {}

    remote_parent = attempt.parent()
    parent = remote(remote_parent) if remote_parent is not None else None
    root = local(attempt.trace_id(), root_span_id(x, number))
    runs = attempt.node_runs
    times = [e.at for e in own] or [
        at for run in runs for at in (run.started_at, run.completed_at) if at is not None
    ]
    if not times:
        return []
    start = state.get("started_at") or min(times)
    status = state.get("status") or RunStatus.RUNNING
    ended = state.get("completed_at") if status.is_terminal else None
    end = max(ended or max(times), start)

    node_statuses = [run.status for run in runs]
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_workflow",
        "execution.id": x,
        "execution.attempt": number,
        "execution.status": str(status),
        "execution.nodes": len(runs),
        "execution.nodes.completed": node_statuses.count(RunStatus.COMPLETED),
        "execution.nodes.failed": node_statuses.count(RunStatus.FAILED),
    }
    workflow_id = state.get("workflow_id") or known.get("workflow_id")
    _put(attributes, "workflow.id", workflow_id)
    _put(attributes, "user.id", state.get("user_id") or known.get("user_id"))
    _put(attributes, "execution.retry_of", state.get("retry_of") or known.get("retry_of"))
    if options.payloads:
        _put(attributes, "execution.input", _payload(known.get("input"), options))
        _put(attributes, "execution.output", _payload(state.get("output"), options))
        _put(attributes, "execution.metadata", _payload(known.get("metadata"), options))
    events: list[SpanEvent] = []
    if status is RunStatus.CANCELLED:
        reason = {"execution.cancel_reason": state["error"]} if state.get("error") else {}
        events.append(SpanEvent("execution.cancelled", reason, _nanos(end)))
    links = []
    if number > 1:
        earlier = local(attempt.trace_id(number - 1), root_span_id(x, number - 1))
        links.append(Link(earlier, {"execution.link": "retry_of"}))
    spans = [
        ReadableSpan(
            f"invoke_workflow {workflow_id}" if workflow_id else "invoke_workflow",
            context=root,
            parent=parent,
            resource=options.resource,
            attributes=attributes,
            events=events,
            links=links,
            kind=SpanKind.INTERNAL,
            status=_status(status, state.get("error"), "execution"),
            start_time=_nanos(start),
            end_time=_nanos(end),
            instrumentation_scope=SCOPE,
        )
    ]
    for run in runs:
        spans.append(_node_span(x, number, run, root, start, end, options))
    return spans


def _node_span(
    x: str,
    attempt: int,
    run: NodeRunTrace,
    root: SpanContext,
    root_start: datetime,
    root_end: datetime,
    options: TraceOptions,
) -> ReadableSpan:
    status, node_id = run.status, run.node_id
    ended = run.completed_at if status.is_terminal else None
    start = run.started_at or ended or root_start
    end = max(ended or root_end, start)
    node_type, name = run.node_type, run.node_name or node_id
    attributes: dict[str, Any] = {
        "execution.id": x,
        "execution.attempt": attempt,
        "execution.node.id": node_id,
        "execution.node.status": str(status),
    }
    _put(attributes, "execution.node.type", node_type)
    _put(attributes, "execution.node.name", run.node_name)
    kind = (node_type or "").lower()
    if kind in AGENT_TYPES:
        span_name = f"invoke_agent {name}"
        attributes |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
    elif kind in TOOL_TYPES:
        span_name = f"execute_tool {name}"
        attributes |= {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    elif kind in MODEL_TYPES:
        model = _text(run.input, "model")
        answered = _text(run.output, "model")
        span_name = f"chat {model or answered}" if model or answered else "chat"
        attributes["gen_ai.operation.name"] = "chat"
        _put(attributes, "gen_ai.request.model", model)
        _put(attributes, "gen_ai.response.model", answered)
    else:
        span_name = name
    usage = run.output.get("usage") if isinstance(run.output, dict) else None
    if isinstance(usage, dict):
        for side in ("input_tokens", "output_tokens"):
            tokens = usage.get(side)
            if type(tokens) is int and tokens >= 0:  # noqa: E721 - a bool is no count
                attributes[f"gen_ai.usage.{side}"] = tokens
    if status is RunStatus.FAILED and run.error:
        attributes["error.type"] = "node_failed"
    if options.payloads:
        _put(attributes, "execution.node.input", _payload(run.input, options))
        _put(attributes, "execution.node.output", _payload(run.output, options))
    return ReadableSpan(
        span_name,
        context=local(root.trace_id, node_span_id(x, attempt, node_id)),
        parent=root,
        resource=options.resource,
        attributes=attributes,
        kind=SpanKind.INTERNAL,
        status=_status(status, run.error, "node"),
        start_time=_nanos(start),
        end_time=_nanos(end),
        instrumentation_scope=SCOPE,
    )


def _status(status: RunStatus, error: str | None, what: str) -> Status:
    if status is RunStatus.FAILED:
        return Status(StatusCode.ERROR, error or f"the {what} failed")
    return Status(StatusCode.UNSET)


def _nanos(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND * 1000


def _put(attributes: dict[str, Any], name: str, value: object) -> None:
    if value is not None:
        attributes[name] = value


def _text(value: object, field: str) -> str | None:
    found = value.get(field) if isinstance(value, dict) else None
    return found if isinstance(found, str) and found else None


def _payload(value: object, options: TraceOptions) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= options.payload_limit else text[: options.payload_limit]
