"""Stairway: each migration applies, rolls back and applies again; a schema-qualified URL
(Prisma's ?schema=) gets its own tables."""

from __future__ import annotations

import psycopg
from yoyo import read_migrations

from execution_service.adapters.postgres import (
    PostgresUrl,
    apply_migrations,
    rollback_migrations,
)
from execution_service.adapters.postgres.migrations import migrations_dir
from support.postgres import fresh_database


def tables(url: PostgresUrl, schema: str = "public") -> set[str]:
    with psycopg.connect(url.url()) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " AND table_name NOT LIKE '%%yoyo%%'",
            (schema,),
        ).fetchall()
    return {r[0] for r in rows}


def test_every_migration_applies_rolls_back_and_applies_again() -> None:
    count = len(read_migrations(str(migrations_dir())))
    assert count >= 1
    with fresh_database(migrate=False) as url:
        for _ in range(count):
            before = tables(url)
            (applied,) = apply_migrations_one(url)
            after = tables(url)
            assert after > before, applied
            assert rollback_migrations(url, count=1) == [applied]
            assert tables(url) == before
            assert apply_migrations_one(url) == [applied]
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
