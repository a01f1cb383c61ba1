"""The PostgreSQL change feed with the real store and schema: the writer's transaction (and a
rebuild's) notifies (adapters/postgres/upserts.py, event_log.py), on commit only, in payloads
under pg_notify's 8000 bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from execution_service.adapters.postgres import (
    PostgresChanges,
    PostgresEventLog,
    PostgresUrl,
    create_database,
    recorder,
)
from execution_service.domain import (
    DeadLetter,
    RawMessage,
    derive,
    parse_message,
    rebuild,
    record_events,
)
from execution_service.domain.changes import ChangeSubscription
from support.events import history, message
from support.postgres import BothSides, fresh_database


def reports(*execution_ids: str) -> list[RawMessage]:
    return [
        message("execution.node.started", {"executionId": x, "nodeId": "n"}) for x in execution_ids
    ]


@pytest.fixture(scope="module")
def url() -> Iterator[PostgresUrl]:
    with fresh_database() as fresh:
        yield fresh


async def _store(url: PostgresUrl) -> AsyncIterator[BothSides]:
    database = create_database(url)
    await database.connect()
    try:
        yield BothSides(database)
    finally:
        await database.disconnect()


@pytest.fixture
async def store(url: PostgresUrl) -> AsyncIterator[BothSides]:
    async for made in _store(url):
        yield made


@pytest.fixture
async def changes(url: PostgresUrl) -> AsyncIterator[PostgresChanges]:
    feed = PostgresChanges(url, probe_every=0.2, max_backoff=0.2)
    await feed.start()
    yield feed
    await feed.stop()


async def _heard(subscription: ChangeSubscription, timeout: float = 0.5) -> set[str]:
    """Everything heard until nothing more comes for `timeout` seconds."""
    heard: set[str] = set()
    while True:
        try:
            taken = await asyncio.wait_for(subscription.take(), timeout)
        except TimeoutError:
            return heard
        assert not taken.gap
        heard |= taken.execution_ids


async def test_a_recorded_batch_notifies_its_executions_once_committed(
    url: PostgresUrl, changes: PostgresChanges
) -> None:
    database = create_database(url)
    await database.connect()
    try:
        store = BothSides(database)
        with changes.subscribe() as subscription:
            await record_events(store, history(executions=3, nodes=2))
            assert await _heard(subscription) == {"e0", "e1", "e2"}
            # a node report alone leaves its execution's row alone: its node run notifies
            late = message("execution.node.started", {"executionId": "e1", "nodeId": "n9"}, ms=1)
            await record_events(store, [late])
            assert await _heard(subscription) == {"e1"}
            done = message("execution.node.completed", {"executionId": "e1", "nodeId": "n9"}, ms=2)
            await record_events(store, [done])  # an update of that node run only
            assert await _heard(subscription) == {"e1"}
    finally:
        await database.disconnect()


async def test_a_rolled_back_write_notifies_nothing(
    store: BothSides, changes: PostgresChanges, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(*_: object) -> None:
        raise RuntimeError("the batch fails after its writes")

    letter = DeadLetter("bad", "execution.started", b"{", {}, "not JSON")
    with changes.subscribe() as subscription:
        with monkeypatch.context() as patched:
            patched.setattr(recorder, "_record_dead_letters", fail)
            with pytest.raises(RuntimeError):
                await store.record([parse_message(m) for m in reports("rb")], [letter])  # type: ignore[misc]
        await record_events(store, reports("ok"))
        assert await _heard(subscription) == {"ok"}
    assert await store.execution("rb") is None


async def test_thousands_of_long_ids_in_one_batch_all_arrive(
    store: BothSides, changes: PostgresChanges
) -> None:
    ids = {f"{i:05d}-" + 'é"\\' * 83 for i in range(3000)}  # 255 characters, escaped in JSON
    with changes.subscribe(limit=len(ids)) as subscription:
        await record_events(store, reports(*sorted(ids)))
        assert await _heard(subscription, timeout=2) == ids


async def test_the_listener_comes_back_after_its_connection_is_killed(
    url: PostgresUrl, changes: PostgresChanges
) -> None:
    connection = await asyncpg.connect(url.url(), **url.connect_kwargs())
    try:
        with changes.subscribe() as subscription:
            killed = await connection.fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()"""
            )
            assert killed == 1
            assert (await asyncio.wait_for(subscription.take(), 10)).gap
            assert changes.listening
            async for store in _store(url):
                await record_events(store, reports("back"))
            assert await _heard(subscription) == {"back"}
    finally:
        await connection.close()


async def test_a_rebuild_notifies_the_executions_it_changed_and_no_other(
    url: PostgresUrl, changes: PostgresChanges
) -> None:
    database = create_database(url)
    await database.connect()
    try:
        await record_events(BothSides(database), history(executions=4, nodes=2))
        await database.execute(
            "UPDATE execution_logs SET error = 'made up' WHERE execution_id IN ('e1', 'e3')"
        )
        with changes.subscribe() as subscription:
            await _heard(subscription)  # the damage's own notices, if any
            await rebuild(PostgresEventLog(database), derive)
            assert await _heard(subscription) == {"e1", "e3"}
    finally:
        await database.disconnect()
