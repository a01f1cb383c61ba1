"""The schema, applied with yoyo-migrations under yoyo's lock (two services starting at once
do not collide)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

from execution_service.adapters.postgres.url import PostgresUrl


def migrations_dir() -> Path:
    """`migrations/` ships beside the code (a Pants `resources` target in the PEX)."""
    override = os.environ.get("MIGRATIONS_DIR")
    if override:
        return Path(override)
    for entry in resources.files("migrations").iterdir():  # a namespace package: no __file__
        if entry.name.endswith(".sql"):
            return Path(str(entry)).parent
    raise FileNotFoundError("no migrations/*.sql beside the code")


def _ensure_schema(url: PostgresUrl) -> None:
    if url.schema and url.schema != "public":
        with psycopg.connect(url.url(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{url.schema}"')


def apply_migrations(url: PostgresUrl, lock_timeout: int = 60) -> list[str]:
    """Apply pending migrations; returns the ids applied."""
    _ensure_schema(url)
    backend = get_backend(url.yoyo_url())
    try:
        migrations = read_migrations(str(migrations_dir()))
        with backend.lock(timeout=lock_timeout):
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()


def rollback_migrations(url: PostgresUrl, count: int | None = None) -> list[str]:
    backend = get_backend(url.yoyo_url())
    try:
        migrations = read_migrations(str(migrations_dir()))
        with backend.lock():
            applied = backend.to_rollback(migrations)
            if count is not None:
                applied = applied[:count]
            backend.rollback_migrations(applied)
        return [m.id for m in applied]
    finally:
        backend.connection.close()
