"""The mapping from an attempt's events to spans (adapters/otel/mapping.py), without I/O:
what tests/integration/test_trace_export.py does not reach through a receiver."""

from __future__ import annotations

from opentelemetry.trace import StatusCode

from execution_service.adapters.otel import TraceOptions, spans_of
from execution_service.domain import Event, FinishedAttempt, RawMessage, parse_message
from execution_service.domain.tracing import remote_parent
from support.events import Workflow


def attempt_of(run: Workflow, attempt: int = 1, traceparent: str | None = None) -> FinishedAttempt:
    messages = list(run.messages)
    if traceparent is not None:
        first = messages[0]
        messages[0] = RawMessage(first.subject, first.data, {"traceparent": traceparent})
    events = [parse_message(m) for m in messages]
    assert all(isinstance(e, Event) for e in events)
    return FinishedAttempt.of_events(run.execution, attempt, events)  # type: ignore[arg-type]


def test_the_same_events_give_the_same_ids_and_another_execution_other_ids() -> None:
    run = Workflow("a").started(0).node("n", 1, 2).ended(3)
    other = Workflow("b").started(0).node("n", 1, 2).ended(3)

    ids = [(s.context.trace_id, s.context.span_id) for s in spans_of(attempt_of(run))]

    assert ids == [(s.context.trace_id, s.context.span_id) for s in spans_of(attempt_of(run))]
    assert not set(ids) & {
        (s.context.trace_id, s.context.span_id) for s in spans_of(attempt_of(other))
    }


def test_a_malformed_traceparent_is_ignored_and_the_trace_is_the_executions_own() -> None:
    run = Workflow("a").started(0).ended(3)
    own = spans_of(attempt_of(run))[0]
    for bad in (
        "nonsense",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # 00 has no more
    ):
        root = spans_of(attempt_of(run, traceparent=bad))[0]
        assert (root.context.trace_id, root.parent) == (own.context.trace_id, None), bad
    later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more"  # a later version
    assert remote_parent(later) is not None


def test_node_types_are_matched_without_regard_to_case() -> None:
    run = (
        Workflow("a").started(0)
        .node("x", 1, 2, nodeType="AI_Agent", nodeName="Boss")
        .node("y", 1, 2, nodeType="Tool")
        .node("z", 1, 2, nodeType="LLM", output={"model": "m-2"})
        .ended(3)
    )  # fmt: skip
    names = [s.name for s in spans_of(attempt_of(run))[1:]]
    assert names == ["invoke_agent Boss", "execute_tool y", "chat m-2"]


def test_an_attempt_of_another_attempt_s_events_only_takes_its_own() -> None:
    first = Workflow("a").started(0, workflowId="wf").node("n", 1, 2).ended(3, failed=True)
    second = Workflow("a", 1000, attempt=2).started(0).node("m", 1, 2).ended(5)
    both = Workflow("a")
    both.messages = first.messages + second.messages

    spans = spans_of(attempt_of(both, attempt=2))

    assert [s.name for s in spans] == ["invoke_workflow wf", "m"]  # the workflow from attempt 1
    assert spans[0].status.status_code is StatusCode.UNSET
    assert spans[0].attributes is not None and spans[0].attributes["execution.attempt"] == 2


def test_payloads_stay_out_unless_asked_and_are_cut_to_the_limit() -> None:
    run = Workflow("a").started(0, input={"k": "v" * 100}).node("n", 1, 2, input=[1]).ended(3)
    quiet = spans_of(attempt_of(run))
    loud = spans_of(attempt_of(run), TraceOptions(payloads=True, payload_limit=10))
    assert not any("input" in name for s in quiet for name in (s.attributes or {}))
    assert loud[0].attributes is not None and loud[0].attributes["execution.input"] == '{"k":"vvvv'
    assert loud[1].attributes is not None and loud[1].attributes["execution.node.input"] == "[1]"


def test_no_events_no_spans() -> None:
    assert spans_of(FinishedAttempt("gone", 1, ())) == []
