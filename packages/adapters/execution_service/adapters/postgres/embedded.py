"""A PostgreSQL server from the pgserver wheel, for `dev` and tests with no server around."""

from __future__ import annotations

import fcntl
import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from execution_service.adapters.postgres.url import PostgresUrl

_OS_USER = "pgserver"
_START_ATTEMPTS = 3


def server_os_user() -> str | None:
    """The OS user PostgreSQL runs as: started by root, pgserver runs it as `pgserver` and
    creates that user on first use (under a lock: processes starting at once, such as
    parallel test files, would race on useradd). None when not root."""
    if os.geteuid() != 0:
        return None
    with open("/tmp/.execution-service-pgserver-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(_OS_USER)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/bash", _OS_USER], check=True)
    return _OS_USER


class EmbeddedPostgres:
    """Starts (or reuses) a server over `data_dir`; stop() ends it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start_server(self) -> PostgresUrl:
        """The server's own `postgres` database, to create others from."""
        import pgserver

        server_os_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._server = pgserver.get_server(
                    str(self.data_dir.resolve()), cleanup_mode="stop"
                )
                break
            except subprocess.TimeoutExpired:
                # pgserver gives pg_ctl 10 s, which a loaded machine can exceed while the
                # server goes on starting; asking again finds it running and waits for it.
                if attempt == _START_ATTEMPTS:
                    raise
        return PostgresUrl.parse(self._server.get_uri())

    def start(self, database: str = "execution_service") -> PostgresUrl:
        admin = self.start_server()
        with psycopg.connect(admin.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{database}"')
        return admin.with_database(database)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
