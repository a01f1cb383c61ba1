"""Dead-letter replay end to end, through real NATS JetStream and PostgreSQL: a poison message
is dead-lettered, replayed (twice, as a double click) and dead-lettered again under the same
key with its count raised; replayed again once it has failed again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from execution_service.adapters.memory import FixedClock
from execution_service.adapters.nats import EventConsumer, NatsRetryPublisher
from execution_service.adapters.postgres import Database, create_database
from execution_service.domain import DeadLetter, Page, replay_dead_letter
from support.nats import isolated_nats, settled, wait_until
from support.postgres import BothSides, fresh_database


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    with fresh_database() as url:
        db = create_database(url)
        await db.connect()
        try:
            yield db
        finally:
            await db.disconnect()


async def test_a_replayed_letter_that_fails_again_comes_back_counted(database: Database) -> None:
    store = BothSides(database)
    clock = FixedClock()
    async with isolated_nats() as env:
        consumer = EventConsumer(env.nc, store, env.subjects, env.settings)
        await consumer.start()
        task = asyncio.create_task(consumer.run())
        js = env.nc.jetstream()
        # no eventId (not JSON) and no Nats-Msg-Id: its key is the stream's sequence, which a
        # replay would change were the key not carried along
        await js.publish(env.subjects.started, b"{not json", headers={"Trace": "t1"})
        letters: list[DeadLetter] = []

        async def letter_counted(count: int) -> bool:
            letters[:] = (await store.dead_letters(Page(1, 10))).items
            return len(letters) == 1 and letters[0].count == count

        await wait_until(lambda: letter_counted(1), what="the poison to be dead-lettered")
        key = letters[0].key
        publisher = NatsRetryPublisher(env.nc, env.subjects)

        async def replay_twice() -> None:
            await asyncio.gather(
                *(replay_dead_letter(store, store, publisher, clock, key) for _ in range(2))
            )

        await replay_twice()
        await wait_until(lambda: letter_counted(2), what="the replay to fail again")
        await settled(env, consumer.stream)
        again = letters[0]
        assert again.key == key  # the same event to de-duplication: one letter, counted up
        assert (again.replays, again.replayed_at) == (1, None)  # cleared: it failed again
        assert again.payload == b"{not json"
        assert again.headers["Trace"] == "t1"

        await replay_twice()
        await wait_until(lambda: letter_counted(3), what="the second replay to fail again")
        await settled(env, consumer.stream)
        assert letters[0].replays == 2
        # the original and one replay per failure: each double click went out once
        state = (await js.stream_info(str(consumer.stream))).state
        assert state.messages == 3
        consumer.stop()
        await task
