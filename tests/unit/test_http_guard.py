"""Who may act, and the answers every endpoint shares: bearer tokens, 405 with Allow, the body
cap, CORS with tokens, and what the OpenAPI document says of them (on the in-memory fakes)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from dependency_injector import providers

from execution_service.adapters.http import OPENAPI_URL, build_app
from execution_service.adapters.http.limits import MAX_BODY_BYTES
from execution_service.adapters.memory import FixedClock, MemoryRetryPublisher, MemoryStore
from execution_service.app import Container, Settings, create_app
from execution_service.app.logs import AccessLog
from execution_service.domain import record_events
from support.events import message

API_TOKEN = "act-0123456789abcdef-api"
OTHER_API_TOKEN = "act-fedcba9876543210-api"
READ_TOKEN = "read-0123456789abcdef-rd"
ORIGIN = "https://app.example.com"
RETRY = "/api/executions/e1/retry"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def failed_workflow(execution: str) -> list[Any]:
    base = {"executionId": execution, "workflowId": "wf"}
    node = base | {"nodeId": "a"}
    return [
        message("execution.started", base, ms=0),
        message("execution.node.started", node, ms=1),
        message("execution.node.failed", node | {"error": "x"}, ms=2),
        message("execution.failed", base | {"error": "x"}, ms=3),
    ]


async def serve(settings: Settings) -> AsyncIterator[TestClient]:
    clock = FixedClock()
    store = MemoryStore(clock)
    await record_events(store, failed_workflow("e1"))
    container = Container(settings=settings)
    container.recorder.override(providers.Object(store))
    container.queries.override(providers.Object(store))
    container.publisher.override(providers.Object(MemoryRetryPublisher()))
    container.clock.override(providers.Object(clock))

    async def up() -> bool:
        return True

    container.health_checks.override(providers.Object({"database": up, "nats": up}))
    server = TestServer(create_app(container))
    await server.start_server(access_log_class=AccessLog)  # the access log `serve` writes
    async with TestClient(server) as client:
        yield client


@pytest.fixture
async def guarded() -> AsyncIterator[TestClient]:
    settings = Settings(
        api_tokens=(API_TOKEN, OTHER_API_TOKEN), read_tokens=(READ_TOKEN,), cors_origins=(ORIGIN,)
    )
    async for client in serve(settings):
        yield client


@pytest.fixture
async def acts_guarded() -> AsyncIterator[TestClient]:
    async for client in serve(Settings(api_tokens=(API_TOKEN,), cors_origins=(ORIGIN,))):
        yield client


@pytest.fixture
async def open_api() -> AsyncIterator[TestClient]:
    async for client in serve(Settings()):
        yield client


async def assert_401(response: Any) -> dict[str, Any]:
    assert response.status == 401, await response.text()
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body: dict[str, Any] = await response.json()
    assert body["statusCode"] == 401 and body["error"] == "Unauthorized"
    assert set(body) == {"statusCode", "message", "error", "timestamp", "path"}
    return body


async def test_acting_without_a_token_or_with_a_wrong_one_is_the_same_401(
    acts_guarded: TestClient,
) -> None:
    missing = await assert_401(await acts_guarded.post(RETRY))
    wrong = await assert_401(await acts_guarded.post(RETRY, headers=bearer(API_TOKEN + "x")))
    not_bearer = await assert_401(
        await acts_guarded.post(RETRY, headers={"Authorization": f"Basic {API_TOKEN}"})
    )
    assert missing["message"] == wrong["message"] == not_bearer["message"]
    assert API_TOKEN not in str(wrong)
    # reads stay open when only API_TOKENS is set
    assert (await acts_guarded.get("/api/executions/e1")).status == 200


async def test_every_api_token_acts(guarded: TestClient) -> None:
    response = await guarded.post(RETRY, headers=bearer(OTHER_API_TOKEN))
    assert response.status == 202, await response.text()
    lower_scheme = {"Authorization": f"bearer {API_TOKEN}"}
    assert (await guarded.post(RETRY, headers=lower_scheme)).status == 202


async def test_a_token_in_the_query_string_is_refused_and_never_echoed_nor_logged(
    guarded: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    response = await guarded.post(f"{RETRY}?access_token={API_TOKEN}")
    body = await assert_401(response)
    assert API_TOKEN not in str(body) and "access_token=hidden" in body["path"]
    read = await guarded.get(f"/api/executions/e1?access_token={READ_TOKEN}&page=1")
    await assert_401(read)
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any(f"POST {RETRY}?access_token=hidden" in line for line in lines), lines
    assert not any(API_TOKEN in line or READ_TOKEN in line for line in lines), lines


async def test_reads_with_read_tokens(guarded: TestClient) -> None:
    await assert_401(await guarded.get("/api/executions"))
    await assert_401(await guarded.get("/api/executions/e1", headers=bearer("nope" * 5)))
    for token in (READ_TOKEN, API_TOKEN):  # whoever may act may read
        response = await guarded.get("/api/executions/e1", headers=bearer(token))
        assert response.status == 200, token
    # a read token does not act
    await assert_401(await guarded.post(RETRY, headers=bearer(READ_TOKEN)))
    for path in ("/api/health", OPENAPI_URL, "/api/docs", "/api/docs/asyncapi.json"):
        assert (await guarded.get(path)).status == 200, path


async def test_405_carries_allow_in_the_error_shape(guarded: TestClient) -> None:
    for method, path, allowed in [
        ("DELETE", "/api/executions", {"GET", "HEAD"}),
        ("GET", RETRY, {"POST"}),
        ("TRACE", "/api/health", {"GET", "HEAD"}),
    ]:
        response = await guarded.request(method, path)
        assert response.status == 405, (method, path)
        assert set(response.headers["Allow"].replace(" ", "").split(",")) == allowed
        body = await response.json()
        assert body["statusCode"] == 405 and body["error"] == "Method Not Allowed"


async def test_a_body_over_the_cap_is_a_json_413(open_api: TestClient) -> None:
    big = b"x" * (MAX_BODY_BYTES + 1)
    response = await open_api.post(RETRY, data=big)
    assert response.status == 413
    assert (await response.json())["error"] == "Request Entity Too Large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read up to the cap
        for _ in range(4):
            yield b"y" * (MAX_BODY_BYTES // 2)

    chunked = await open_api.post(RETRY, data=chunks())
    assert chunked.status == 413 and (await chunked.json())["statusCode"] == 413
    small = await open_api.post(RETRY, data=b"{}")
    assert small.status == 202


async def test_a_nul_in_the_path_or_query_is_a_400(open_api: TestClient) -> None:
    for path in ("/api/executions/a%00b", "/api/executions?workflowId=a%00b"):
        response = await open_api.get(path)
        assert response.status == 400, path
        assert "NUL" in (await response.json())["message"]


async def test_cors_with_tokens_allows_only_the_listed_origins(guarded: TestClient) -> None:
    listed = await guarded.get("/api/health", headers={"Origin": ORIGIN})
    assert listed.headers["Access-Control-Allow-Origin"] == ORIGIN
    other = await guarded.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Credentials" not in other.headers
    # the preflight needs no token; the 401 itself is readable by the listed origin
    preflight = await guarded.options(
        RETRY, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 204
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    refused = await guarded.post(RETRY, headers={"Origin": ORIGIN})
    assert refused.status == 401 and refused.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_tokens_with_any_origin_do_not_build() -> None:
    with pytest.raises(ValueError, match="CORS origins must be listed"):
        build_app(Container(settings=Settings()), ("*",), api_tokens=(API_TOKEN,))


async def test_the_openapi_document_lists_every_shared_answer(guarded: TestClient) -> None:
    document = await (await guarded.get(OPENAPI_URL)).json()
    paths = document["paths"]
    assert "400" in paths["/api/dead-letters"]["get"]["responses"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "413" in responses, (method, path)
            if not path.startswith("/api/health"):
                assert "401" in responses and operation["security"], (method, path)
                assert "503" in responses, (method, path)
    for probe in ("/api/health", "/api/health/live", "/api/health/ready"):
        assert "security" not in paths[probe]["get"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerToken"] == schemes["bearerToken"] | {"type": "http", "scheme": "bearer"}


async def test_without_tokens_401_is_documented_but_no_token_is_asked_for(
    open_api: TestClient, acts_guarded: TestClient
) -> None:
    document = await (await open_api.get(OPENAPI_URL)).json()
    retry = document["paths"]["/api/executions/{id}/retry"]["post"]
    assert "401" in retry["responses"] and "security" not in retry
    assert "securitySchemes" not in document["components"]
    acts = await (await acts_guarded.get(OPENAPI_URL)).json()
    assert acts["paths"]["/api/executions/{id}/retry"]["post"]["security"]
    assert "security" not in acts["paths"]["/api/executions/{id}"]["get"]
