"""The API of issue 13 over HTTP, on the in-memory fakes: filters, cursor pages, conditional
GETs and dead letters put back or discarded."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from execution_service.domain import REPLAY_OF_HEADER, DeadLetter, record_events
from support.api import Api, workflow
from support.events import Workflow

pytestmark = pytest.mark.usefixtures("api")


async def test_status_repeated_or_comma_separated_and_start_window(api: Api) -> None:
    for n in range(4):
        await record_events(
            api.store, workflow(f"e{n}", fail_at="b" if n % 2 else None, ms=n * 1000)
        )
    await record_events(api.store, Workflow("r", 9000).started(0).messages)
    comma = await api.get("/api/executions?status=FAILED,RUNNING")
    repeated = await api.get("/api/executions?status=FAILED&status=RUNNING")
    assert (
        [e["id"] for e in comma["data"]] == ["r", "e3", "e1"] == [e["id"] for e in repeated["data"]]
    )
    window = "startedAfter=2026-11-25T10:00:01Z&startedBefore=2026-11-25T12:00:03%2B02:00"
    body = await api.get(f"/api/executions?{window}")
    assert [e["id"] for e in body["data"]] == ["e2", "e1"]
    assert body["pagination"]["total"] == 2
    oldest = await api.get("/api/executions?sort=startedAt&limit=2")
    assert [e["id"] for e in oldest["data"]] == ["e0", "e1"]
    updated = await api.get("/api/executions?sort=-updatedAt")
    assert len(updated["data"]) == 5
    # an empty item is no status: `status=` filters nothing
    assert (await api.get("/api/executions?status="))["pagination"]["total"] == 5
    assert (await api.get("/api/executions?status=FAILED,"))["pagination"]["total"] == 2


async def test_cursor_pages_walk_to_the_end_once_each(api: Api) -> None:
    for n in range(25):
        await record_events(api.store, workflow(f"e{n:02}", ms=n * 10))
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        body = await api.get(f"/api/executions?limit=10&cursor={cursor}")
        assert set(body["pagination"]) == {"limit", "nextCursor"}
        seen += [e["id"] for e in body["data"]]
        cursor = body["pagination"]["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"e{n:02}" for n in reversed(range(25))]
    assert cursor is None


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("cursor=not-a-cursor", "cursor is malformed"),
        ("cursor=e30", "cursor is malformed"),
        ("cursor=%%%", "cursor is malformed"),
        ("sort=startedAt&cursor={cursor}", "cursor belongs to another filter or sort"),
        ("status=FAILED&cursor={cursor}", "cursor belongs to another filter or sort"),
        ("status=DONE", "status must be one of"),
        ("status=FAILED,DONE", "status must be one of"),
        ("startedAfter=2026-11-25T10:00:00", "startedAfter must be an ISO 8601 time"),
        ("startedBefore=yesterday", "startedBefore must be an ISO 8601 time"),
        ("sort=updatedAt", "sort must be one of -startedAt, startedAt, -updatedAt"),
    ],
)
async def test_bad_cursors_and_filters_are_a_400_naming_them(
    api: Api, query: str, says: str
) -> None:
    for n in range(3):
        await record_events(api.store, workflow(f"e{n}", ms=n))
    first = await api.get("/api/executions?limit=1&cursor=")
    path = "/api/executions?limit=1&" + query.format(cursor=first["pagination"]["nextCursor"])
    body = await api.get(path, status=400)
    assert says in body["message"], body["message"]


def forged(cursor: str, **changes: Any) -> str:
    """A cursor of the same list, its position rewritten (cursors are opaque, not sealed)."""
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))) | changes
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


async def test_a_forged_position_is_a_400_or_an_empty_page_never_a_500(
    api: Api,
) -> None:
    for n in range(3):
        await record_events(api.store, workflow(f"e{n}", ms=n))
    for query in ["sort=-updatedAt", "startedAfter=2020-01-01T00:00:00Z"]:
        first = await api.get(f"/api/executions?limit=1&{query}&cursor=")
        cursor = forged(first["pagination"]["nextCursor"], t=None, i="zzz")
        response = await api.client.get(f"/api/executions?limit=1&{query}&cursor={cursor}")
        if query.startswith("sort"):
            assert response.status == 400, await response.text()
        else:  # past an unknown start, a window holds nothing more
            body = await response.json()
            assert response.status == 200, body
            assert body == {"data": [], "pagination": {"limit": 1, "nextCursor": None}}


async def test_logs_filter_by_status_node_and_attempt(api: Api) -> None:
    await record_events(api.store, workflow("e1"))
    failed = await api.get("/api/executions/e1/logs?status=FAILED")
    assert [r["nodeId"] for r in failed["data"]] == ["b"] and failed["total"] == 1
    by_node = await api.get("/api/executions/e1/logs?nodeId=a&attempt=1")
    assert [r["nodeId"] for r in by_node["data"]] == ["a"]
    assert (await api.get("/api/executions/e1/logs?attempt=2"))["data"] == []
    for attempt in ("0", "133823339902714608"):  # past the database's integers: a 400, no 500
        body = await api.get(f"/api/executions/e1/logs?attempt={attempt}", status=400)
        assert "attempt must be between 1 and 1000000000" in body["message"]


async def conditional(api: Api, path: str, tags: str) -> Any:
    return await api.client.get(path, headers={"If-None-Match": tags})


@pytest.mark.parametrize("path", ["/api/executions/e1", "/api/executions/e1/logs?limit=5"])
async def test_an_unchanged_answer_is_a_304_without_a_body(api: Api, path: str) -> None:
    await record_events(api.store, Workflow("e1", 0).started(0).node_started("a", 1).messages)
    first = await api.client.get(path)
    tag = first.headers["ETag"]
    assert first.status == 200 and tag.startswith('"')
    for given in [tag, f'"other", {tag}', f"W/{tag}", "*"]:
        again = await conditional(api, path, given)
        assert again.status == 304, given
        assert await again.read() == b"" and again.headers["ETag"] == tag
    assert (await conditional(api, path, '"other"')).status == 200
    # a node run on the page changes: so do the answer and its tag
    await record_events(api.store, Workflow("e1", 0).node_ended("a", 5).messages)
    changed = await conditional(api, path, tag)
    assert changed.status == 200 and changed.headers["ETag"] != tag


async def test_a_404_is_not_turned_into_a_304(api: Api) -> None:
    response = await conditional(api, "/api/executions/nope", "*")
    assert response.status == 404


def dead(key: str, payload: bytes = b"{oops", count: int = 1) -> list[DeadLetter]:
    return [DeadLetter(key, "execution.started", payload, {"Nats-Msg-Id": key}, "not JSON")] * count


async def test_one_dead_letter_with_its_payload_as_received(api: Api) -> None:
    await api.store.record([], dead("k1") + dead("k2", b"\xff\xfe"))
    text = await api.get("/api/dead-letters/k1")
    assert (text["payload"], text["encoding"], text["headers"]) == (
        "{oops",
        "utf-8",
        {"Nats-Msg-Id": "k1"},
    )
    binary = await api.get("/api/dead-letters/k2")
    assert binary["encoding"] == "base64"
    assert base64.b64decode(binary["payload"]) == b"\xff\xfe"
    assert (await api.get("/api/dead-letters/nope", status=404))["statusCode"] == 404


async def test_replay_publishes_once_per_failure(api: Api) -> None:
    await api.store.record([], dead("k1"))
    for _ in range(2):  # the double click
        response = await api.client.post("/api/dead-letters/k1/replay")
        assert response.status == 202
        assert (await response.json())["messageId"] == "replay:k1:1"
    assert list(api.publisher.replayed) == ["replay:k1:1"]
    sent = api.publisher.replayed["replay:k1:1"]
    assert (sent.subject, sent.data) == ("execution.started", b"{oops")
    assert sent.headers[REPLAY_OF_HEADER] == "k1"
    letter = await api.get("/api/dead-letters/k1")
    assert letter["replays"] == 1 and letter["replayedAt"] is not None
    assert [d["key"] for d in (await api.get("/api/dead-letters?replayed=true"))["data"]] == ["k1"]
    assert (await api.get("/api/dead-letters?replayed=false"))["data"] == []

    await api.store.record([], dead("k1"))  # it failed again
    assert (await api.client.post("/api/dead-letters/k1/replay")).status == 202
    assert list(api.publisher.replayed) == ["replay:k1:1", "replay:k1:2"]
    assert (await api.get("/api/dead-letters/k1"))["replays"] == 2
    assert (await api.client.post("/api/dead-letters/nope/replay")).status == 404


async def test_replay_with_the_broker_down_is_503_and_marks_nothing(api: Api) -> None:
    await api.store.record([], dead("k1"))
    api.publisher.available = False
    assert (await api.client.post("/api/dead-letters/k1/replay")).status == 503
    assert (await api.get("/api/dead-letters/k1"))["replayedAt"] is None


async def test_discard_needs_a_reason_then_the_letter_is_gone(api: Api) -> None:
    await api.store.record([], dead("k1") + dead("k2"))
    no_reason = await api.client.delete("/api/dead-letters/k1")
    assert no_reason.status == 400
    assert "reason is required" in (await no_reason.json())["message"]
    gone = await api.client.delete("/api/dead-letters/k1?reason=producer%20bug%20fixed")
    assert gone.status == 204 and await gone.read() == b""
    assert (await api.client.delete("/api/dead-letters/k1?reason=again")).status == 404
    assert [d["key"] for d in (await api.get("/api/dead-letters"))["data"]] == ["k2"]
    by_subject = await api.get("/api/dead-letters?subject=execution.completed")
    assert by_subject["data"] == []
    assert (
        "replayed must be true or false"
        in (await api.get("/api/dead-letters?replayed=maybe", status=400))["message"]
    )


async def test_every_new_status_is_in_the_openapi_document(api: Api) -> None:
    from execution_service.adapters.http import OPENAPI_URL

    paths = (await api.get(OPENAPI_URL))["paths"]
    letter = paths["/api/dead-letters/{key}"]
    assert {"200", "404"} <= set(letter["get"]["responses"])
    assert {"204", "400", "404"} <= set(letter["delete"]["responses"])
    assert {"202", "404", "503"} <= set(
        paths["/api/dead-letters/{key}/replay"]["post"]["responses"]
    )
    assert {"200", "304", "404"} <= set(paths["/api/executions/{id}"]["get"]["responses"])
    assert {"200", "304", "400", "404"} <= set(
        paths["/api/executions/{id}/logs"]["get"]["responses"]
    )
    assert "400" in paths["/api/dead-letters"]["get"]["responses"]
    names = {p["name"] for p in paths["/api/executions"]["get"]["parameters"]}
    assert {"status", "startedAfter", "startedBefore", "sort", "cursor"} <= names


async def test_a_browser_may_send_if_none_match_and_read_the_etag(api: Api) -> None:
    await record_events(api.store, workflow("e1"))
    response = await api.client.get("/api/executions/e1", headers={"Origin": "https://app.example"})
    assert "If-None-Match" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Expose-Headers"] == "ETag"


async def test_the_execution_and_its_logs_at_a_past_moment(api: Api) -> None:  # noqa: F811
    messages = workflow("e1")
    await record_events(api.store, messages[:3])  # started, node a started and completed
    api.clock.advance(seconds=1)
    await record_events(api.store, messages[3:])
    then = "2026-01-01T00:00:00.500Z"  # after the first batch, before the second
    api.clock.advance(seconds=1)

    past = await api.get(f"/api/executions/e1?at={then}")
    assert (past["status"], past["nodes"]) == (
        "RUNNING", {"total": 1, "running": 0, "completed": 1, "failed": 0},
    )  # fmt: skip
    assert past["createdAt"] == past["updatedAt"] == "2026-01-01T00:00:00.000Z"
    logs = await api.get(f"/api/executions/e1/logs?at={then}&status=COMPLETED")
    assert [(r["nodeId"], r["status"]) for r in logs["data"]] == [("a", "COMPLETED")]
    assert logs["total"] == 1
    now = await api.get("/api/executions/e1")
    later = await api.get("/api/executions/e1?at=2026-01-01T00:00:01.500Z")
    assert later | {"updatedAt": "", "createdAt": ""} == now | {"updatedAt": "", "createdAt": ""}

    await api.get("/api/executions/e1?at=2025-12-31T23:00:00Z", status=404)
    not_yet = await api.get("/api/executions/e1?at=2026-01-01T00:00:02Z", status=409)
    assert "not final" in not_yet["message"] or "not passed" in not_yet["message"]
    bad = await api.get("/api/executions/e1/logs?at=yesterday", status=400)
    assert "at must be an ISO 8601 time" in bad["message"]
    from execution_service.adapters.http import OPENAPI_URL

    paths = (await api.get(OPENAPI_URL))["paths"]
    for path in ("/api/executions/{id}", "/api/executions/{id}/logs"):
        operation = paths[path]["get"]
        assert "at" in {p["name"] for p in operation["parameters"]}, path
        assert "409" in operation["responses"], path
