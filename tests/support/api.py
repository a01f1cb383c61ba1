"""The REST API on the in-memory fakes, as the unit tests call it (tests/unit/conftest.py
makes one per test): a client with the fakes behind it, and the workflow most tests record."""

from __future__ import annotations

from typing import Any

import attrs
from aiohttp.test_utils import TestClient

from execution_service.adapters.memory import FixedClock, MemoryRetryPublisher, MemoryStore
from support.events import Workflow


@attrs.define
class Api:
    client: TestClient
    store: MemoryStore
    publisher: MemoryRetryPublisher
    clock: FixedClock
    nats_up: bool = True

    async def get(self, path: str, status: int = 200, **kw: Any) -> Any:
        response = await self.client.get(path, **kw)
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        return await response.json()

    async def post(self, path: str, status: int) -> Any:
        response = await self.client.post(path)
        assert response.status == status, await response.text()
        return await response.json()


def workflow(execution: str, fail_at: str | None = "b", ms: int = 0) -> list[Any]:
    run = Workflow(execution, ms).started(0, workflowId="wf", userId="u", input={"q": 1})
    for i, node in enumerate(["a", "b"]):
        node_type = {"nodeType": "agent"}
        run.node_started(node, 10 * i + 1, **node_type)
        run.node_ended(node, 10 * i + 5, failed=node == fail_at, **node_type, error="x")
    run.ended(50, failed=bool(fail_at), workflowId="wf", userId="u", error="node b failed")
    return run.messages
