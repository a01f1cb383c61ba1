"""JetStream's pull protocol spoken on the core client, against a real server."""

from __future__ import annotations

import asyncio

from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from execution_service.adapters.nats.pull import Delivery, PullConsumer
from support.nats import Isolated, isolated_nats, wait_until


async def _stream_with(env: Isolated, count: int, ack_wait: float = 30.0) -> None:
    js = env.nc.jetstream()
    name, durable = env.settings.stream, env.settings.durable
    await js.add_stream(StreamConfig(name=name, subjects=[env.subjects.events]))
    for n in range(count):
        await js.publish_async(f"{env.subjects.prefix}execution.started", str(n).encode())
    await js.publish_async_completed()
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait)
    await js.add_consumer(name, config)


async def _pending(env: Isolated) -> tuple[int, int]:
    info = await env.nc.jetstream().consumer_info(env.settings.stream, env.settings.durable)
    return info.num_pending, info.num_ack_pending


def Consumer(env: Isolated) -> PullConsumer:  # noqa: N802 - reads like the class
    return PullConsumer(env.nc, env.settings.stream, env.settings.durable)


def test_delivery_reads_both_forms_of_the_reply_subject() -> None:
    assert Delivery.of("$JS.ACK.S.c.2.17.9.1700000000000000000.4") == Delivery("S", 17, 2)
    assert Delivery.of("$JS.ACK.dom.acchash.S.c.3.18.9.1700000000000000000.4.tok") == Delivery(
        "S", 18, 3
    )


async def test_batches_bring_every_message_once_in_order_and_acks_settle_them() -> None:
    async with isolated_nats() as env:
        await _stream_with(env, 1234)
        pull = Consumer(env)
        await pull.start()
        seen: list[int] = []
        while len(seen) < 1234:
            batch = await pull.fetch(500, timeout=1.0)
            assert 0 < len(batch) <= 500
            seen += [int(m.data) for m in batch]
            for m in batch:
                assert Delivery.of(m.reply).delivered == 1
                await pull.ack(m)
        assert seen == list(range(1234))
        await wait_until(lambda: _settled(env), what="acks")
        assert await pull.fetch(500, timeout=0.3) == []
        await pull.stop()


async def _settled(env: Isolated) -> bool:
    return await _pending(env) == (0, 0)


async def test_a_message_published_while_waiting_comes_without_waiting_for_the_timeout() -> None:
    async with isolated_nats() as env:
        await _stream_with(env, 0)
        pull = Consumer(env)
        await pull.start()
        fetch = asyncio.create_task(pull.fetch(500, timeout=5.0))
        await asyncio.sleep(0.3)  # the request is waiting on the server
        await env.nc.jetstream().publish(f"{env.subjects.prefix}execution.started", b"late")
        batch = await asyncio.wait_for(fetch, 2.0)
        assert [m.data for m in batch] == [b"late"]
        await pull.ack(batch[0])
        await pull.stop()


async def test_nak_with_delay_brings_the_message_back_redelivered() -> None:
    async with isolated_nats() as env:
        await _stream_with(env, 1)
        pull = Consumer(env)
        await pull.start()
        [first] = await pull.fetch(10, timeout=1.0)
        await pull.nak(first, delay=0.2)
        again: list = []
        while not again:
            again = await pull.fetch(10, timeout=1.0)
        assert again[0].data == first.data and Delivery.of(again[0].reply).delivered == 2
        await pull.ack(again[0])
        await pull.stop()


async def test_an_unacknowledged_message_is_redelivered_after_ack_wait() -> None:
    async with isolated_nats() as env:
        await _stream_with(env, 1, ack_wait=0.5)
        pull = Consumer(env)
        await pull.start()
        [first] = await pull.fetch(10, timeout=1.0)
        again = await pull.fetch(10, timeout=3.0)
        assert [Delivery.of(m.reply).delivered for m in again] == [2]
        await pull.ack(again[0])
        await pull.stop()


async def test_two_consumers_on_one_durable_share_the_messages_without_overlap() -> None:
    async with isolated_nats() as env:
        await _stream_with(env, 2000)
        pulls = [Consumer(env), Consumer(env)]
        for pull in pulls:
            await pull.start()

        async def drain(pull: PullConsumer) -> list[int]:
            got: list[int] = []
            while batch := await pull.fetch(100, timeout=0.5):
                got += [int(m.data) for m in batch]
                for m in batch:
                    await pull.ack(m)
            return got

        one, two = await asyncio.gather(*(drain(p) for p in pulls))
        assert sorted(one + two) == list(range(2000))
        assert one and two
        for pull in pulls:
            await pull.stop()
