"""ONE suite for the RetryPublisher port, run on the in-memory fake and on NATS JetStream (a
stream capturing the retry subject, as the platform's is)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import nats
import pytest
from nats.js.api import StreamConfig

from execution_service.adapters.memory import MemoryRetryPublisher
from execution_service.adapters.nats import NatsRetryPublisher
from execution_service.adapters.nats.stream import DUPLICATE_WINDOW_SECONDS
from execution_service.domain import PublishFailed, RetryPublisher, RetryRequest
from support.events import at
from support.nats import isolated_nats, nats_url

Received = list[tuple[str, dict[str, Any]]]  # (message id, envelope), in arrival order


@attrs.frozen
class Broker:
    publisher: RetryPublisher
    received: Callable[[], Awaitable[Received]]
    go_down: Callable[[], Awaitable[None]]


@pytest.fixture(params=["memory", "nats"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        fake = MemoryRetryPublisher()

        async def fake_received() -> Received:
            return list(fake.published.items())

        async def fake_down() -> None:
            fake.available = False

        yield Broker(fake, fake_received, fake_down)
        return
    async with isolated_nats() as env:
        js = env.nc.jetstream()
        subject = env.subjects.retry_requested
        await js.add_stream(
            StreamConfig(
                name=env.settings.stream,
                subjects=[subject],
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        )
        # Its own connection, so that taking the publisher's down leaves the observer's up.
        publisher_nc = await nats.connect(nats_url())

        async def nats_received() -> Received:
            state = (await js.stream_info(env.settings.stream)).state
            found = []
            # An empty stream reads first_seq 0 (a sequence get_msg refuses), last_seq 0.
            for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                stored = await js.get_msg(env.settings.stream, seq)
                assert stored.subject == subject
                headers = stored.headers or {}
                found.append((headers["Nats-Msg-Id"], json.loads(stored.data or b"")))
            return found

        async def nats_down() -> None:
            await publisher_nc.close()

        try:
            yield Broker(NatsRetryPublisher(publisher_nc, env.subjects), nats_received, nats_down)
        finally:
            await publisher_nc.close()


def request(execution: str = "e1", attempt: int = 2) -> RetryRequest:
    return RetryRequest(execution, attempt, "b", "wf", "u", at(1234))


async def test_a_published_request_goes_out_once_as_its_envelope(broker: Broker) -> None:
    """The envelope's format is the domain's (RetryRequest.envelope); the port carries it whole,
    under the message id the broker de-duplicates on."""
    await broker.publisher.publish_retry(request())
    assert await broker.received() == [("retry:e1:2", request().envelope())]


async def test_publishing_the_same_attempt_again_goes_out_once(broker: Broker) -> None:
    """A retry whose answer was lost is asked again: the orchestrator must not resume twice."""
    await broker.publisher.publish_retry(request())
    await broker.publisher.publish_retry(attrs.evolve(request(), requested_at=at(9999)))
    await broker.publisher.publish_retry(request(attempt=3))
    received = await broker.received()
    assert [message_id for message_id, _ in received] == ["retry:e1:2", "retry:e1:3"]
    assert received[0][1] == request().envelope()


async def test_a_request_that_cannot_go_out_raises_publish_failed(broker: Broker) -> None:
    await broker.go_down()
    with pytest.raises(PublishFailed):
        await broker.publisher.publish_retry(request())
    assert await broker.received() == []
