"""The REST API on the in-memory fakes: the app's container, its providers overridden."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient, TestServer
from dependency_injector import providers
from hypothesis import given
from hypothesis import strategies as st

from execution_service.adapters.http import OPENAPI_URL, serialize
from execution_service.adapters.memory import FixedClock, MemoryRetryPublisher, MemoryStore
from execution_service.app import Container, Settings, create_app
from execution_service.domain import record_events
from execution_service.domain.events import format_time
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


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    clock = FixedClock()
    store, publisher = MemoryStore(clock), MemoryRetryPublisher()
    container = Container(settings=Settings())
    container.recorder.override(providers.Object(store))
    container.queries.override(providers.Object(store))
    container.publisher.override(providers.Object(publisher))
    container.clock.override(providers.Object(clock))
    holder: dict[str, Api] = {}

    async def database() -> bool:
        return store.available

    async def nats() -> bool:
        return holder["api"].nats_up

    container.health_checks.override(providers.Object({"database": database, "nats": nats}))
    async with TestClient(TestServer(create_app(container))) as client:
        holder["api"] = Api(client, store, publisher, clock)
        yield holder["api"]


def workflow(execution: str, fail_at: str | None = "b", ms: int = 0) -> list[Any]:
    run = Workflow(execution, ms).started(0, workflowId="wf", userId="u", input={"q": 1})
    for i, node in enumerate(["a", "b"]):
        node_type = {"nodeType": "agent"}
        run.node_started(node, 10 * i + 1, **node_type)
        run.node_ended(node, 10 * i + 5, failed=node == fail_at, **node_type, error="x")
    run.ended(50, failed=bool(fail_at), workflowId="wf", userId="u", error="node b failed")
    return run.messages


async def test_get_execution_in_the_old_services_shape(api: Api) -> None:
    await record_events(api.store, workflow("e1"))
    body = await api.get("/api/executions/e1")
    assert body == {
        "id": "e1", "workflowId": "wf", "userId": "u", "status": "FAILED",
        "startedAt": "2026-11-25T10:00:00.000Z", "completedAt": "2026-11-25T10:00:00.050Z",
        "duration": 50, "error": "node b failed", "input": {"q": 1}, "output": None,
        "metadata": None, "attempt": 1, "retryOf": None,
        "nodes": {"total": 2, "running": 0, "completed": 1, "failed": 1},
        "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip


async def test_logs_page_with_limit_and_page_size_alias(api: Api) -> None:
    await record_events(api.store, workflow("e1"))
    body = await api.get("/api/executions/e1/logs?limit=1&page=2")
    assert (body["total"], body["page"], body["limit"], body["totalPages"]) == (2, 2, 1, 2)
    assert [r["nodeId"] for r in body["data"]] == ["b"]
    assert body["data"][0]["status"] == "FAILED" and body["data"][0]["executionId"] == "e1"
    alias = await api.get("/api/executions/e1/logs?pageSize=1")
    assert alias["limit"] == 1 and [r["nodeId"] for r in alias["data"]] == ["a"]
    default = await api.get("/api/executions/e1/logs")
    assert default["limit"] == 100


async def test_list_is_newest_first_with_pagination_and_filters(api: Api) -> None:
    for number in range(3):
        await record_events(
            api.store, workflow(f"e{number}", ms=number * 1000, fail_at=None if number else "b")
        )
    body = await api.get("/api/executions?page=1&limit=2")
    assert [e["id"] for e in body["data"]] == ["e2", "e1"]
    assert body["pagination"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}
    failed = await api.get("/api/executions?status=FAILED")
    assert [e["id"] for e in failed["data"]] == ["e0"]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/api/executions?page=abc", "page must be an integer"),
        ("/api/executions?page=-1", "page must be between 1 and 1000000000"),
        ("/api/executions?page=0", "page must be between 1 and 1000000000"),
        ("/api/executions?page=99999999999999999999", "page must be between 1 and 1000000000"),
        ("/api/executions?limit=0", "limit must be between 1 and 100"),
        ("/api/executions?limit=101", "limit must be between 1 and 100"),
        ("/api/executions?limit=", "limit must be an integer"),
        ("/api/executions?status=DONE", "status must be one of PENDING, RUNNING"),
        ("/api/executions/e1/logs?limit=1001", "limit must be between 1 and 1000"),
        ("/api/executions/e1/logs?pageSize=x", "pageSize must be an integer"),
    ],
)
async def test_malformed_parameters_are_a_400_naming_them(api: Api, path: str, says: str) -> None:
    await record_events(api.store, workflow("e1"))
    body = await api.get(path, status=400)
    assert says in body["message"]
    assert body["statusCode"] == 400 and body["error"] == "Bad Request"
    assert body["path"] == path and body["timestamp"].endswith("Z")


async def test_unknown_execution_route_and_method_are_json(api: Api) -> None:
    assert (await api.get("/api/executions/nope", status=404))[
        "message"
    ] == "execution nope not found"
    assert (await api.get("/api/executions/nope/logs", status=404))["statusCode"] == 404
    assert (await api.get("/api/nothing-here", status=404))["error"] == "Not Found"
    response = await api.client.delete("/api/executions/e1")
    assert response.status == 405 and (await response.json())["statusCode"] == 405


async def test_retry_publishes_and_answers_202_then_the_same_again(api: Api) -> None:
    await record_events(api.store, workflow("e1"))
    first = await api.post("/api/executions/e1/retry", 202)
    assert first == {
        "message": "Execution retry initiated",
        "executionId": "e1",
        "failedNodeId": "b",
        "attempt": 2,
    }
    assert list(api.publisher.published) == ["retry:e1:2"]
    api.publisher.published.clear()
    assert await api.post("/api/executions/e1/retry", 202) == first
    assert api.publisher.published == {}


async def test_retry_of_running_or_completed_is_409_and_unknown_404(api: Api) -> None:
    await record_events(api.store, workflow("done", fail_at=None))
    await record_events(api.store, workflow("running")[:3])
    assert (await api.post("/api/executions/done/retry", 409))["error"] == "Conflict"
    assert "RUNNING" in (await api.post("/api/executions/running/retry", 409))["message"]
    await api.post("/api/executions/nope/retry", 404)
    assert api.publisher.published == {}


async def test_retry_with_the_broker_down_is_503_and_records_nothing(api: Api) -> None:
    await record_events(api.store, workflow("e1"))
    api.publisher.available = False
    body = await api.post("/api/executions/e1/retry", 503)
    assert body["statusCode"] == 503
    assert await api.store.retry_request("e1", 2) is None


async def test_health_is_ok_or_503_naming_the_check_down(api: Api) -> None:
    ok = await api.get("/api/health")
    assert ok["status"] == "ok" and ok["checks"] == {"database": "up", "nats": "up"}
    assert ok["service"] == "execution-service"
    api.store.available = False
    down = await api.get("/api/health", status=503)
    assert down["status"] == "error" and down["checks"] == {"database": "down", "nats": "up"}
    api.store.available, api.nats_up = True, False
    assert (await api.get("/api/health", status=503))["checks"]["nats"] == "down"


async def test_a_store_failure_is_a_json_503_and_a_bug_a_500_without_internals(api: Api) -> None:
    api.store.available = False
    assert (await api.get("/api/executions", status=503))["statusCode"] == 503

    async def broken(*_: Any) -> None:
        raise RuntimeError("secret internals")

    api.store.available = True
    api.store.execution = broken  # type: ignore[method-assign,assignment]
    body = await api.get("/api/executions/e1", status=500)
    assert "secret" not in str(body) and "Traceback" not in str(body)
    assert body["message"] == "internal error" and len(body["requestId"]) == 32


async def test_swagger_ui_and_openapi_document_are_served_locally(api: Api) -> None:
    spec = await api.get(OPENAPI_URL)
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ["/api/executions", "/api/executions/{id}", "/api/executions/{id}/logs",
                 "/api/executions/{id}/retry", "/api/health"]:  # fmt: skip
        assert path in paths, path
    assert {"202", "404", "409", "503"} <= set(
        paths["/api/executions/{id}/retry"]["post"]["responses"]
    )
    names = {p["name"] for p in paths["/api/executions"]["get"]["parameters"]}
    assert {"page", "limit", "status"} <= names
    page = await api.client.get("/api/docs")
    html = await page.text()
    assert page.status == 200 and "swagger" in html.lower()
    assert "https://" not in html  # no CDN


async def test_cors_echoes_any_origin_with_credentials(api: Api) -> None:
    response = await api.client.get("/api/health", headers={"Origin": "https://app.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    preflight = await api.client.options(
        "/api/executions/e1/retry",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204


async def test_history_and_retries_of_an_execution(api: Api) -> None:
    events = workflow("e1")
    await record_events(api.store, events)
    history = await api.get("/api/executions/e1/events")
    assert history["total"] == len(events) == len(history["data"])
    assert {h["event"]["eventType"] for h in history["data"]} >= {"execution.started"}
    assert all(h["key"] == h["event"]["eventId"] for h in history["data"])
    assert (await api.get("/api/executions/e1/retries"))["data"] == []
    await api.post("/api/executions/e1/retry", 202)
    (retry,) = (await api.get("/api/executions/e1/retries"))["data"]
    assert (retry["attempt"], retry["failedNodeId"], retry["messageId"]) == (2, "b", "retry:e1:2")
    await api.get("/api/executions/nope/events", status=404)
    await api.get("/api/executions/nope/retries", status=404)


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5)), timezone(-timedelta(hours=3))])


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES))
def test_the_fast_time_text_is_the_domains(at: datetime) -> None:
    assert serialize.iso(at) == format_time(at)
