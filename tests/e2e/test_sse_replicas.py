"""Live updates across replicas: two built PEXes on one database and one durable consumer.
Whichever replica applies an event, an SSE client on each replica receives it: for every
event at least one of the two clients is on the replica that did not apply it, so the change
crossed over through PostgreSQL's NOTIFY."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from e2e.test_deployable import env, publish  # noqa: F401 - env is a fixture

from execution_service.adapters.nats.embedded import free_port
from execution_service.app.demo import workflow
from support.polling import poll_until
from support.service import Service
from support.sse import EventStream, Message

EXECUTION = "x-live"


def test_a_client_on_either_replica_sees_every_change_then_end(
    env: dict[str, str], tmp_path: Path  # noqa: F811 - the fixture
) -> None:
    replicas = [
        Service(env | {"PORT": str(free_port())}, "serve", log=tmp_path / f"replica-{i}.log")
        for i in range(2)
    ]
    try:
        for replica in replicas:
            replica.wait_healthy()
        events = [
            (s, json.dumps(e).encode())
            for s, e in workflow("completed", datetime(2026, 11, 29, tzinfo=UTC), EXECUTION)
        ]
        asyncio.run(publish(env, events[:1]))
        for replica in replicas:

            def found(r: Service = replica) -> bool:
                return r.get(f"/api/executions/{EXECUTION}")[0] == 200

            poll_until(found, 30, what=f"{EXECUTION} on every replica")
        seen = asyncio.run(_watch_both(replicas, env, events[1:]))
        final_logs = replicas[0].get(f"/api/executions/{EXECUTION}/logs")[1]["data"]
        final = replicas[0].get(f"/api/executions/{EXECUTION}")[1]
        for messages in seen:
            kinds = [m.event for m in messages]
            assert kinds[0] == "execution" and kinds[-1] == "end", kinds
            assert "node" in kinds and all(m.id for m in messages if m.event != "end")
            executions = [m.json() for m in messages if m.event == "execution"]
            assert executions[0]["status"] == "RUNNING" and executions[-1] == final
            last_of_node: dict[str, Any] = {}
            for m in messages:
                if m.event == "node":
                    last_of_node[m.json()["nodeId"]] = m.json()
            assert sorted(last_of_node.values(), key=lambda r: r["nodeId"]) == sorted(
                final_logs, key=lambda r: r["nodeId"]
            )
    finally:
        for replica in replicas:
            replica.stop(signal.SIGTERM)


async def _watch_both(
    replicas: list[Service], service_env: dict[str, str], events: list[tuple[str, bytes]]
) -> list[list[Message]]:
    async with aiohttp.ClientSession() as session:
        streams = []
        for replica in replicas:
            response = await session.get(f"{replica.base}/api/executions/{EXECUTION}/stream")
            assert response.status == 200 and response.content_type == "text/event-stream"
            streams.append(EventStream(response))
        seen: dict[int, list[Message]] = defaultdict(list)
        for i, stream in enumerate(streams):
            first = await stream.next()
            assert first is not None
            seen[i].append(first)
        for event in events:
            await publish(service_env, [event])
        for i, stream in enumerate(streams):
            seen[i] += await stream.until("end", timeout=30)
            assert await stream.next() is None  # and closed
        return [seen[i] for i in range(len(streams))]
