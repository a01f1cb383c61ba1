"""Hypothesis strategies: valid histories of workflow executions, in the order they happened."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from execution_service.domain import RawMessage
from execution_service.domain.events import format_time
from support.events import at, message

TERMINALS = ("execution.completed", "execution.failed", "execution.cancelled")


@st.composite
def histories(draw: st.DrawFn, max_executions: int = 3) -> list[RawMessage]:
    """Several executions, 1–8 nodes, attempts 1–3, node failures, cancellations, and
    conflicting terminal events (sometimes at the very same timestamp)."""
    now = 0
    messages: list[RawMessage] = []

    def tick() -> int:
        nonlocal now
        now += draw(st.sampled_from([0, 1, 7, 250]))
        return now

    def optional(**fields: Any) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if draw(st.booleans())}

    for number in range(draw(st.integers(1, max_executions))):
        execution = f"exec-{number}"
        # Reports may disagree (a different workflowId, input…): the fold must pick the same.
        ids = optional(workflowId=f"wf-{number}", userId=f"user-{number % 2}")
        variants = st.sampled_from(["a", "b"])
        nodes = [f"node-{n}" for n in range(draw(st.integers(1, 8)))]
        for attempt in range(1, draw(st.integers(1, 3)) + 1):
            if attempt == 1 or draw(st.booleans()):
                start = tick()
                messages.append(
                    message(
                        "execution.started",
                        {"executionId": execution, "attempt": attempt, **ids}
                        | optional(
                            input={"n": draw(variants)},
                            metadata={"m": 1},
                            startedAt=format_time(at(start - draw(st.sampled_from([0, 3])))),
                            workflowId=draw(variants),
                        ),
                        ms=start,
                    )
                )
            for node in draw(st.lists(st.sampled_from(nodes), unique=True, min_size=1)):
                base = {"executionId": execution, "nodeId": node, "attempt": attempt}
                start = tick()
                messages.append(
                    message(
                        "execution.node.started",
                        base
                        | optional(nodeType=draw(variants), nodeName=node.upper(), input={"x": 1})
                        # some orchestrators repeat the execution's ids on node reports
                        | optional(workflowId=draw(variants), userId=f"user-{number % 2}"),
                        ms=start,
                    )
                )
                for outcome in draw(st.lists(st.sampled_from(["completed", "failed"]), max_size=2)):
                    # Clocks are skewed: a node may report finishing before it started.
                    end = tick() - draw(st.sampled_from([0, 0, 500]))
                    fields = (
                        optional(output={"y": 2}, duration=max(end - start, 0))
                        if outcome == "completed"
                        else optional(error="boom")
                    )
                    messages.append(
                        message(
                            f"execution.node.{outcome}",
                            base | optional(nodeType="agent") | fields,
                            ms=end,
                        )
                    )
            for subject in draw(st.lists(st.sampled_from(TERMINALS), max_size=2)):
                end = tick()
                messages.append(
                    message(
                        subject,
                        {"executionId": execution, "attempt": attempt, **ids}
                        | optional(error="failed", reason="stop", output={"r": 1}, duration=5),
                        ms=end,
                    )
                )
            if draw(st.booleans()):  # a straggler reports running after the end
                messages.append(
                    message(
                        "execution.node.started",
                        {"executionId": execution, "nodeId": "late", "attempt": attempt},
                        ms=tick() + 1,
                    )
                )
    return messages


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn, messages: list[RawMessage]) -> list[RawMessage]:
    copies = draw(st.lists(st.sampled_from(messages), max_size=len(messages))) if messages else []
    return draw(st.permutations(messages + copies))
