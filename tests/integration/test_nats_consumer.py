"""The consumer through real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import nats
import pytest

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.adapters.nats import (
    ConsumerSettings,
    EmbeddedNats,
    EventConsumer,
    NatsRetryPublisher,
    Subjects,
)
from execution_service.adapters.nats.pull import PullConsumer
from execution_service.adapters.postgres import (
    Database,
    PostgresUrl,
    apply_migrations,
    create_database,
)
from execution_service.domain import (
    DeadLetter,
    Event,
    ExecutionRecorder,
    Page,
    RawMessage,
    Recorded,
    RetryRequest,
    parse_message,
    record_events,
)
from support.crash import CrashablePostgres
from support.events import at, history, message
from support.nats import Isolated, isolated_nats, settled, wait_until
from support.postgres import BothSides
from support.snapshots import snapshot


async def publish(env: Isolated, messages: Sequence[RawMessage]) -> None:
    js = env.nc.jetstream()
    for m in messages:
        await js.publish(env.subjects.prefix + m.subject, m.data, headers=dict(m.headers) or None)


async def expected(messages: Sequence[RawMessage]) -> list[object]:
    reference = MemoryStore(FixedClock())
    await record_events(reference, messages)
    return await snapshot(reference)


async def count(database: Database, table: str) -> int:
    return int(await database.fetch_val(f"SELECT count(*) FROM {table}"))


async def test_random_order_with_duplicates_ends_in_the_in_order_state(database: Database) -> None:
    events = history(executions=15, nodes=5)
    delivered = events + random.Random(3).sample(events, 40)
    random.Random(4).shuffle(delivered)
    store = BothSides(database)
    async with isolated_nats(batch_size=50) as env:
        consumer = EventConsumer(env.nc, store, env.subjects, env.settings)
        await consumer.start()
        await publish(env, delivered)
        task = asyncio.create_task(consumer.run())
        await wait_until(
            lambda: consumer.stats.applied + consumer.stats.duplicates == len(delivered)
        )
        deliveries = await settled(env, consumer.stream)
        consumer.stop()
        await task
    assert deliveries == len(delivered)  # each delivered once: no redelivery
    assert consumer.stats.applied == len(events)
    assert await snapshot(store) == await expected(events)


def envelope(data: object, timestamp: str = "2026-01-01T00:00:00Z") -> bytes:
    return json.dumps({"timestamp": timestamp, "data": data}).encode()


POISON = [
    ("execution.started", b"not json", "not JSON"),
    ("execution.started", b"[1, 2]", "not a JSON object but an array"),
    ("execution.node.started", envelope({"nodeId": "n"}), "missing required field"),
    ("execution.completed", envelope({"executionId": 5}), "data.executionId must be a string"),
    ("execution.failed", envelope({"executionId": "e1"}, "soon"), "timestamp is not an ISO"),
    ("execution.started", envelope({"executionId": "e", "input": "x" * 600_000}), "more than"),
]  # fmt: skip


async def test_poison_is_dead_lettered_and_good_events_all_apply(database: Database) -> None:
    good = history(executions=4, nodes=3)
    ignored = message("execution.retry.requested", {"executionId": "e1"})
    poison = [RawMessage(subject, data) for subject, data, _ in POISON]
    delivered = good + poison + [ignored]
    random.Random(5).shuffle(delivered)
    store = BothSides(database)
    async with isolated_nats(batch_size=10) as env:
        dlq = await env.nc.subscribe(env.subjects.dead_letter(">"))
        consumer = EventConsumer(env.nc, store, env.subjects, env.settings)
        await consumer.start()
        await publish(env, delivered)
        task = asyncio.create_task(consumer.run())
        await wait_until(
            lambda: consumer.stats.applied + consumer.stats.rejected + consumer.stats.ignored
            == len(delivered)
        )
        deliveries = await settled(env, consumer.stream)
        forwarded = [await dlq.next_msg(timeout=5) for _ in POISON]
        consumer.stop()
        await task
    assert (consumer.stats.applied, consumer.stats.rejected, consumer.stats.ignored) == (
        len(good),
        len(POISON),
        1,
    )
    assert deliveries == len(delivered)  # each delivered once: no redelivery
    letters = (await store.dead_letters(Page(1, 100))).items
    reasons = sorted(d.reason for d in letters)
    for _, _, reason in POISON:
        assert any(reason in r for r in reasons), (reason, reasons)
    assert {m.subject.split("dlq.", 1)[1] for m in forwarded} == {s for s, _, _ in POISON}
    assert await snapshot(store) == await expected(good)


async def test_text_postgres_cannot_store_is_dead_lettered_at_once_and_its_batch_applies(
    database: Database,
) -> None:
    good = history(executions=3, nodes=2)
    unstorable = [  # CESU-8 surrogate bytes, then a NUL escape, then a lone-surrogate escape
        RawMessage(
            "execution.started",
            envelope({"executionId": "x1", "input": {"q": "?"}}).replace(b"?", b"\xed\xa0\x80"),
        ),
        RawMessage("execution.started", envelope({"executionId": "x2", "input": "\u0000"})),
        RawMessage("execution.node.started", envelope({"executionId": "x3", "nodeId": "\ud800"})),
    ]
    delivered = good[:5] + unstorable + good[5:]
    store = BothSides(database)
    async with isolated_nats(batch_size=len(delivered)) as env:
        consumer = EventConsumer(env.nc, store, env.subjects, env.settings)
        await consumer.start()
        await publish(env, delivered)
        task = asyncio.create_task(consumer.run())
        await wait_until(lambda: consumer.stats.applied + consumer.stats.rejected == len(delivered))
        deliveries = await settled(env, consumer.stream)
        consumer.stop()
        await task
    assert deliveries == len(delivered)  # the first delivery settled each one
    assert consumer.stats.dead_lettered_after_failures == 0
    letters = {d.payload: d for d in (await store.dead_letters(Page(1, 10))).items}
    assert set(letters) == {m.data for m in unstorable}  # the bytes as they came
    assert "not utf-8 text: invalid continuation byte" in letters[unstorable[0].data].reason
    for escaped in unstorable[1:]:
        assert "NUL character or a lone surrogate" in letters[escaped.data].reason
    assert await snapshot(store) == await expected(good)


async def test_a_header_postgres_cannot_store_does_not_stop_its_dead_letter(
    database: Database,
) -> None:
    bad = RawMessage("execution.started", b"not json", {"Nats-Msg-Id": "a\x00b"})
    store = BothSides(database)
    async with isolated_nats() as env:
        consumer = EventConsumer(env.nc, store, env.subjects, env.settings)
        await consumer.start()
        await publish(env, [bad])
        task = asyncio.create_task(consumer.run())
        await wait_until(lambda: consumer.stats.rejected == 1, what="the dead letter")
        deliveries = await settled(env, consumer.stream)
        consumer.stop()
        await task
    assert deliveries == 1
    (letter,) = (await store.dead_letters(Page(1, 10))).items
    assert letter.payload == b"not json" and "not JSON" in letter.reason
    assert letter.headers["Nats-Msg-Id"] == "a\ufffdb"


async def test_an_empty_fetch_is_no_batch_and_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a pull whose expiry the server answers (408) before the client's timeout returns no
    # messages rather than raising: how often depends on timing, so handle it directly
    async with isolated_nats() as env:
        consumer = EventConsumer(env.nc, MemoryStore(FixedClock()), env.subjects, env.settings)
        with caplog.at_level(logging.DEBUG, logger="execution_service"):
            await consumer.handle([])
    assert [r.getMessage() for r in caplog.records] == []
    assert consumer.stats.batches == 0


class Blocking:
    """A store that holds record() until released: a consumer killed between fetch and commit."""

    def __init__(self, inner: ExecutionRecorder) -> None:
        self.inner = inner
        self.entered = asyncio.Event()

    async def record(
        self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]
    ) -> frozenset[str]:
        self.entered.set()
        await asyncio.Event().wait()  # never returns: the task is cancelled here
        raise AssertionError


async def test_a_consumer_killed_between_fetch_and_commit_loses_nothing(database: Database) -> None:
    events = history(executions=6, nodes=3)
    store = BothSides(database)
    async with isolated_nats(batch_size=len(events), ack_wait=1.0) as env:
        blocking = Blocking(store)
        doomed = EventConsumer(env.nc, blocking, env.subjects, env.settings)  # type: ignore[arg-type]
        await doomed.start()
        await publish(env, events)
        task = asyncio.create_task(doomed.run())
        await asyncio.wait_for(blocking.entered.wait(), 10)
        task.cancel()  # the process dies with the batch fetched and not acknowledged
        with pytest.raises(asyncio.CancelledError):
            await task
        restarted = EventConsumer(env.nc, store, env.subjects, env.settings)
        await restarted.start()
        task = asyncio.create_task(restarted.run())
        await wait_until(lambda: restarted.stats.applied == len(events), what="redelivery")
        await settled(env, restarted.stream)  # every ack in: nothing can come again
        restarted.stop()
        await task
    assert restarted.stats.applied == len(events)
    assert await count(database, "execution_events") == len(events)
    assert await snapshot(store) == await expected(events)


async def test_binds_to_the_platforms_events_stream_and_retries_reach_plain_subscribers() -> None:
    store = MemoryStore(FixedClock())
    async with isolated_nats(batch_size=20) as env:
        js = env.nc.jetstream()
        p = env.subjects.prefix
        events_stream = f"EVENTS_{p.strip('.')}"
        await js.add_stream(
            name=events_stream, subjects=[f"{p}execution.*", f"{p}execution.node.*"]
        )
        events = history(executions=3, nodes=2)
        await publish(env, events)
        consumer = EventConsumer(env.nc, store, env.subjects, env.settings)
        await consumer.start()
        assert consumer.stream == events_stream
        names = [s.config.name for s in await js.streams_info()]
        assert env.settings.stream not in names  # none was created beside it
        task = asyncio.create_task(consumer.run())
        await wait_until(lambda: consumer.stats.applied == len(events))
        consumer.stop()
        await task

        plain = await env.nc.subscribe(env.subjects.retry_requested)
        request = RetryRequest("e0", 2, "n1", "wf", None, at(0))
        await NatsRetryPublisher(env.nc, env.subjects).publish_retry(request)
        received = await plain.next_msg(timeout=5)
        assert json.loads(received.data) == request.envelope()
        assert received.headers and received.headers["Nats-Msg-Id"] == "retry:e0:2"


async def test_retry_requests_through_our_stream_are_deduplicated() -> None:
    async with isolated_nats() as env:
        js = env.nc.jetstream()
        consumer = EventConsumer(env.nc, MemoryStore(FixedClock()), env.subjects, env.settings)
        await consumer.start()  # creates our stream, which captures execution.>
        publisher = NatsRetryPublisher(env.nc, env.subjects)
        request = RetryRequest("e0", 2, "n1", None, None, at(0))
        await publisher.publish_retry(request)
        await publisher.publish_retry(request)
        info = await js.stream_info(env.settings.stream)
        assert info.state.messages == 1


async def test_a_store_outage_loses_nothing_and_is_reported() -> None:
    store = MemoryStore(FixedClock())
    events = history(executions=5, nodes=3)
    async with isolated_nats(batch_size=10) as env:
        consumer = EventConsumer(env.nc, store, env.subjects, env.settings)
        await consumer.start()
        task = asyncio.create_task(consumer.run())
        await publish(env, events[:10])
        await wait_until(lambda: consumer.stats.applied == 10)
        store.available = False
        await publish(env, events[10:])
        await wait_until(lambda: not consumer.stats.database_up, what="database reported down")
        failed = consumer.stats.fetches
        await wait_until(lambda: consumer.stats.fetches > failed + 1, what="retries while down")
        store.available = True
        await wait_until(lambda: consumer.stats.applied == len(events), what="catch-up")
        assert consumer.stats.database_up
        consumer.stop()
        await task
    assert await snapshot(store) == await expected(events)


async def test_postgres_connections_killed_mid_stream_lose_nothing(
    database: Database, database_url: PostgresUrl
) -> None:
    events = history(executions=12, nodes=4)
    store = BothSides(database)
    async with isolated_nats(batch_size=7) as env:
        consumer = EventConsumer(env.nc, store, env.subjects, env.settings)
        await consumer.start()
        task = asyncio.create_task(consumer.run())
        for start in range(0, len(events), 15):
            batches = consumer.stats.batches

            def applied_some(before: int = batches) -> bool:
                return consumer.stats.batches > before

            await publish(env, events[start : start + 15])
            await wait_until(applied_some, what="some of them applied")
            admin = create_database(database_url.with_database("postgres"), min_size=1, max_size=1)
            await admin.connect()
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE datname = '{database_url.database}' AND pid <> pg_backend_pid()"
            )
            await admin.disconnect()
        await wait_until(lambda: consumer.stats.applied == len(events), what="all applied")
        consumer.stop()
        await task
    assert await count(database, "execution_events") == len(events)
    assert await snapshot(store) == await expected(events)


@pytest.mark.parametrize("prefix", ["t1", "t1.", " t1.. "])
def test_subjects_are_local_to_the_prefix_given_with_or_without_its_dot(prefix: str) -> None:
    subjects = Subjects(prefix)
    assert subjects.started == "t1.execution.started"
    assert subjects.retry_requested == "t1.execution.retry.requested"
    assert subjects.local("t1.execution.started") == "execution.started"
    assert subjects.dead_letter("execution.started") == "t1.dlq.execution.started"


def test_no_prefix_gives_the_contracts_subjects() -> None:
    assert Subjects("").events == Subjects().events == "execution.>"


class Allergic:
    """A store that fails, for a reason that will not pass, on batches holding one event."""

    def __init__(self, inner: MemoryStore, key: str) -> None:
        self.inner, self.key = inner, key

    async def record(self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]) -> Recorded:
        if any(e.key == self.key for e in events):
            raise ValueError("this one event cannot be stored")
        return await self.inner.record(events, dead_letters)


async def test_an_event_that_always_fails_is_dead_lettered_after_bounded_deliveries() -> None:
    events = history(executions=3, nodes=2)
    poisoned = parse_message(events[4])
    assert isinstance(poisoned, Event)
    inner = MemoryStore(FixedClock())
    async with isolated_nats(batch_size=5, max_deliveries=3, max_backoff=0.2) as env:
        consumer = EventConsumer(env.nc, Allergic(inner, poisoned.key), env.subjects, env.settings)  # type: ignore[arg-type]
        await consumer.start()
        await publish(env, events)
        task = asyncio.create_task(consumer.run())
        await wait_until(lambda: consumer.stats.dead_lettered_after_failures == 1, what="given up")
        await wait_until(lambda: consumer.stats.applied == len(events) - 1, what="the rest")
        consumer.stop()
        await task
    (letter,) = (await inner.dead_letters(Page(1, 10))).items
    assert letter.key == poisoned.key and "failed 3 deliveries" in letter.reason
    assert "cannot be stored" in letter.reason and letter.payload == events[4].data


async def test_a_nats_restart_is_survived_and_consuming_resumes(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats").start()
    store = MemoryStore(FixedClock())
    events = history(executions=4, nodes=2)
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        env = Isolated(nc, Subjects(), ConsumerSettings(batch_size=5))
        consumer = EventConsumer(nc, store, env.subjects, env.settings)
        await consumer.start()
        task = asyncio.create_task(consumer.run())
        await publish(env, events[:8])
        await wait_until(lambda: consumer.stats.applied == 8)
        server.stop()
        await wait_until(lambda: not nc.is_connected, what="the disconnect")
        fetches = consumer.stats.fetches
        await wait_until(lambda: consumer.stats.fetches > fetches + 1, what="fetches meanwhile")
        server = EmbeddedNats(tmp_path / "nats", port=server.port).start()
        await wait_until(lambda: nc.is_connected, what="the reconnect")
        await publish(env, events[8:])
        await wait_until(lambda: consumer.stats.applied == len(events), what="resumed")
        consumer.stop()
        await task
    finally:
        await nc.close()
        server.stop()
    assert await snapshot(store) == await expected(events)


async def test_the_durable_lets_several_replicas_each_hold_their_batches_in_flight() -> None:
    """Three replicas with two batches in flight each hold 3,000 messages unacknowledged at
    once; a durable that allowed fewer would refuse some of them their batch, and they spun."""
    async with isolated_nats(batch_size=500, concurrency=2) as env:
        first = EventConsumer(env.nc, MemoryStore(FixedClock()), env.subjects, env.settings)
        await first.start()  # creates the durable, as the first replica to start does
        js = env.nc.jetstream()
        for n in range(3000):
            await js.publish_async(f"{env.subjects.prefix}execution.paused", str(n).encode())
        await js.publish_async_completed()
        pulls = [PullConsumer(env.nc, env.settings.stream, env.settings.durable) for _ in range(6)]
        for pull in pulls:
            await pull.start()
        batches = [await pull.fetch(500, timeout=1.0) for pull in pulls]
        assert [len(batch) for batch in batches] == [500] * 6
        for pull in pulls:
            await pull.stop()


async def test_postgres_killed_whole_mid_stream_keeps_everything_acknowledged() -> None:
    """PostgreSQL itself dies (SIGKILL to the postmaster and every backend, as in a power
    loss) while events flow. Everything JetStream holds as acknowledged when it died is
    still stored after crash recovery, and once it is back every event applies once."""
    server = CrashablePostgres()
    try:
        url = server.start().with_database("postgres")
        apply_migrations(url)
        database = create_database(url)
        await database.connect()
        events = history(executions=60, nodes=4)
        sent: dict[int, tuple[str, str]] = {}  # stream sequence: the event's identity
        async with isolated_nats(batch_size=20) as env:
            consumer = EventConsumer(env.nc, BothSides(database), env.subjects, env.settings)
            await consumer.start()
            task = asyncio.create_task(consumer.run())
            js = env.nc.jetstream()

            async def publish_steadily() -> None:
                for m in events:
                    ack = await js.publish(env.subjects.prefix + m.subject, m.data)
                    event = parse_message(m)
                    assert isinstance(event, Event)
                    sent[ack.seq] = event.identity
                    await asyncio.sleep(0.005)

            publishing = asyncio.create_task(publish_steadily())
            await wait_until(lambda: consumer.stats.applied >= 150, what="some applied")
            assert server.kill() > 1
            await asyncio.sleep(1)  # the acks of batches committed before the kill land
            info = await js.consumer_info(str(consumer.stream), env.settings.durable)
            floor = info.ack_floor.stream_seq
            acknowledged = {identity for seq, identity in sent.items() if seq <= floor}
            server.start()
            stored = await _stored(url)
            assert 150 <= len(acknowledged) < len(events)
            assert acknowledged <= stored, sorted(acknowledged - stored)[:5]
            await publishing
            await wait_until(lambda: consumer.stats.applied == len(events), timeout=60,
                             what="every event applied once PostgreSQL is back")  # fmt: skip
            consumer.stop()
            await task
        assert len(await _stored(url)) == len(events)
        assert await snapshot(BothSides(database)) == await expected(events)
        await database.disconnect()
    finally:
        server.stop()


async def _stored(url: PostgresUrl) -> set[tuple[str, str]]:
    conn = await asyncpg.connect(**url.connect_kwargs())
    try:
        rows = await conn.fetch("SELECT execution_id, event_key FROM execution_events")
        return {(r["execution_id"], r["event_key"]) for r in rows}
    finally:
        await conn.close()
