"""The SSE endpoints on the in-memory fakes: what a client is sent, when, and the bounds.
The fake feed is told of each commit as PostgreSQL's trigger would tell it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient, TestServer
from dependency_injector import providers

from execution_service.adapters.http import LiveStreams
from execution_service.adapters.http.resume import ChangeHistory
from execution_service.adapters.memory import FixedClock, MemoryChanges, MemoryStore
from execution_service.app import Container, Settings, create_app
from execution_service.domain import Event, RawMessage, parse_message, record_events
from execution_service.domain.events import format_time
from support.events import at, message
from support.nats import wait_until
from support.sse import EventStream

INTERVAL = 0.2


@attrs.define
class Live:
    client: TestClient
    store: MemoryStore
    changes: MemoryChanges
    streams: LiveStreams
    now_ms: list[int]

    async def commit(self, *events: RawMessage) -> None:
        await record_events(self.store, list(events))
        ids = {e.execution_id for e in _events(events)}
        self.changes.committed(ids)
        now = str(self.now_ms[0])
        await wait_until(
            lambda: ids <= (self.streams.history.changed_since(now) or set()),
            what="the history heard it",
        )

    async def stream(self, path: str, **headers: str) -> EventStream:
        response = await self.client.get(path, headers=headers)
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        return EventStream(response)


def _events(raws: Any) -> list[Any]:
    return [p for p in map(parse_message, raws) if isinstance(p, Event)]


@contextlib.asynccontextmanager
async def _live(max_clients: int = 10, send_timeout: float = 5.0) -> AsyncIterator[Live]:
    clock = FixedClock()
    store, changes = MemoryStore(clock), MemoryChanges()
    now_ms = [1_000_000]
    streams = LiveStreams(
        changes,
        max_clients=max_clients,
        interval=INTERVAL,
        send_timeout=send_timeout,
        history=ChangeHistory(now_ms=lambda: now_ms[0], margin_ms=0),
    )
    container = Container(settings=Settings())
    container.recorder.override(providers.Object(store))
    container.queries.override(providers.Object(store))
    container.live_streams.override(providers.Object(streams))
    streams.start()
    async with TestClient(TestServer(create_app(container))) as client:
        yield Live(client, store, changes, streams, now_ms)
        streams.close_all()
    await streams.stop()


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    async with _live() as value:
        yield value


def started(execution: str, ms: int = 0, **extra: Any) -> RawMessage:
    data = {"executionId": execution, "workflowId": "wf", "userId": "u", **extra}
    return message("execution.started", data, ms=ms)


def node(execution: str, node_id: str, outcome: str, ms: int, **extra: Any) -> RawMessage:
    data = {"executionId": execution, "nodeId": node_id, "nodeType": "agent", **extra}
    return message(f"execution.node.{outcome}", data, ms=ms)


def ended(execution: str, outcome: str, ms: int) -> RawMessage:
    return message(f"execution.{outcome}", {"executionId": execution, "error": "x"}, ms=ms)


async def test_an_execution_stream_sends_the_state_then_each_change_then_end(live: Live) -> None:
    await live.commit(started("e1"), node("e1", "a", "started", 1))
    stream = await live.stream("/api/executions/e1/stream")
    first = [await stream.next(), await stream.next()]
    assert [m.event for m in first if m] == ["execution", "node"]
    execution = await (await live.client.get("/api/executions/e1")).json()
    logs = await (await live.client.get("/api/executions/e1/logs")).json()
    assert first[0] and first[0].json() == execution
    assert first[1] and first[1].json() == logs["data"][0]

    await live.commit(node("e1", "a", "completed", 5), ended("e1", "completed", 9))
    rest = await stream.until("end")
    assert [m.event for m in rest] == ["execution", "node", "end"]
    assert rest[0].json()["status"] == "COMPLETED" and rest[1].json()["status"] == "COMPLETED"
    assert all(m.id for m in first + rest if m)
    assert await stream.next() is None  # closed
    await wait_until(lambda: live.streams.clients == 0, what="the client let go")


async def test_a_settled_execution_gets_its_state_and_end_at_once(live: Live) -> None:
    await live.commit(started("e1"), ended("e1", "failed", 3))
    stream = await live.stream("/api/executions/e1/stream")
    assert [m.event for m in await stream.until("end")] == ["execution", "end"]


async def test_unknown_execution_is_a_json_404_and_the_list_route_is_not_an_id(
    live: Live,
) -> None:
    response = await live.client.get("/api/executions/nope/stream")
    assert response.status == 404 and (await response.json())["statusCode"] == 404
    stream = await live.stream("/api/executions/stream")
    await live.commit(started("e9"))
    got = await stream.next()
    assert got and got.event == "execution" and got.json()["id"] == "e9"


async def test_changes_to_one_execution_are_sent_at_most_once_per_interval(live: Live) -> None:
    await live.commit(started("e1"))
    stream = await live.stream("/api/executions/e1/stream")
    await stream.next()
    arrivals = []
    for i in range(4):
        await live.commit(node("e1", f"n{i}", "started", 10 + i))
        got = await stream.next()
        assert got and got.event == "execution"
        arrivals.append(time.monotonic())
        assert (await stream.next()) is not None  # its node
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= INTERVAL * 0.9, gaps


async def test_a_burst_of_changes_is_one_message_with_the_last_state(live: Live) -> None:
    await live.commit(started("e1"))
    stream = await live.stream("/api/executions/stream")
    for i in range(20):
        await live.commit(node("e1", f"n{i}", "started", 10 + i))
    got = await stream.next()
    assert got and got.json()["nodes"]["total"] == 20
    with pytest.raises(TimeoutError):
        await stream.next(timeout=INTERVAL * 3)  # and nothing more


async def test_beyond_max_clients_is_a_json_503_until_one_leaves() -> None:
    async with _live(max_clients=1) as live:
        await live.commit(started("e1"))
        first = await live.stream("/api/executions/e1/stream")
        await first.next()
        refused = await live.client.get("/api/executions/stream")
        assert refused.status == 503 and refused.content_type == "application/json"
        assert (await refused.json())["statusCode"] == 503
        first.response.close()
        await wait_until(lambda: live.streams.clients == 0, what="the first client let go")
        assert (await live.client.get("/api/executions/stream")).status == 200


async def test_a_client_that_stops_reading_is_dropped_and_frees_its_place() -> None:
    async with _live(send_timeout=0.5) as live:
        await live.commit(started("e1"))
        reader, writer = await asyncio.open_connection(
            live.client.host, live.client.port  # type: ignore[arg-type]
        )
        writer.write(b"GET /api/executions/e1/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()  # ... and never reads a byte
        await wait_until(lambda: live.streams.clients == 1, what="the client admitted")
        big = {"blob": "x" * 200_000}
        for i in range(60):
            await live.commit(node("e1", f"n{i}", "started", 10 + i, input=big))
            await asyncio.sleep(0.01)
            if live.streams.clients == 0:
                break
        await wait_until(lambda: live.streams.clients == 0, timeout=10, what="dropped")
        await wait_until(lambda: live.changes.subscribers == 1, what="its subscription gone")
        writer.close()


async def test_a_list_stream_sends_matching_changes_and_one_leaving_the_filter(
    live: Live,
) -> None:
    stream = await live.stream("/api/executions/stream?status=RUNNING&workflowId=wf")
    await live.commit(started("other", workflowId="wf2"), started("e1"))
    got = await stream.next()
    assert got and got.json()["id"] == "e1"
    await live.commit(ended("e1", "completed", 5), ended("other", "completed", 5))
    got = await stream.next()
    assert got and (got.json()["id"], got.json()["status"]) == ("e1", "COMPLETED")
    await live.commit(started("e2"))
    got = await stream.next()
    assert got and got.json()["id"] == "e2"


async def test_a_bad_filter_is_a_json_400(live: Live) -> None:
    response = await live.client.get("/api/executions/stream?status=DONE")
    assert response.status == 400 and "status" in (await response.json())["message"]


async def test_reconnecting_with_last_event_id_gets_what_it_missed_or_a_snapshot(
    live: Live,
) -> None:
    await live.commit(started("e1"), started("e2"), started("e3"))
    stream = await live.stream("/api/executions/stream")
    live.now_ms[0] += 1000
    await live.commit(node("e1", "a", "started", 5))
    got = await stream.next()
    assert got and got.json()["id"] == "e1" and got.id
    stream.response.close()

    live.now_ms[0] += 1000  # while away: e2 changes
    await live.commit(node("e2", "a", "started", 5))
    back = await live.stream("/api/executions/stream", **{"Last-Event-ID": got.id})
    missed = await back.until("execution")
    if missed[-1].json()["id"] == "e1":  # changed at the very ms of that id: sent again
        missed = await back.until("execution")
    assert missed[-1].json()["id"] == "e2"
    await live.commit(started("e4"))
    after = await back.next()
    assert after and after.json()["id"] == "e4"  # no e3: not a snapshot
    back.response.close()

    fresh = await live.stream("/api/executions/stream", **{"Last-Event-ID": "1"})
    snapshot = [await fresh.next() for _ in range(4)]
    assert sorted(m.json()["id"] for m in snapshot if m) == ["e1", "e2", "e3", "e4"]


async def test_an_execution_stream_resumed_with_nothing_missed_sends_nothing_old(
    live: Live,
) -> None:
    await live.commit(started("e1"), node("e1", "a", "started", 1))
    live.now_ms[0] += 1000
    stream = await live.stream("/api/executions/e1/stream")
    seen = [await stream.next(), await stream.next()]
    assert seen[-1] and seen[-1].id
    stream.response.close()
    live.now_ms[0] += 1000
    back = await live.stream("/api/executions/e1/stream", **{"Last-Event-ID": seen[-1].id})
    await live.commit(node("e1", "b", "started", 2))
    got = await back.until("node")
    assert [m.json().get("nodeId") for m in got] == [None, "b"]  # the execution, then b only


async def test_a_gap_in_the_feed_resends_everything(live: Live) -> None:
    await live.commit(started("e1"), node("e1", "a", "started", 1))
    stream = await live.stream("/api/executions/e1/stream")
    await stream.next(), await stream.next()
    live.changes.lose()
    again = [await stream.next(), await stream.next()]
    assert [m.event for m in again if m] == ["execution", "node"]


async def test_a_list_stream_takes_statuses_as_the_list_does(live: Live) -> None:
    stream = await live.stream("/api/executions/stream?status=FAILED,RUNNING")
    await live.commit(started("e1"))
    got = await stream.next()
    assert got and (got.json()["id"], got.json()["status"]) == ("e1", "RUNNING")
    await live.commit(ended("e1", "failed", 5))
    got = await stream.next()
    assert got and (got.json()["id"], got.json()["status"]) == ("e1", "FAILED")


async def test_a_list_stream_keeps_to_the_start_time_window(live: Live) -> None:
    window = f"startedAfter={format_time(at(1000))}&startedBefore={format_time(at(2000))}"
    stream = await live.stream(f"/api/executions/stream?{window}")
    await live.commit(started("early", ms=0), started("inside", ms=1500), started("late", ms=2000))
    got = await stream.next()
    assert got and got.json()["id"] == "inside"
    await live.commit(started("e2", ms=1999))
    got = await stream.next()
    assert got and got.json()["id"] == "e2"  # nothing of early or late came between


QUERIES = [
    "status=FAILED,RUNNING",
    "status=RUNNING&status=FAILED,",
    "status=DONE",
    "status=RUNNING,DONE",
    "startedAfter=2026-11-25T10:00:00Z&startedBefore=2026-11-25T11:00:00%2B01:00",
    "startedAfter=2026-11-25T10:00:00",
    "startedBefore=yesterday",
    "workflowId=wf&userId=u",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_the_list_and_its_stream_take_and_refuse_the_same_filters(
    live: Live, query: str
) -> None:
    listed = await live.client.get(f"/api/executions?{query}")
    streamed = await live.client.get(f"/api/executions/stream?{query}")
    try:
        assert (listed.status, streamed.status) in ((200, 200), (400, 400))
        if listed.status == 400:
            assert (await streamed.json())["message"] == (await listed.json())["message"]
    finally:
        streamed.close()


async def test_a_live_message_is_the_rest_body_of_the_same_view(live: Live) -> None:
    await live.commit(started("e1", input={"big": 2**70, "t": "é ☃"}))
    rest = await (await live.client.get("/api/executions/e1")).read()
    for path in ("/api/executions/e1/stream", "/api/executions/stream?status=RUNNING"):
        stream = await live.stream(path)
        if path.endswith("?status=RUNNING"):
            await live.commit(node("e1", "a", "started", 5))
            rest = await (await live.client.get("/api/executions/e1")).read()
        got = await stream.next()
        assert got and got.data.encode() == rest, path
        stream.response.close()
