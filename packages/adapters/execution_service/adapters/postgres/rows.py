"""Execution and NodeRun as the flat rows the tables hold, and back.

A row holds the values readers see plus the provenance merging needs: the order of the event
behind each register (`<name>_stamp`, NULL when no event set it) and the claim that decides the
status (`claim_rank`, `claim_stamp`, `claim_duration`, beside `attempt` and the status
columns). With those, an upsert can join a batch's state into a stored row column by column —
Execution.join and NodeRun.join in SQL (upserts.py) — and get exactly what folding all the
events would. `duration` is derived from the claim and `started_at` (Claim.duration_since), so
a row leaves it out and PostgreSQL computes it.

A stamp is an EventOrder as one string PostgreSQL compares: 18 digits of µs since 0001-01-01,
then the event key, in collation "C" (bytes of UTF-8, so code points: the order Python compares
the key in); '' for BEFORE_EVERY_EVENT. The *_IN tuples are the attributes of migration 0003's
row types, in order (tests/integration/test_postgres_rows.py checks them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from execution_service.domain import Event
from execution_service.domain.model import (
    BEFORE_EVERY_EVENT,
    Claim,
    EventOrder,
    Execution,
    NodeRun,
    Phase,
    Reg,
    Status,
    node_run_id,
)

EXECUTION_REGISTERS = ("workflow_id", "user_id", "started_at", "input", "metadata", "retry_of")
NODE_RUN_REGISTERS = ("node_type", "node_name", "input", "started_at")
# The claim's columns besides the key: what the winning claim carries.
CLAIM_COLUMNS = (
    "status", "attempt", "completed_at", "error", "output",
    "claim_rank", "claim_stamp", "claim_duration",
)  # fmt: skip
EXECUTION_IN = (
    "id",
    *CLAIM_COLUMNS,
    *EXECUTION_REGISTERS,
    *(f"{n}_stamp" for n in EXECUTION_REGISTERS),
)
NODE_RUN_IN = (
    "id", "execution_id", "node_id", *CLAIM_COLUMNS,
    *NODE_RUN_REGISTERS, *(f"{n}_stamp" for n in NODE_RUN_REGISTERS),
)  # fmt: skip
EVENT_IN = ("event_key", "execution_id", "subject", "occurred_at", "payload")
# Sent as text and cast back to jsonb (asyncpg would take a JSON list for an array dimension).
JSON_COLUMNS = frozenset({"input", "output", "metadata"})

_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def stamp(order: EventOrder) -> str:
    return Stamps()[order]


def event_order(stamp: str) -> EventOrder:
    if not stamp:
        return BEFORE_EVERY_EVENT
    return EventOrder(_YEAR_ONE + _MICROSECOND * int(stamp[:18]), stamp[18:])


class Stamps(dict[EventOrder, str]):
    """Stamps made once per event order: a batch's registers mostly share a few events."""

    def __missing__(self, order: EventOrder) -> str:
        if order == BEFORE_EVERY_EVENT:
            made = ""
        else:
            made = f"{(order.timestamp - _YEAR_ONE) // _MICROSECOND:018d}{order.key}"
        self[order] = made
        return made


def event_record(e: Event) -> tuple[Any, ...]:
    """In EVENT_IN order."""
    return (e.key, e.execution_id, e.kind.value, e.timestamp, e.payload)


def claim_record(c: Claim, stamps: Stamps) -> tuple[Any, ...]:
    """In CLAIM_COLUMNS order."""
    return (
        c.status, c.attempt, c.at, c.error, c.output,
        int(c.phase), stamps[c.decided_by], c.duration,
    )  # fmt: skip


def execution_record(execution: Execution, stamps: Stamps) -> tuple[Any, ...]:
    """The row's values in EXECUTION_IN order."""
    e = execution
    return (
        e.id, *claim_record(e.claim, stamps),
        *_values(stamps, e.workflow_id, e.user_id, e.started_at, e.input, e.metadata,
                 e.retry_of),
    )  # fmt: skip


def node_run_record(run_id: str, run: NodeRun, stamps: Stamps) -> tuple[Any, ...]:
    """The row's values in NODE_RUN_IN order."""
    return (
        run_id, run.execution_id, run.node_id, *claim_record(run.claim, stamps),
        *_values(stamps, run.node_type, run.node_name, run.input, run.started_at),
    )  # fmt: skip


def _values(stamps: Stamps, *registers: Reg[Any] | None) -> list[Any]:
    """The registers' values, then their stamps."""
    values = [None if r is None else r.value for r in registers]
    values += [None if r is None else stamps[r.set_by] for r in registers]
    return values


def execution_row(execution: Execution) -> dict[str, Any]:
    return dict(zip(EXECUTION_IN, execution_record(execution, Stamps()), strict=True))


def node_run_row(run: NodeRun) -> dict[str, Any]:
    record = node_run_record(node_run_id(run.key), run, Stamps())
    return dict(zip(NODE_RUN_IN, record, strict=True))


def execution_from_row(row: Mapping[str, Any]) -> Execution:
    return Execution(row["id"], _claim(row), **_registers(row, EXECUTION_REGISTERS))


def node_run_from_row(row: Mapping[str, Any]) -> NodeRun:
    return NodeRun(
        row["execution_id"], row["node_id"], _claim(row), **_registers(row, NODE_RUN_REGISTERS)
    )


def _claim(row: Mapping[str, Any]) -> Claim:
    status = row["status"] if isinstance(row["status"], Status) else Status(row["status"])
    return Claim(
        row["attempt"],
        Phase(row["claim_rank"]),
        event_order(row["claim_stamp"]),
        status,
        at=row["completed_at"],
        error=row["error"],
        output=row["output"],
        duration=row["claim_duration"],
    )


def _registers(row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Reg[Any]]:
    return {
        name: Reg(event_order(row[f"{name}_stamp"]), row[name])
        for name in names
        if row[f"{name}_stamp"] is not None
    }
