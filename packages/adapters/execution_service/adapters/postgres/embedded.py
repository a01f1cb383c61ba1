"""A PostgreSQL server from the pgserver wheel, for `dev` and tests with no server around."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from execution_service.adapters.postgres.url import PostgresUrl


class EmbeddedPostgres:
    """Starts (or reuses) a server over `data_dir`; stop() ends it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self, database: str = "execution_service") -> PostgresUrl:
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(str(self.data_dir.resolve()), cleanup_mode="stop")
        admin = PostgresUrl.parse(self._server.get_uri())
        with psycopg.connect(admin.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{database}"')
        return admin.with_database(database)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
