"""Stairway: each migration applies, rolls back and applies again; a schema-qualified URL
(Prisma's ?schema=) gets its own tables."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from yoyo import read_migrations

from execution_service.adapters.postgres import (
    PostgresUrl,
    apply_migrations,
    rollback_migrations,
)
from execution_service.adapters.postgres.migrations import migrations_dir
from execution_service.domain import Event, Execution, NodeRun, fold, parse_message
from execution_service.domain.snapshots import (
    EXECUTION_REGISTERS,
    NODE_RUN_REGISTERS,
    execution_from_row,
    node_run_from_row,
)
from support.events import history, message
from support.postgres import fresh_database


def tables(url: PostgresUrl, schema: str = "public") -> set[str]:
    return {table for table, *_ in layout(url, schema)}


def layout(url: PostgresUrl, schema: str = "public") -> set[tuple[str, ...]]:
    """Tables, columns with their types and collations, indexes, constraints and triggers."""
    with psycopg.connect(url.url()) as conn:
        rows = conn.execute(
            """SELECT table_name, column_name, data_type, coalesce(collation_name, ''),
                      coalesce(generation_expression, '')
               FROM information_schema.columns WHERE table_schema = %(s)s
               UNION ALL SELECT tablename, indexdef, '', '', '' FROM pg_indexes
               WHERE schemaname = %(s)s
               UNION ALL SELECT conrelid::regclass::text, pg_get_constraintdef(oid), '', '', ''
               FROM pg_constraint WHERE connamespace = %(s)s::regnamespace
               UNION ALL SELECT event_object_table, trigger_name, '', '', ''
               FROM information_schema.triggers WHERE trigger_schema = %(s)s""",
            {"s": schema},
        ).fetchall()
    return {tuple(r) for r in rows if "yoyo" not in r[0]}


def test_every_migration_applies_rolls_back_and_applies_again() -> None:
    count = len(read_migrations(str(migrations_dir())))
    assert count >= 1
    with fresh_database(migrate=False) as url:
        for _ in range(count):
            before = layout(url)
            (applied,) = apply_migrations_one(url)
            after = layout(url)
            assert after != before, applied
            assert rollback_migrations(url, count=1) == [applied]
            assert layout(url) == before, applied
            assert apply_migrations_one(url) == [applied]
            assert layout(url) == after, applied
        assert apply_migrations(url) == []
        assert {"executions", "execution_logs", "execution_events"} <= tables(url)


def apply_migrations_one(url: PostgresUrl) -> list[str]:
    applied = apply_migrations(url)
    # apply_migrations applies all pending; roll the later ones back to step one at a time
    if len(applied) > 1:
        rollback_migrations(url, count=len(applied) - 1)
    return applied[:1]


def test_a_prisma_schema_gets_its_own_tables() -> None:
    with fresh_database(migrate=False) as url:
        tenant = PostgresUrl.parse(
            url.url() + ("&" if "?" in url.url() else "?") + "schema=tenant_a"
        )
        apply_migrations(tenant)
        assert "executions" in tables(url, "tenant_a")
        assert "executions" not in tables(url, "public")


# Rows as 0001/0002 stored them: provenance as jsonb, stamps as [µs since the epoch, key].
_EPOCH_IN_YEAR_ONE_US = 62135596800000000
_OLD_EXECUTION = ("id", "workflow_id", "user_id", "status", "attempt", "started_at",
                  "completed_at", "duration", "error", "input", "output", "metadata",
                  "retry_of", "provenance")  # fmt: skip
_OLD_NODE_RUN = ("id", "execution_id", "node_id", "attempt", "node_type", "node_name",
                 "status", "input", "output", "error", "started_at", "completed_at",
                 "duration", "provenance")  # fmt: skip


def _old_stamp(stamp: str) -> list[Any]:
    return [int(stamp[:18]) - _EPOCH_IN_YEAR_ONE_US, stamp[18:]]


def _old_row(state: Execution | NodeRun, registers: tuple[str, ...]) -> dict[str, Any]:
    claim = state.claim
    stamp = _old_stamp(claim.stamp) if claim.rank else [0, ""]
    old_claim = [claim.attempt, claim.rank, *stamp, claim.duration]
    provenance: dict[str, Any] = {"claim": old_claim}
    for name in registers:
        reg = getattr(state, name)
        if reg is not None:
            provenance[name] = _old_stamp(reg.stamp)
    row = state.values() | {"provenance": provenance}
    row["status"] = row["status"].value
    return {k: Jsonb(v) if k in ("input", "output", "metadata", "provenance") else v
            for k, v in row.items()}  # fmt: skip


def _insert(conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...], rows: Any) -> None:
    names = ", ".join(columns)
    marks = ", ".join(f"%({c})s" for c in columns)
    for row in rows:
        conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", row)


def test_0003_keeps_the_state_of_rows_written_before_it_and_gives_it_back() -> None:
    messages = history(executions=4, nodes=3) + [
        message("execution.node.started", {"executionId": "orphan", "nodeId": "n"}, ms=5)
    ]
    state = fold(e for e in map(parse_message, messages) if isinstance(e, Event))
    with fresh_database(migrate=False) as url:
        later = apply_migrations(url)
        later = later[later.index("0003_set_wise_merge") :]
        assert rollback_migrations(url, count=len(later)) == later[::-1]
        old_executions = [_old_row(e, EXECUTION_REGISTERS) for e in state.executions.values()]
        old_runs = [_old_row(r, NODE_RUN_REGISTERS) for r in state.node_runs.values()]
        with psycopg.connect(url.url(), row_factory=dict_row) as conn:
            _insert(conn, "executions", _OLD_EXECUTION, old_executions)
            _insert(conn, "execution_logs", _OLD_NODE_RUN, old_runs)
        assert apply_migrations(url) == later
        with psycopg.connect(url.url(), row_factory=dict_row) as conn:
            executions = conn.execute("SELECT * FROM executions").fetchall()
            runs = conn.execute("SELECT * FROM execution_logs").fetchall()
        assert {r["id"]: execution_from_row(r) for r in executions} == state.executions
        assert {(r["execution_id"], r["node_id"], r["attempt"]): node_run_from_row(r)
                for r in runs} == state.node_runs  # fmt: skip
        derived = {r["id"]: r["duration"] for r in executions}
        assert derived == {i: e.duration for i, e in state.executions.items()}
        assert rollback_migrations(url, count=len(later)) == later[::-1]
        with psycopg.connect(url.url(), row_factory=dict_row) as conn:
            back = conn.execute("SELECT id, provenance, duration FROM executions").fetchall()
            back_runs = conn.execute("SELECT id, provenance FROM execution_logs").fetchall()
        assert {r["id"]: (r["provenance"], r["duration"]) for r in back} == {
            r["id"]: (r["provenance"].obj, r["duration"]) for r in old_executions
        }
        assert {str(r["id"]): r["provenance"] for r in back_runs} == {
            r["id"]: r["provenance"].obj for r in old_runs
        }
