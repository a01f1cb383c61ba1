"""PostgreSQL 15 that fails over, for tests: Patroni (Debian's) managing two nodes on loopback
ports, its configuration store one etcd of its own on free ports (Debian's etcd-server; the
package's system etcd on 2379 is left alone). PostgreSQL refuses to run as root, so Patroni
runs as the `postgres` user. A node can be killed whole, Patroni and PostgreSQL at once with
SIGKILL, as when its machine dies, and started again: it comes back as a standby."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

from execution_service.adapters.nats.embedded import free_port
from execution_service.adapters.postgres import PostgresUrl

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"


def missing() -> str | None:
    """Why the cluster cannot run here, or None."""
    for tool in ("patroni", "etcd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/run installs patroni and etcd-server)"
    if not (BIN / "postgres").exists():
        return f"no PostgreSQL 15 in {BIN}"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no {USER} user to run PostgreSQL as"
    return None


class PatroniCluster:
    def __init__(self, synchronous: bool, names: tuple[str, ...] = ("pg1", "pg2")) -> None:
        self.synchronous = synchronous
        self.names = names
        self.root = Path(tempfile.mkdtemp(prefix="es-patroni-"))
        self.root.chmod(0o777)
        self.scope = f"es{os.getpid()}"
        self.etcd_port, self.etcd_peer = free_port(), free_port()
        self.pg_ports = {n: free_port() for n in names}
        self.api_ports = {n: free_port() for n in names}
        self.etcd: subprocess.Popen[bytes] | None = None
        self.patronis: dict[str, subprocess.Popen[bytes]] = {}

    # --- addresses ------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> PostgresUrl:
        """Both nodes, the writable one chosen by every connection."""
        hosts = ",".join(f"127.0.0.1:{self.pg_ports[n]}" for n in self.names)
        return PostgresUrl.parse(f"postgresql://postgres@{hosts}/{database}")

    def node_url(self, name: str, database: str = "postgres") -> PostgresUrl:
        return PostgresUrl.parse(
            f"postgresql://postgres@127.0.0.1:{self.pg_ports[name]}/{database}"
        )

    # --- life -----------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> PatroniCluster:
        self._start_etcd()
        for name in self.names:
            self.start_node(name)
        self.wait_until(lambda: self.leader() is not None, timeout, "a leader")
        self.wait_until(lambda: len(self.streaming()) == len(self.names) - 1, timeout,
                        "every standby streaming")  # fmt: skip
        if self.synchronous:
            self.wait_until(lambda: self.sync_standby() is not None, timeout, "a sync standby")
        return self

    def _start_etcd(self) -> None:
        data = self.root / "etcd"
        peer = f"http://127.0.0.1:{self.etcd_peer}"
        client = f"http://127.0.0.1:{self.etcd_port}"
        log = (self.root / "etcd.log").open("ab")
        self.etcd = subprocess.Popen(
            ["etcd", "--name", "e", "--data-dir", str(data),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"e={peer}", "--initial-cluster-state", "new"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def start_node(self, name: str) -> None:
        config = self.root / f"{name}.yml"
        config.write_text(json.dumps(self._config(name), indent=1))  # JSON is YAML
        log = (self.root / f"{name}.log").open("ab")
        self.patronis[name] = subprocess.Popen(
            ["patroni", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=USER,
            cwd=self.root,
            start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root)},
        )

    def _config(self, name: str) -> dict[str, object]:
        port, api = self.pg_ports[name], self.api_ports[name]
        return {
            "scope": self.scope,
            "name": name,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"127.0.0.1:{api}", "connect_address": f"127.0.0.1:{api}"},
            "etcd3": {"hosts": f"127.0.0.1:{self.etcd_port}"},
            "bootstrap": {
                "dcs": {
                    # the leader key lapses 10 s after its node dies: the failover's floor
                    "ttl": 10,
                    "loop_wait": 1,
                    "retry_timeout": 4,
                    "synchronous_mode": self.synchronous,
                    # a lagging asynchronous standby is promoted all the same (the test
                    # measures what that loses; Patroni's default would refuse past 1 MB)
                    "maximum_lag_on_failover": 1 << 40,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "parameters": {
                            "wal_log_hints": "on",
                            "max_wal_senders": 5,
                            "max_replication_slots": 5,
                            "wal_keep_size": "256MB",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
                "pg_hba": [
                    "local all all trust",
                    "host replication all 127.0.0.1/32 trust",
                    "host all all 127.0.0.1/32 trust",
                ],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{port}",
                "connect_address": f"127.0.0.1:{port}",
                "data_dir": str(self.root / name),
                "bin_dir": str(BIN),
                "pgpass": str(self.root / f"{name}.pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "replication": {"username": "postgres", "password": "postgres"},
                    "rewind": {"username": "postgres", "password": "postgres"},
                },
                "parameters": {"unix_socket_directories": str(self.root)},
            },
        }

    def kill_node(self, name: str) -> None:
        """Patroni and every PostgreSQL process of the node, SIGKILL, at once."""
        patroni = self.patronis.pop(name)
        doomed = _session(patroni.pid)
        postmaster = self._postmaster(name)
        if postmaster is not None:
            doomed += _session(postmaster)
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        patroni.wait(10)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in doomed):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}'s processes outlived SIGKILL")
            time.sleep(0.05)
        # where nothing reaps them (this sandbox's init), dead ids would pass for a live
        # postmaster in its lock files: they go, as with the machine
        (self.root / name / "postmaster.pid").unlink(missing_ok=True)
        for lock in self.root.glob(f".s.PGSQL.{self.pg_ports[name]}.lock"):
            lock.unlink(missing_ok=True)

    def walreceiver(self, name: str) -> int:
        postmaster = self._postmaster(name)
        for pid in _pids():
            if postmaster is not None and _parent(pid) == postmaster and "walreceiver" in _cmd(pid):
                return pid
        raise LookupError(f"{name} has no WAL receiver")

    def _postmaster(self, name: str) -> int | None:
        try:
            return int((self.root / name / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        for name in list(self.patronis):
            try:
                self.kill_node(name)
            except Exception:  # noqa: BLE001 - tearing down
                pass
        if self.etcd is not None:
            self.etcd.kill()
            self.etcd.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- what Patroni says ----------------------------------------------------------------
    def members(self) -> list[dict[str, object]]:
        for name in self.patronis:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.api_ports[name]}/cluster", timeout=2
                ) as response:
                    return list(json.loads(response.read())["members"])
            except OSError:
                continue
        return []

    def leader(self) -> str | None:
        for member in self.members():
            if member.get("role") == "leader" and member.get("state") == "running":
                return str(member["name"])
        return None

    def sync_standby(self) -> str | None:
        for member in self.members():
            if member.get("role") == "sync_standby" and member.get("state") == "running":
                return str(member["name"])
        return None

    def streaming(self) -> list[str]:
        """The standbys the leader streams WAL to now (Patroni names their connections)."""
        leader = self.leader()
        if leader is None:
            return []
        try:
            with psycopg.connect(self.node_url(leader).url(), connect_timeout=2) as conn:
                rows = conn.execute(
                    "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchall()
        except psycopg.Error:
            return []
        # a standby being made (pg_basebackup) streams too, under another name
        return [str(name) for (name,) in rows if name in self.names]

    def maintenance(self) -> None:
        """Patroni's pause: it leaves PostgreSQL alone (it would otherwise resume a standby's
        paused replay, and fail over nothing)."""
        leader = self.leader()
        assert leader is not None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_ports[leader]}/config",
            data=json.dumps({"pause": True}).encode(),
            method="PATCH",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()
        self.wait_until(self._paused, 30, "maintenance mode")

    def _paused(self) -> bool:
        for name in self.patronis:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.api_ports[name]}/patroni", timeout=2
                ) as response:
                    if not json.loads(response.read()).get("pause"):
                        return False
            except OSError:
                return False
        return True

    def wait_until(self, predicate: object, timeout: float, what: str) -> None:
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while not predicate():
            exited = [n for n, p in self.patronis.items() if p.poll() is not None]
            if time.monotonic() > deadline or exited:
                logs = "\n".join(self.log_tail(n) for n in self.names)
                raise AssertionError(
                    f"{what}: not in {timeout}s (Patroni exited: {exited})\n{logs}"
                )
            time.sleep(0.2)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.root / f"{name}.log"
        return f"--- {name}\n" + (
            path.read_text(errors="replace")[-chars:] if path.exists() else ""
        )

    def create_database(self, name: str) -> PostgresUrl:
        with psycopg.connect(self.url().url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return bool(stat) and stat[0] != "Z"


def _parent(pid: int) -> int | None:
    stat = _stat(pid)
    return int(stat[1]) if stat else None


def _session(leader: int) -> list[int]:
    """Every live process of the session `leader` is in (itself included)."""
    stat = _stat(leader)
    if not stat:
        return []
    session = stat[3]
    return [pid for pid in _pids() if (s := _stat(pid)) and s[3] == session and s[0] != "Z"]


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
