"""A PostgreSQL server of a test's own, from the pgserver wheel's binaries, that the test can
kill whole (the postmaster and every process it forked, with SIGKILL, as when the machine
loses power under it) and start again, which runs PostgreSQL's crash recovery."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pgserver

from execution_service.adapters.postgres import PostgresUrl
from execution_service.adapters.postgres.embedded import server_os_user

# pgserver's commands, made at import time (mypy does not see them)
_initdb = pgserver.initdb  # type: ignore[attr-defined]
_pg_ctl = pgserver.pg_ctl  # type: ignore[attr-defined]


class CrashablePostgres:
    def __init__(self) -> None:
        # in /tmp, open to all: the server's OS user must reach it, and a socket's path must
        # fit in 107 bytes
        self.root = Path(tempfile.mkdtemp(prefix="es-crash-"))
        self.root.chmod(0o777)
        self.data = self.root / "data"
        self.sockets = self.root
        self._user = server_os_user()

    def start(self) -> PostgresUrl:
        """Start (initialising the first time); the server's own `postgres` database."""
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            self._own(self.data)
            _initdb(["--auth=trust", "-U", "postgres", "--encoding=utf8"], pgdata=self.data,
                    user=self._user)  # fmt: skip
        _pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {self.sockets}", "-l", str(self.data / "log"),
             "start"],
            pgdata=self.data, user=self._user, timeout=60,
        )  # fmt: skip
        return PostgresUrl.parse(f"postgresql://postgres@/postgres?host={self.sockets}")

    def kill(self) -> int:
        """SIGKILL the postmaster and all its children at once; how many were killed. Returns
        once they are dead. Where nothing reaps them (this sandbox's init does not), they stay
        zombies, whose ids PostgreSQL would take for a live postmaster in its lock files:
        those go, as they would with the machine."""
        pid_file = self.data / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        doomed = [postmaster] + [pid for pid in _pids() if _parent(pid) == postmaster]
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in doomed):
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL processes {doomed} outlived SIGKILL")
            time.sleep(0.05)
        pid_file.unlink(missing_ok=True)
        for lock in self.sockets.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
        return len(doomed)

    def stop(self) -> None:
        """Stop and remove everything."""
        try:
            _pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.data, user=self._user,
                    timeout=60)  # fmt: skip
        except Exception:  # noqa: BLE001 - already down
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def _own(self, path: Path) -> None:
        if self._user is not None:
            import pwd

            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
