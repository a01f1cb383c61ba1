"""Every body the API sends validates against the schema its OpenAPI document gives for that
endpoint and status: http/schemas.py says the shape, http/serialize.py writes it, and this
holds the two together, for every endpoint and every status the document lists (each is
produced here, on the in-memory fakes)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import attrs
import jsonschema
import pytest
from aiohttp.test_utils import TestClient, TestServer
from dependency_injector import providers

from execution_service.adapters.http import OPENAPI_URL
from execution_service.adapters.memory import FixedClock, MemoryRetryPublisher, MemoryStore
from execution_service.app import Container, Settings, create_app
from execution_service.domain import DeadLetter, record_events
from support.events import Workflow

API_TOKEN, READ_TOKEN = "act-token", "read-token"
TOO_LARGE = b"x" * (16 * 1024 + 1)  # over the limits middleware's bound, on any route
STORE_ROUTES = [  # (method, template, a path of it) of every route that reads the store
    ("GET", "/api/executions", "/api/executions"),
    ("GET", "/api/executions/{id}", "/api/executions/e1"),
    ("GET", "/api/executions/{id}/logs", "/api/executions/e1/logs"),
    ("POST", "/api/executions/{id}/retry", "/api/executions/e1/retry"),
    ("GET", "/api/executions/{id}/events", "/api/executions/e1/events"),
    ("GET", "/api/executions/{id}/retries", "/api/executions/e1/retries"),
    ("GET", "/api/executions/{id}/traces", "/api/executions/e1/traces"),
    ("GET", "/api/dead-letters", "/api/dead-letters"),
    ("GET", "/api/dead-letters/{key}", "/api/dead-letters/k1"),
    ("DELETE", "/api/dead-letters/{key}", "/api/dead-letters/k1?reason=x"),
    ("POST", "/api/dead-letters/{key}/replay", "/api/dead-letters/k1/replay"),
]
HEALTH_ROUTES = [
    ("GET", path, path) for path in ("/api/health", "/api/health/live", "/api/health/ready")
]


@attrs.define
class Sent:
    method: str
    template: str
    status: int
    body: Any


@attrs.define
class Service:
    client: TestClient
    store: MemoryStore
    publisher: MemoryRetryPublisher
    checks_up: bool = True
    sent: list[Sent] = attrs.Factory(list)
    sent_etag: str = ""  # the last answer's

    async def call(
        self,
        method: str,
        template: str,
        path: str,
        status: int,
        token: str | None = API_TOKEN,
        data: bytes | None = None,
        if_none_match: str | None = None,
    ) -> None:
        headers = {} if if_none_match is None else {"If-None-Match": if_none_match}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.client.request(method, path, headers=headers, data=data)
        assert response.status == status, (method, path, await response.text())
        body = await response.json() if await response.read() else None
        self.sent.append(Sent(method.lower(), template, status, body))
        self.sent_etag = response.headers.get("ETag", "")


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    clock = FixedClock()
    store, publisher = MemoryStore(clock), MemoryRetryPublisher()
    settings = Settings(
        api_tokens=(API_TOKEN,), read_tokens=(READ_TOKEN,), cors_origins=("https://a.example",)
    )
    container = Container(settings=settings)
    for name, fake in (("recorder", store), ("queries", store), ("publisher", publisher)):
        getattr(container, name).override(providers.Object(fake))
    container.clock.override(providers.Object(clock))
    holder: list[Service] = []

    async def check() -> bool:
        return holder[0].checks_up

    checks = {"database": check, "nats": check}
    container.health_checks.override(providers.Object(checks))
    container.readiness_checks.override(providers.Object(checks | {"consumer": check}))
    async with TestClient(TestServer(create_app(container))) as client:
        holder.append(Service(client, store, publisher))
        yield holder[0]


def _json_schema(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable` as JSON Schema's null type."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _json_schema(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]} if out else {}
    return out


def _validate(document: dict[str, Any], sent: Sent) -> None:
    responses = document["paths"][sent.template][sent.method]["responses"]
    assert str(sent.status) in responses, f"{sent} is not documented"
    content = responses[str(sent.status)].get("content")
    if content is None:
        assert sent.body is None, f"{sent}: a body where the document says none"
        return
    schema = copy.deepcopy(content["application/json"]["schema"])
    schema["components"] = document["components"]
    jsonschema.validate(sent.body, _json_schema(schema))


def _letter(key: str) -> DeadLetter:
    return DeadLetter(key, "execution.started", b"{oops", {"Nats-Msg-Id": key}, "not JSON")


async def test_every_documented_status_of_every_endpoint_sends_its_documented_body(
    service: Service,
) -> None:
    failed = Workflow("e1").started(0, workflowId="wf", input={"q": [1, "é"]})
    failed.node("a", 1, 5).node("b", 6, 9, failed=True).ended(10, failed=True)
    done = Workflow("e2", 1000).started(0).node("a", 1, 5).ended(6)
    await record_events(service.store, failed.messages + done.messages)
    await service.store.record([], [_letter("k1"), _letter("k2"), _letter("k3")])
    call, e, one = service.call, "/api/executions", "/api/executions/{id}"
    logs = "/api/executions/{id}/logs"

    await call("GET", e, f"{e}?limit=1&status=FAILED,COMPLETED", 200, READ_TOKEN)
    await call("GET", e, f"{e}?cursor=", 200)
    await call("GET", e, f"{e}?status=DONE", 400)
    await call("GET", e, e, 401, token=None)
    await call("GET", one, f"{e}/e1", 200)
    await call("GET", one, f"{e}/e1", 304, if_none_match=service.sent_etag)
    await call("GET", one, f"{e}/nope", 404)
    await call("GET", one, f"{e}/e1", 401, token="wrong")
    await call("GET", logs, f"{e}/e1/logs", 200)
    await call("GET", logs, f"{e}/e1/logs", 304, if_none_match=service.sent_etag)
    await call("GET", logs, f"{e}/e1/logs?limit=1", 200)
    await call("GET", logs, f"{e}/e1/logs?limit=0", 400)
    await call("GET", logs, f"{e}/nope/logs", 404)
    await call("GET", logs, f"{e}/e1/logs", 401, token=None)
    future = "2100-01-01T00:00:00Z"  # writes in flight may yet be recorded before it
    await call("GET", one, f"{e}/e1?at={future}", 409)
    await call("GET", logs, f"{e}/e1/logs?at={future}", 409)
    await call("GET", one, f"{e}/e1?at=yesterday", 400)
    retry = "/api/executions/{id}/retry"
    await call("POST", retry, f"{e}/e1/retry", 202)
    await call("POST", retry, f"{e}/e2/retry", 409)
    await call("POST", retry, f"{e}/nope/retry", 404)
    await call("POST", retry, f"{e}/e1/retry", 401, token=READ_TOKEN)
    await call("POST", retry, f"{e}/e1%00/retry", 400)
    for tail in ("events", "retries", "traces"):
        route = "/api/executions/{id}/" + tail
        await call("GET", route, f"{e}/e1/{tail}", 200)
        await call("GET", route, f"{e}/nope/{tail}", 404)
        await call("GET", route, f"{e}/e1%00/{tail}", 400)
        await call("GET", route, f"{e}/e1/{tail}", 401, token=None)
    await call("GET", one, f"{e}/e1%00", 400)

    d, letter = "/api/dead-letters", "/api/dead-letters/{key}"
    await call("GET", d, f"{d}?limit=2", 200)
    await call("GET", d, f"{d}?replayed=maybe", 400)
    await call("GET", d, d, 401, token=None)
    await call("GET", letter, f"{d}/k1", 200)
    await call("GET", letter, f"{d}/nope", 404)
    await call("GET", letter, f"{d}/k1%00", 400)
    await call("GET", letter, f"{d}/k1", 401, token=None)
    await call("DELETE", letter, f"{d}/k2?reason=fixed", 204)
    await call("DELETE", letter, f"{d}/k3", 400)
    await call("DELETE", letter, f"{d}/nope?reason=x", 404)
    await call("DELETE", letter, f"{d}/k3?reason=x", 401, token=READ_TOKEN)
    replay = "/api/dead-letters/{key}/replay"
    await call("POST", replay, f"{d}/k1/replay", 202)
    await call("POST", replay, f"{d}/nope/replay", 404)
    await call("POST", replay, f"{d}/k1%00/replay", 400)
    await call("POST", replay, f"{d}/k1/replay", 401, token=None)

    for health in ("/api/health", "/api/health/live", "/api/health/ready"):
        await call("GET", health, health, 200, token=None)
    for method, route, path in [*STORE_ROUTES, *HEALTH_ROUTES]:
        await call(method, route, path, 413, data=TOO_LARGE)
    service.checks_up = False
    for health in ("/api/health", "/api/health/ready"):
        await call("GET", health, health, 503, token=None)
    service.publisher.available = False
    await service.store.record([], [_letter("k1")])  # failed again: replay would publish
    await call("POST", replay, f"{d}/k1/replay", 503)
    await call("POST", retry, f"{e}/e1/retry", 202)  # asked already: nothing to publish
    service.store.available = False
    for method, route, path in STORE_ROUTES:
        await call(method, route, path, 503)

    spec = await (await service.client.get(OPENAPI_URL)).json()
    for sent in service.sent:
        _validate(spec, sent)
    produced = {(s.method, s.template, str(s.status)) for s in service.sent}
    documented = {
        (method, template, status)
        for template, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method in ("get", "post", "delete")
        for status in operation["responses"]
    }
    assert documented - produced == set()
