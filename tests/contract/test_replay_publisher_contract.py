"""ONE suite for the ReplayPublisher port, run on the in-memory fake and on NATS JetStream (a
stream capturing the events' subjects, as the service's own is)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
import nats
import pytest
from nats.js.api import StreamConfig

from execution_service.adapters.memory import MemoryRetryPublisher
from execution_service.adapters.nats import NatsRetryPublisher
from execution_service.adapters.nats.stream import DUPLICATE_WINDOW_SECONDS
from execution_service.domain import PublishFailed, RawMessage, ReplayPublisher
from support.nats import isolated_nats, nats_url

# (subject as the event contract names it, payload, headers), in arrival order
Received = list[tuple[str, bytes, dict[str, str]]]


@attrs.frozen
class Broker:
    publisher: ReplayPublisher
    received: Callable[[], Awaitable[Received]]
    go_down: Callable[[], Awaitable[None]]


@pytest.fixture(params=["memory", "nats"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        fake = MemoryRetryPublisher()

        async def fake_received() -> Received:
            return [(m.subject, m.data, dict(m.headers)) for m in fake.replayed.values()]

        async def fake_down() -> None:
            fake.available = False

        yield Broker(fake, fake_received, fake_down)
        return
    async with isolated_nats() as env:
        js = env.nc.jetstream()
        await js.add_stream(
            StreamConfig(
                name=env.settings.stream,
                subjects=[env.subjects.events],
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        )
        publisher_nc = await nats.connect(nats_url())

        async def nats_received() -> Received:
            state = (await js.stream_info(env.settings.stream)).state
            found = []
            for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                stored = await js.get_msg(env.settings.stream, seq)
                subject = env.subjects.local(str(stored.subject))
                found.append((subject, stored.data or b"", dict(stored.headers or {})))
            return found

        async def nats_down() -> None:
            await publisher_nc.close()

        try:
            yield Broker(NatsRetryPublisher(publisher_nc, env.subjects), nats_received, nats_down)
        finally:
            await publisher_nc.close()


POISON = RawMessage("execution.started", b"\xff{not json", {"Trace": "t1", "Nats-Msg-Id": "m1"})


async def test_a_replay_goes_back_as_received_under_its_message_id(broker: Broker) -> None:
    await broker.publisher.publish_replay(POISON, "replay:k:1")
    headers = {"Trace": "t1", "Nats-Msg-Id": "replay:k:1"}
    assert await broker.received() == [("execution.started", b"\xff{not json", headers)]


async def test_the_same_message_id_goes_out_once(broker: Broker) -> None:
    for message_id in ["replay:k:1", "replay:k:1", "replay:k:2"]:
        await broker.publisher.publish_replay(POISON, message_id)
    received = await broker.received()
    assert [headers["Nats-Msg-Id"] for _, _, headers in received] == ["replay:k:1", "replay:k:2"]


async def test_a_replay_that_cannot_go_out_raises_publish_failed(broker: Broker) -> None:
    await broker.go_down()
    with pytest.raises(PublishFailed):
        await broker.publisher.publish_replay(POISON, "replay:k:1")
    assert await broker.received() == []
