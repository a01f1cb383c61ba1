"""Execution and NodeRun as flat rows a store can persist, and back.

A row holds the values readers see plus the provenance merging needs: the stamp of the event
behind each register (`<name>_stamp`, NULL when no event set it) and the claim that decides
the status (`claim_rank`, `claim_stamp`, `claim_duration`, beside `attempt` and the status
columns). With those, a store can join a batch's state into a stored row column by column —
Execution.join and NodeRun.join, written in its own query language — and get exactly what
folding all the events would. `duration` is derived from the claim and `started_at`
(Claim.duration_since), so a row leaves it out and a store computes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from execution_service.domain.model import Claim, Execution, NodeRun, Reg, Status

EXECUTION_REGISTERS = ("workflow_id", "user_id", "started_at", "input", "metadata", "retry_of")
NODE_RUN_REGISTERS = ("node_type", "node_name", "input", "started_at")
# The claim's columns besides the key: what the winning claim carries.
CLAIM_COLUMNS = (
    "status", "attempt", "completed_at", "error", "output",
    "claim_rank", "claim_stamp", "claim_duration",
)  # fmt: skip
EXECUTION_COLUMNS = (
    "id",
    *CLAIM_COLUMNS,
    *EXECUTION_REGISTERS,
    *(f"{n}_stamp" for n in EXECUTION_REGISTERS),
)
NODE_RUN_COLUMNS = (
    "execution_id", "node_id", *CLAIM_COLUMNS,
    *NODE_RUN_REGISTERS, *(f"{n}_stamp" for n in NODE_RUN_REGISTERS),
)  # fmt: skip


def execution_record(execution: Execution) -> tuple[Any, ...]:
    """The row's values in EXECUTION_COLUMNS order."""
    e = execution
    return (
        e.id, *_claim_record(e.claim),
        *_values(e.workflow_id, e.user_id, e.started_at, e.input, e.metadata, e.retry_of),
    )  # fmt: skip


def node_run_record(run: NodeRun) -> tuple[Any, ...]:
    """The row's values in NODE_RUN_COLUMNS order."""
    return (
        run.execution_id, run.node_id, *_claim_record(run.claim),
        *_values(run.node_type, run.node_name, run.input, run.started_at),
    )  # fmt: skip


def execution_row(execution: Execution) -> dict[str, Any]:
    return dict(zip(EXECUTION_COLUMNS, execution_record(execution), strict=True))


def node_run_row(run: NodeRun) -> dict[str, Any]:
    return dict(zip(NODE_RUN_COLUMNS, node_run_record(run), strict=True))


def execution_from_row(row: Mapping[str, Any]) -> Execution:
    return Execution(row["id"], _claim(row), **_registers(row, EXECUTION_REGISTERS))


def node_run_from_row(row: Mapping[str, Any]) -> NodeRun:
    return NodeRun(
        row["execution_id"], row["node_id"], _claim(row), **_registers(row, NODE_RUN_REGISTERS)
    )


def _claim_record(c: Claim) -> tuple[Any, ...]:
    """In CLAIM_COLUMNS order."""
    return (c.status, c.attempt, c.at, c.error, c.output, c.rank, c.stamp, c.duration)


def _values(*registers: Reg | None) -> tuple[Any, ...]:
    """The registers' values, then their stamps."""
    return (
        *(None if r is None else r.value for r in registers),
        *(None if r is None else r.stamp for r in registers),
    )


def _claim(row: Mapping[str, Any]) -> Claim:
    status = row["status"] if isinstance(row["status"], Status) else Status(row["status"])
    return Claim(
        row["attempt"],
        row["claim_rank"],
        row["claim_stamp"],
        status,
        at=row["completed_at"],
        error=row["error"],
        output=row["output"],
        duration=row["claim_duration"],
    )


def _registers(row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Reg]:
    return {
        name: Reg(row[f"{name}_stamp"], row[name])
        for name in names
        if row[f"{name}_stamp"] is not None
    }
