"""The page's routes: `/` leads to it, every page path serves the one document, every file it
loads is served with its type, nothing comes from elsewhere, and none of it is API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from execution_service.adapters.http import OPENAPI_URL
from execution_service.app import Container, Settings, create_app


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(Container(settings=Settings())))) as client:
        yield client


async def test_root_redirects_to_the_page(client: TestClient) -> None:
    for path in ("/", "/ui"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == "/ui/"


async def test_every_page_path_serves_the_same_document(client: TestClient) -> None:
    bodies = set()
    for path in ("/ui/", "/ui/executions/demo-failed", "/ui/dead-letters"):
        response = await client.get(path)
        assert response.status == 200 and response.content_type == "text/html"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        bodies.add(await response.text())
    assert len(bodies) == 1


async def test_every_file_the_page_loads_is_served_and_local(client: TestClient) -> None:
    """Follows index.html's links and every module's imports, as the browser would."""
    index = await (await client.get("/ui/")).text()
    pending = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', index)
    seen: dict[str, str] = {}
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        response = await client.get(path)
        assert response.status == 200, path
        seen[path] = response.content_type
        text = await response.text()
        assert not re.search(r"https?://", text), f"{path} names another origin"
        imports = re.findall(r'from "\./([^"]+)"', text)
        pending += [f"/ui/static/{name}" for name in imports]
    assert seen["/ui/static/app.js"] == "text/javascript"
    assert seen["/ui/static/style.css"] == "text/css"
    assert "/ui/static/timeline.js" in seen and "/ui/static/live.js" in seen


async def test_an_unchanged_file_is_not_sent_again(client: TestClient) -> None:
    first = await client.get("/ui/static/app.js")
    again = await client.get("/ui/static/app.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304


async def test_an_unknown_file_is_a_json_404(client: TestClient) -> None:
    response = await client.get("/ui/static/nope.js")
    assert response.status == 404 and (await response.json())["statusCode"] == 404


async def test_the_page_is_not_in_the_api_document(client: TestClient) -> None:
    document = await (await client.get(OPENAPI_URL)).json()
    assert document["paths"] and all(path.startswith("/api/") for path in document["paths"])


@pytest.mark.parametrize("given", ['W/"{tag}"', '"other", "{tag}"', "*"])
async def test_a_file_is_checked_against_if_none_match_as_the_api_checks_it(
    client: TestClient, given: str
) -> None:
    """The one check of conditional.py: weak comparison, a list of tags, and "*"."""
    tag = (await client.get("/ui/static/app.js")).headers["ETag"].strip('"')
    again = await client.get("/ui/static/app.js", headers={"If-None-Match": given.format(tag=tag)})
    assert again.status == 304 and again.headers["ETag"] == f'"{tag}"'
    assert again.headers["Cache-Control"] == "no-cache"
    assert await again.read() == b""
