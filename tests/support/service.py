"""Running the built deployable (the PEX) as a separate process, and checking what it says
against the OpenAPI document it serves."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

PEX_IN_SANDBOX = Path("packages.app.execution_service.app/execution-service.pex")


def wait_healthy(
    base: str, gone: Callable[[], str | None], logs: Callable[[], str], timeout: float
) -> None:
    """Until `GET /api/health` answers 200. `gone` says why the server stopped, if it did;
    what `logs` returns goes with the failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        why = gone()
        if why is not None:
            raise AssertionError(f"{why}:\n{logs()}")
        try:
            if http("GET", f"{base}/api/health", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not healthy in {timeout}s:\n{logs()}")


def pex_path() -> Path:
    """Where Pants puts the runtime package in the sandbox, else a `./pants package` build."""
    for candidate in (
        os.environ.get("EXECUTION_SERVICE_PEX"),
        PEX_IN_SANDBOX,
        Path("dist") / PEX_IN_SANDBOX,
    ):
        if candidate and Path(candidate).exists():
            return Path(candidate).resolve()
    raise FileNotFoundError("build it first: ./pants package packages/app/execution_service/app:")


def http(
    method: str, url: str, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Service:
    def __init__(
        self,
        env: dict[str, str],
        *args: str,
        log: Path,
        replace_env: bool = False,
        own_group: bool = False,
    ) -> None:
        """own_group: in a process group of its own, as a terminal runs a command, so that
        `interrupt` can do what Ctrl-C does there."""
        self.port = int(env["PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = subprocess.Popen(
            [str(pex_path()), *(args or ("serve",))],
            env=env if replace_env else os.environ | env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )

    def wait_healthy(self, timeout: float = 90.0) -> None:
        def gone() -> str | None:
            code = self.process.poll()
            return None if code is None else f"exited {code}"

        wait_healthy(self.base, gone, lambda: self.log.read_text()[-3000:], timeout)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return http("GET", self.base + path, headers=headers)

    def post(self, path: str) -> tuple[int, Any]:
        return http("POST", self.base + path)

    def stop(self, sig: int, timeout: float = 30.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C in a terminal: SIGINT to every process of the foreground group, the
        service and whatever it started there (needs own_group)."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)


class OpenApi:
    """Validates a response against what the served OpenAPI document says of that route."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in document["paths"]
        ]

    def check(self, method: str, path: str, status: int, body: Any) -> None:
        template = next(t for pattern, t in self.routes if pattern.match(path.split("?")[0]))
        responses = self.document["paths"][template][method.lower()]["responses"]
        assert str(status) in responses, f"{method} {template} does not document {status}"
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        jsonschema.validate(body, self._plain(schema))

    def _plain(self, schema: Any) -> Any:
        """OpenAPI 3.0 to JSON Schema: resolve $ref, turn nullable into a null alternative."""
        if isinstance(schema, list):
            return [self._plain(s) for s in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            return self._plain(self.document["components"]["schemas"][name])
        plain = {k: self._plain(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable"):
            return {"anyOf": [plain, {"type": "null"}]}
        return plain
