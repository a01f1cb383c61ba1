"""Traces through the outbox to a real OTLP/HTTP receiver (support/otlp.py decodes them with
opentelemetry-proto): their shape, and that each finished attempt arrives once whatever
happens to the receiver and however many replicas export."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from execution_service.adapters.otel import OtlpTraceExporter, TraceOptions
from execution_service.adapters.otel import exporter as exporter_module
from execution_service.adapters.postgres import (
    Database,
    PostgresPruner,
    PostgresRecorder,
    PostgresTraceOutbox,
)
from execution_service.domain import (
    Cutoffs,
    Event,
    Exported,
    ExportFailed,
    FinishedAttempt,
    RawMessage,
    parse_message,
)
from support.events import Workflow, at
from support.otlp import OtlpReceiver

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


def ns(ms: int) -> int:
    return int((at(ms) - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000


def events(messages: Sequence[RawMessage]) -> list[Event]:
    parsed = [parse_message(m) for m in messages]
    assert all(isinstance(e, Event) for e in parsed)
    return parsed  # type: ignore[return-value]


def with_traceparent(message: RawMessage, traceparent: str) -> RawMessage:
    return RawMessage(message.subject, message.data, {"traceparent": traceparent})


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


def exporter_to(
    receiver: OtlpReceiver, payloads: bool = False, processes: int = 0
) -> OtlpTraceExporter:
    options = TraceOptions(Resource({"service.name": "tests"}), payloads=payloads)
    return OtlpTraceExporter(receiver.url, options, timeout=2, processes=processes)


def recorder(database: Database, delay: float = 0.0) -> PostgresRecorder:
    return PostgresRecorder(database, trace_delay=delay)


async def export_all(outbox: PostgresTraceOutbox, exporter: OtlpTraceExporter) -> Exported:
    traces = spans = 0
    while True:
        done = await outbox.export_due(50, exporter)
        traces, spans = traces + done.traces, spans + done.spans
        if not done.traces:
            return Exported(traces, spans)


def agent_workflow() -> Workflow:
    return (
        Workflow("x-1")
        .started(0, workflowId="wf-support", userId="u-7", input={"question": "why?"})
        .node("plan", 10, 40, nodeType="agent", nodeName="planner")
        .node_started("search", 50, nodeType="tool", nodeName="web_search", input={"q": "why"})
        .node_ended("search", 90, nodeType="tool", output={"hits": 3})
        .node_started("answer", 100, nodeType="llm", nodeName="answer", input={"model": "gpt-4o"})
        .node_ended(
            "answer",
            180,
            failed=True,
            nodeType="llm",
            error="rate limited",
            output={"usage": {"input_tokens": 120, "output_tokens": 0}},
        )  # fmt: skip
        .node("other", 185, 190, nodeType="transform")
        .ended(200, failed=True, error="answer failed")
    )


async def test_a_finished_execution_arrives_as_one_trace_in_the_genai_conventions(
    database: Database, receiver: OtlpReceiver
) -> None:
    run = agent_workflow()
    run.messages[0] = with_traceparent(run.messages[0], f"00-{PARENT_TRACE}-{PARENT_SPAN}-01")
    await recorder(database).record(events(run.messages), [])

    assert await export_all(PostgresTraceOutbox(database), exporter_to(receiver)) == Exported(1, 5)

    by_name = {s.name: s for s in receiver.spans}
    assert set(by_name) == {
        "invoke_workflow wf-support", "invoke_agent planner", "execute_tool web_search",
        "chat gpt-4o", "other",
    }  # fmt: skip
    root = by_name["invoke_workflow wf-support"]
    # the orchestrator's trace and this one are one
    assert (root.trace_id, root.parent_span_id) == (PARENT_TRACE, PARENT_SPAN)
    assert {s.trace_id for s in receiver.spans} == {PARENT_TRACE}
    assert all(s.parent_span_id == root.span_id for s in receiver.spans if s is not root)
    assert (root.start, root.end) == (ns(0), ns(200))
    assert (root.status, root.message) == ("STATUS_CODE_ERROR", "answer failed")
    assert root.attributes == {
        "gen_ai.operation.name": "invoke_workflow",
        "execution.id": "x-1",
        "execution.attempt": 1,
        "execution.status": "FAILED",
        "execution.nodes": 4,
        "execution.nodes.completed": 3,
        "execution.nodes.failed": 1,
        "workflow.id": "wf-support",
        "user.id": "u-7",
    }
    assert root.resource["service.name"] == "tests"
    agent = by_name["invoke_agent planner"]
    assert (agent.start, agent.end, agent.status) == (ns(10), ns(40), "STATUS_CODE_UNSET")
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "planner"
    tool = by_name["execute_tool web_search"]
    assert tool.attributes["gen_ai.tool.name"] == "web_search"
    assert tool.attributes["execution.node.id"] == "search"
    assert "execution.node.input" not in tool.attributes  # payloads are off by default
    chat = by_name["chat gpt-4o"]
    assert (chat.start, chat.end) == (ns(100), ns(180))
    assert (chat.status, chat.message) == ("STATUS_CODE_ERROR", "rate limited")
    assert chat.attributes["gen_ai.request.model"] == "gpt-4o"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 120
    assert chat.attributes["gen_ai.usage.output_tokens"] == 0
    assert chat.attributes["execution.node.status"] == "FAILED"
    assert by_name["other"].attributes.get("gen_ai.operation.name") is None


async def test_a_retry_is_its_own_trace_with_its_own_times_linked_to_the_attempt_it_retries(
    database: Database, receiver: OtlpReceiver
) -> None:
    first = Workflow("x-2").started(0, workflowId="wf").node("n", 10, 20, failed=True)
    first.ended(30, failed=True, error="n failed")
    second = Workflow("x-2", 60_000, attempt=2).started(0, workflowId="wf").node("n", 10, 20)
    second.ended(40)
    store = recorder(database)
    await store.record(events(first.messages), [])
    await store.record(events(second.messages), [])

    assert (await export_all(PostgresTraceOutbox(database), exporter_to(receiver))).traces == 2

    one, two = sorted(receiver.roots(), key=lambda s: s.attributes["execution.attempt"])
    assert one.trace_id != two.trace_id
    assert (one.start, one.end, one.status) == (ns(0), ns(30), "STATUS_CODE_ERROR")
    assert (two.start, two.end, two.status) == (ns(60_000), ns(60_040), "STATUS_CODE_UNSET")
    assert one.links == []
    assert two.links == [(one.trace_id, one.span_id, {"execution.link": "retry_of"})]
    nodes = [s for s in receiver.spans if s.name == "n"]
    assert sorted((s.trace_id, s.start) for s in nodes) == sorted(
        [(one.trace_id, ns(10)), (two.trace_id, ns(60_010))]
    )


async def test_a_cancelled_execution_says_so_and_payloads_are_exported_only_when_asked(
    database: Database, receiver: OtlpReceiver
) -> None:
    run = Workflow("x-3").started(0, input={"text": "x" * 10_000}).node_started("n", 5)
    run.emit("cancelled", 50, reason="user stopped it")
    await recorder(database).record(events(run.messages), [])

    await export_all(PostgresTraceOutbox(database), exporter_to(receiver, payloads=True))

    (root,) = receiver.roots()
    assert root.name == "invoke_workflow"  # no workflow id was given
    assert root.status == "STATUS_CODE_UNSET"
    assert root.attributes["execution.status"] == "CANCELLED"
    assert root.events == [("execution.cancelled", {"execution.cancel_reason": "user stopped it"})]
    assert len(root.attributes["execution.input"]) == 4096
    assert root.attributes["execution.input"].startswith('{"text":"xxx')
    (node,) = (s for s in receiver.spans if s is not root)
    # a node still running when the execution ended ends with it
    assert (node.start, node.end, node.attributes["execution.node.status"]) == (
        ns(5), ns(50), "RUNNING",
    )  # fmt: skip


async def test_exported_once_a_repeated_end_and_late_node_events_are_counted_not_sent(
    database: Database, receiver: OtlpReceiver
) -> None:
    run = Workflow("x-4").started(0).node("n", 1, 2).ended(3)
    store = recorder(database)
    await store.record(events(run.messages), [])
    outbox = PostgresTraceOutbox(database)
    assert (await export_all(outbox, exporter_to(receiver))).traces == 1

    late = Workflow("x-4").node("late", 4, 5).ended(6)  # another end report, new key
    await store.record(events(late.messages), [])

    assert (await export_all(outbox, exporter_to(receiver))).traces == 0
    assert len(receiver.roots()) == 1
    assert store.late_trace_events == 1
    assert await outbox.backlog() == 0


async def test_an_attempt_waits_for_the_grace_period_before_export(
    database: Database, receiver: OtlpReceiver
) -> None:
    run = Workflow("x-5").started(0).node("n", 1, 2).ended(3)
    await recorder(database, delay=1.5).record(events(run.messages), [])
    outbox = PostgresTraceOutbox(database)

    assert (await outbox.export_due(10, exporter_to(receiver))).traces == 0
    assert await outbox.backlog() == 1
    await asyncio.sleep(1.6)
    assert (await outbox.export_due(10, exporter_to(receiver))).traces == 1


async def test_a_receiver_down_or_failing_loses_nothing_and_sends_nothing_twice(
    database: Database, receiver: OtlpReceiver
) -> None:
    store = recorder(database)
    for n in range(30):
        run = Workflow(f"d-{n}").started(0).node("n", 1, 2).ended(3)
        await store.record(events(run.messages), [])
    outbox = PostgresTraceOutbox(database, max_backoff=0.2)
    exporter = exporter_to(receiver, processes=1)  # in a worker process, as the service does

    receiver.status = 503
    with pytest.raises(ExportFailed):
        await outbox.export_due(50, exporter)
    await receiver.stop()  # then not even listening
    await asyncio.sleep(0.3)
    with pytest.raises(ExportFailed):
        await outbox.export_due(50, exporter)
    assert await outbox.backlog() == 30
    assert receiver.spans == []

    receiver.status = 200
    await receiver.start()
    await asyncio.sleep(0.3)  # past the backoff
    assert (await export_all(outbox, exporter)).traces == 30

    assert Counter(s.attributes["execution.id"] for s in receiver.roots()) == {
        f"d-{n}": 1 for n in range(30)
    }
    assert await outbox.backlog() == 0
    rows = await database.fetch_val(
        "SELECT array_agg(tries ORDER BY execution_id) FROM trace_outbox"
    )
    assert set(rows) == {3}  # two failed tries, then the one that went


async def test_two_replicas_share_the_backlog_and_never_send_a_trace_twice(
    database: Database, receiver: OtlpReceiver
) -> None:
    store = recorder(database)
    for n in range(300):
        run = Workflow(f"r-{n}").started(0).node("a", 1, 2).node("b", 2, 3).ended(4)
        await store.record(events(run.messages), [])
    replicas = [PostgresTraceOutbox(database) for _ in range(2)]
    exporters = [exporter_to(receiver) for _ in range(2)]

    async def drain(outbox: PostgresTraceOutbox, exporter: OtlpTraceExporter) -> int:
        sent = 0
        while (done := await outbox.export_due(20, exporter)).traces:
            sent += done.traces
        return sent

    sent = await asyncio.gather(*(drain(o, e) for o, e in zip(replicas, exporters, strict=True)))

    assert sum(sent) == 300 and all(sent)  # both took a share
    assert len(receiver.spans) == 900
    assert len({(s.trace_id, s.span_id) for s in receiver.spans}) == 900


async def test_retention_keeps_an_execution_whose_trace_waits_until_the_bound_then_drops_it(
    database: Database, receiver: OtlpReceiver
) -> None:
    run = Workflow("x-6").started(0).ended(1)
    await recorder(database, delay=3600).record(events(run.messages), [])
    pruner = PostgresPruner(database)
    after = at(1) + timedelta(seconds=1)

    kept = await pruner.prune(Cutoffs(after, waiting_traces_before=at(0)))
    assert kept is not None and (kept.executions, kept.traces_dropped) == (0, 0)
    dry = await pruner.prune(Cutoffs(after, waiting_traces_before=after), dry_run=True)
    assert dry is not None and (dry.executions, dry.traces_dropped) == (1, 1)
    dropped = await pruner.prune(Cutoffs(after, waiting_traces_before=after))
    assert dropped is not None and (dropped.executions, dropped.traces_dropped) == (1, 1)
    assert await database.fetch_val("SELECT count(*) FROM trace_outbox") == 0


async def test_retention_prunes_an_exported_trace_with_its_execution(
    database: Database, receiver: OtlpReceiver
) -> None:
    run = Workflow("x-7").started(0).ended(1)
    await recorder(database).record(events(run.messages), [])
    await export_all(PostgresTraceOutbox(database), exporter_to(receiver))
    after = at(1) + timedelta(seconds=1)

    pruned = await PostgresPruner(database).prune(Cutoffs(after, waiting_traces_before=at(0)))

    assert pruned is not None and (pruned.executions, pruned.traces_dropped) == (1, 0)
    assert await database.fetch_val("SELECT count(*) FROM trace_outbox") == 0


async def test_no_outbox_rows_while_export_is_off(database: Database) -> None:
    run = Workflow("x-8").started(0).ended(1)
    await PostgresRecorder(database).record(events(run.messages), [])
    assert await database.fetch_val("SELECT count(*) FROM trace_outbox") == 0


async def test_a_trace_that_cannot_be_made_holds_up_no_other(
    database: Database, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = exporter_module.spans_of

    def spans_of(attempt: FinishedAttempt, options: TraceOptions) -> list[ReadableSpan]:
        if attempt.execution_id == "bad":
            raise ValueError("a bug in the mapping")
        return real(attempt, options)

    monkeypatch.setattr(exporter_module, "spans_of", spans_of)
    store = recorder(database)
    for execution in ("bad", "good"):
        await store.record(events(Workflow(execution).started(0).ended(1).messages), [])

    assert await export_all(PostgresTraceOutbox(database), exporter_to(receiver)) == Exported(2, 1)
    assert [s.attributes["execution.id"] for s in receiver.roots()] == ["good"]


async def test_a_dead_worker_process_fails_one_export_and_is_replaced(
    database: Database, receiver: OtlpReceiver
) -> None:
    store = recorder(database)
    exporter = exporter_to(receiver, processes=1)
    outbox = PostgresTraceOutbox(database, max_backoff=0.1)
    try:
        await exporter.export([])  # the worker runs
        pool = exporter._pool
        assert isinstance(pool, ProcessPoolExecutor)
        for process in list(pool._processes.values()):  # type: ignore[union-attr]
            assert process.pid is not None
            os.kill(process.pid, signal.SIGKILL)
        await store.record(events(Workflow("w-1").started(0).node("n", 1, 2).ended(3).messages), [])
        await asyncio.sleep(0.2)
        with pytest.raises(ExportFailed):
            await outbox.export_due(10, exporter)
        await asyncio.sleep(0.2)
        assert await export_all(outbox, exporter) == Exported(1, 2)
    finally:
        exporter.close()
