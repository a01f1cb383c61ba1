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
from execution_service.domain import (
    EXECUTION,
    NODE_RUN,
    Event,
    Layout,
    Status,
    node_run_id,
    parse_message,
    project,
)
from execution_service.domain.fold import duration
from support.events import history, message
from support.postgres import fresh_database


def tables(url: PostgresUrl, schema: str = "public") -> set[str]:
    return {table for table, *_ in layout(url, schema)}


def layout(url: PostgresUrl, schema: str = "public") -> set[tuple[str, ...]]:
    """Tables, columns with their types, collations and defaults, indexes, constraints and
    triggers."""
    with psycopg.connect(url.url()) as conn:
        rows = conn.execute(
            """SELECT table_name, column_name, data_type, coalesce(collation_name, ''),
                      coalesce(generation_expression, ''), coalesce(column_default, '')
               FROM information_schema.columns WHERE table_schema = %(s)s
               UNION ALL SELECT tablename, indexdef, '', '', '', '' FROM pg_indexes
               WHERE schemaname = %(s)s
               UNION ALL SELECT conrelid::regclass::text, pg_get_constraintdef(oid), '', '', '',
                                ''
               FROM pg_constraint WHERE connamespace = %(s)s::regnamespace
               UNION ALL SELECT event_object_table, trigger_name, '', '', '', ''
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
_LATEST = (1 << 63) - 1
_TURNED = bytes(range(255, -1, -1))
_OLD_EXECUTION = ("id", "workflow_id", "user_id", "status", "attempt", "started_at",
                  "completed_at", "duration", "error", "input", "output", "metadata",
                  "retry_of", "provenance")  # fmt: skip
_OLD_NODE_RUN = ("id", "execution_id", "node_id", "attempt", "node_type", "node_name",
                 "status", "input", "output", "error", "started_at", "completed_at",
                 "duration", "provenance")  # fmt: skip


def _old_claim(precedence: bytes, reported: int | None) -> list[Any]:
    """fold.claim_precedence, told the way 0001 stored it."""
    attempt, terminal = int.from_bytes(precedence[:4], "big"), precedence[4]
    if not terminal:
        return [attempt, 0, 0, "", reported]
    micros = int.from_bytes(precedence[5:13], "big") - _EPOCH_IN_YEAR_ONE_US
    return [attempt, 1, micros, precedence[13:].decode(), reported]


def _old_stamp(precedence: bytes) -> list[Any]:
    """fold.earliest_precedence, told the way 0001 stored it."""
    micros = _LATEST - int.from_bytes(precedence[:8], "big") - _EPOCH_IN_YEAR_ONE_US
    return [micros, precedence[8:-1].translate(_TURNED).decode()]


def _old_row(layout: Layout, state: list[Any], key: dict[str, Any]) -> dict[str, Any]:
    fields = layout.as_dict(state)
    provenance = {"claim": _old_claim(fields["claim_precedence"], fields["reported_duration"])}
    for register in layout.registers[1:]:
        if fields[f"{register.name}_precedence"]:
            provenance[register.name] = _old_stamp(fields[f"{register.name}_precedence"])
    row = {k: v for k, v in fields.items() if not k.endswith("_precedence")} | key
    row["duration"] = duration(fields["status"], fields.pop("reported_duration"),
                               fields["started_at"], fields["completed_at"])  # fmt: skip
    row["status"] = row["status"].value
    row["provenance"] = provenance
    return {k: Jsonb(v) if k in ("input", "output", "metadata", "provenance") else v
            for k, v in row.items()}  # fmt: skip


def _insert(conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...], rows: Any) -> None:
    names = ", ".join(columns)
    marks = ", ".join(f"%({c})s" for c in columns)
    for row in rows:
        conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", row)


def _states(layout: Layout, rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[Status(r[s]) if s == "status" else r[s] for s in layout.slots] for r in rows]


def test_rows_written_before_0003_keep_their_state_through_every_migration_and_back() -> None:
    """0003 turned 0001's provenance into stamps, 0008 stamps into precedences; rolling both
    back gives the rows as they were."""
    messages = history(executions=4, nodes=3) + [
        message("execution.node.started", {"executionId": "orphan", "nodeId": "n"}, ms=5)
    ]
    state = project(e for e in map(parse_message, messages) if isinstance(e, Event))
    old_executions = [
        _old_row(EXECUTION, s, {"id": x}) for x, s in sorted(state.executions.items())
    ]
    old_runs = [
        _old_row(NODE_RUN, s, {"id": node_run_id(k), "execution_id": k[0], "node_id": k[1],
                               "attempt": k[2]})
        for k, s in sorted(state.node_runs.items())
    ]  # fmt: skip
    with fresh_database(migrate=False) as url:
        apply_migrations(url)
        rollback_migrations(url, count=len(applied_since_0003(url)))
        with psycopg.connect(url.url(), row_factory=dict_row) as conn:
            _insert(conn, "executions", _OLD_EXECUTION, old_executions)
            _insert(conn, "execution_logs", _OLD_NODE_RUN, old_runs)
        assert apply_migrations(url)[0] == "0003_set_wise_merge"
        with psycopg.connect(url.url(), row_factory=dict_row) as conn:
            executions = conn.execute("SELECT * FROM executions ORDER BY id").fetchall()
            runs = conn.execute(
                "SELECT * FROM execution_logs ORDER BY execution_id, node_id, attempt"
            ).fetchall()
        assert _states(EXECUTION, executions) == [s for _, s in sorted(state.executions.items())]
        assert _states(NODE_RUN, runs) == [s for _, s in sorted(state.node_runs.items())]
        assert rollback_migrations(url, count=len(applied_since_0003(url)))[-1] == (
            "0003_set_wise_merge"
        )
        with psycopg.connect(url.url(), row_factory=dict_row) as conn:
            back = conn.execute("SELECT id, provenance, duration FROM executions").fetchall()
            back_runs = conn.execute("SELECT id, provenance FROM execution_logs").fetchall()
        assert {r["id"]: (r["provenance"], r["duration"]) for r in back} == {
            r["id"]: (r["provenance"].obj, r["duration"]) for r in old_executions
        }
        assert {str(r["id"]): r["provenance"] for r in back_runs} == {
            r["id"]: r["provenance"].obj for r in old_runs
        }


def applied_since_0003(url: PostgresUrl) -> list[str]:
    """0003 and every migration after it, as applied."""
    with psycopg.connect(url.url()) as conn:
        rows = conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")
        return [m for (m,) in rows if m >= "0003"]
