"""A fresh PostgreSQL database for a test module: on TEST_DATABASE_URL's server when set,
else on an embedded server (pgserver) started once per process. Dropped afterwards."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from execution_service.adapters.postgres import (
    EmbeddedPostgres,
    PostgresQueries,
    PostgresRecorder,
    PostgresUrl,
    apply_migrations,
)

_embedded_url: PostgresUrl | None = None


class BothSides(PostgresRecorder, PostgresQueries):
    """Record and read back through one object, as tests of the write path do (the service
    itself wires the two sides separately)."""


TABLES = (
    "executions, execution_logs, execution_events, dead_letters, retry_requests,"
    " execution_tombstones, trace_outbox, verifications"
)


async def reset(database: Any) -> None:
    """Empty every table; the per-status counters stay, at zero."""
    await database.execute(f"TRUNCATE {TABLES}")
    await database.execute("UPDATE execution_counts SET n = 0")


def server_url() -> PostgresUrl:
    global _embedded_url
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return PostgresUrl.parse(configured)
    if _embedded_url is None:
        data = Path(tempfile.mkdtemp(prefix="es-pg-"))
        server = EmbeddedPostgres(data)
        _embedded_url = server.start_server()
        atexit.register(_stop, server, data)
    return _embedded_url


def _stop(server: EmbeddedPostgres, data: Path) -> None:
    server.stop()
    shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(migrate: bool = True) -> Iterator[PostgresUrl]:
    admin = server_url()
    name = f"es_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin.with_database(name)
        if migrate:
            apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(admin.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
