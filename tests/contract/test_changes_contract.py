"""The change feed port (domain/changes.py), on the memory fake and on PostgreSQL LISTEN:
committed changes reach the subscribers of this process, and a lost source is a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import attrs
import pytest

from execution_service.adapters.memory import MemoryChanges
from execution_service.adapters.postgres import (
    PostgresChanges,
    PostgresRecorder,
    PostgresUrl,
    create_database,
)
from execution_service.domain import ChangeSubscription, ExecutionChanges, record_events
from support.events import message


@attrs.frozen
class Feed:
    changes: ExecutionChanges
    commit: Callable[[set[str]], Awaitable[None]]  # a committed write of these executions
    lose: Callable[[], Awaitable[None]]  # the feed's source goes away and comes back


async def _memory() -> AsyncIterator[Feed]:
    changes = MemoryChanges()

    async def commit(ids: set[str]) -> None:
        changes.committed(ids)

    async def lose() -> None:
        changes.lose()

    yield Feed(changes, commit, lose)


async def _postgres(url: PostgresUrl) -> AsyncIterator[Feed]:
    changes = PostgresChanges(url, probe_every=0.2, max_backoff=0.2)
    await changes.start()
    writer = await asyncpg.connect(url.url(), **url.connect_kwargs())
    database = create_database(url)
    await database.connect()
    recorder = PostgresRecorder(database)

    async def commit(ids: set[str]) -> None:
        """The service's own writer: a node report of each execution, in one batch."""
        reports = [
            message("execution.node.started", {"executionId": i, "nodeId": "n"}) for i in ids
        ]
        await record_events(recorder, reports)

    async def lose() -> None:
        await writer.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()"""
        )

    try:
        yield Feed(changes, commit, lose)
    finally:
        await database.disconnect()
        await writer.close()
        await changes.stop()


@pytest.fixture(params=["memory", "postgres"])
async def feed(request: pytest.FixtureRequest) -> AsyncIterator[Feed]:
    if request.param == "memory":
        async for memory in _memory():
            yield memory
    else:
        async for postgres in _postgres(request.getfixturevalue("database_url")):
            yield postgres


async def _ids_until(subscription: ChangeSubscription, last: str) -> set[str]:
    seen: set[str] = set()
    while last not in seen:
        taken = await asyncio.wait_for(subscription.take(), 10)
        assert not taken.gap
        seen |= taken.execution_ids
    return seen


async def test_committed_changes_reach_every_subscriber(feed: Feed) -> None:
    with feed.changes.subscribe() as one, feed.changes.subscribe() as other:
        await feed.commit({"a", "b"})
        await feed.commit({"a"})
        await feed.commit({"c"})
        assert await _ids_until(one, "c") == {"a", "b", "c"}
        assert await _ids_until(other, "c") == {"a", "b", "c"}


async def test_a_subscriber_of_one_execution_hears_of_it_only(feed: Feed) -> None:
    with feed.changes.subscribe("b") as only_b, feed.changes.subscribe() as everything:
        await feed.commit({"a"})
        await feed.commit({"b", "c"})
        await feed.commit({"z"})
        assert await _ids_until(everything, "z") == {"a", "b", "c", "z"}
        assert (await asyncio.wait_for(only_b.take(), 10)).execution_ids == {"b"}
        assert not only_b.pending()


async def test_a_subscriber_past_its_limit_gets_a_gap(feed: Feed) -> None:
    with feed.changes.subscribe(limit=2) as slow, feed.changes.subscribe() as marker:
        await feed.commit({"a", "b", "c"})
        await _ids_until(marker, "c")
        assert (await asyncio.wait_for(slow.take(), 10)).gap


async def test_a_lost_source_is_a_gap_for_all_then_changes_flow_again(feed: Feed) -> None:
    with feed.changes.subscribe() as everything, feed.changes.subscribe("a") as only_a:
        await feed.lose()
        assert (await asyncio.wait_for(everything.take(), 10)).gap
        assert (await asyncio.wait_for(only_a.take(), 10)).gap
        await feed.commit({"a"})
        assert await _ids_until(everything, "a") == {"a"}


async def test_a_closed_subscription_hears_nothing_more(feed: Feed) -> None:
    with feed.changes.subscribe() as marker:
        gone = feed.changes.subscribe()
        gone.close()
        await feed.commit({"a"})
        await _ids_until(marker, "a")
        assert not gone.pending()
