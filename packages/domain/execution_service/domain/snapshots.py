"""Execution and NodeRun as flat rows a store can persist, and back.

A row holds the values readers see plus `provenance`: the stamp behind each register and
the claim that decides the status, so that merging later events into a stored row gives
exactly what folding all the events would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from execution_service.domain.model import Claim, Execution, NodeRun, Reg, Status

_EXECUTION_REGISTERS = ("workflow_id", "user_id", "started_at", "input", "metadata", "retry_of")
_NODE_RUN_REGISTERS = ("node_type", "node_name", "input", "started_at")


def execution_row(execution: Execution) -> dict[str, Any]:
    return execution.values() | {"provenance": _provenance(execution, _EXECUTION_REGISTERS)}


def node_run_row(run: NodeRun) -> dict[str, Any]:
    return run.values() | {"provenance": _provenance(run, _NODE_RUN_REGISTERS)}


def execution_from_row(row: Mapping[str, Any]) -> Execution:
    return Execution(
        row["id"],
        _claim(row),
        **_registers(row, _EXECUTION_REGISTERS),
    )


def node_run_from_row(row: Mapping[str, Any]) -> NodeRun:
    return NodeRun(
        row["execution_id"],
        row["node_id"],
        _claim(row),
        **_registers(row, _NODE_RUN_REGISTERS),
    )


def _provenance(state: Execution | NodeRun, names: tuple[str, ...]) -> dict[str, Any]:
    claim = state.claim
    provenance: dict[str, Any] = {
        "claim": [claim.attempt, claim.rank, *claim.stamp, claim.duration],
    }
    for name in names:
        reg: Reg | None = getattr(state, name)
        if reg is not None:
            provenance[name] = list(reg.stamp)
    return provenance


def _claim(row: Mapping[str, Any]) -> Claim:
    attempt, rank, micros, key, duration = row["provenance"]["claim"]
    status = row["status"] if isinstance(row["status"], Status) else Status(row["status"])
    return Claim(
        attempt,
        rank,
        (micros, key),
        status,
        at=row["completed_at"],
        error=row["error"],
        output=row["output"],
        duration=duration,
    )


def _registers(row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Reg]:
    provenance = row["provenance"]
    return {
        name: Reg((provenance[name][0], provenance[name][1]), row[name])
        for name in names
        if name in provenance
    }
