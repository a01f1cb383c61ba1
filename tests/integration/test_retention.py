"""Retention on PostgreSQL where it meets concurrency: a pass against a batch recording the
same execution (two connections, each side first), two passes at once, a late event through
the consumer, and `execution-service prune`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import nats as nats_py
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from execution_service.adapters.nats import EventConsumer
from execution_service.adapters.postgres import (
    Database,
    PostgresPruner,
    PostgresUrl,
    create_database,
)
from execution_service.adapters.postgres.pruner import PASS_LOCK, _delete_executions
from execution_service.adapters.prometheus import PrometheusBatchObserver
from execution_service.app import Container, Settings, create_app, with_runtime
from execution_service.app.cli import main
from execution_service.domain import Cutoffs, Outcome, Page, Pruned, parse_message, record_events
from support.events import T0, Workflow
from support.nats import isolated_nats, nats_url, settled, wait_until
from support.postgres import BothSides, reset

DAY_MS = 24 * 3600 * 1000
LONG_AGO = Cutoffs(executions_finished_before=T0 + timedelta(days=1))


def finished(execution: str, start_ms: int = 0) -> Workflow:
    return Workflow(execution, start_ms).started(0).node("a", 1, 2).ended(3)


async def someone_waits_on_a_lock(conn: asyncpg.Connection) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE wait_event_type = 'Lock' AND datname = current_database()"""
        )
    )


async def rows_of(conn: asyncpg.Connection, execution: str) -> dict[str, int]:
    counts = {}
    for table, key in [("executions", "id"), ("execution_logs", "execution_id"),
                       ("execution_events", "execution_id")]:  # fmt: skip
        query = f"SELECT count(*) FROM {table} WHERE {key} = $1"
        counts[table] = await conn.fetchval(query, execution)
    return counts


async def test_a_batch_arriving_during_a_pass_waits_then_ignores_the_pruned_execution(
    database: Database, database_url: PostgresUrl
) -> None:
    store = BothSides(database)
    await record_events(store, finished("gone").messages)
    late = Workflow("gone", 10).node("late", 1, 2).messages
    deleting = await asyncpg.connect(**database_url.connect_kwargs())
    watching = await asyncpg.connect(**database_url.connect_kwargs())
    try:
        batch = deleting.transaction()
        await batch.start()
        cutoff = LONG_AGO.executions_finished_before
        assert cutoff is not None
        assert (await _delete_executions(deleting, ["gone"], cutoff)).executions == 1
        recording = asyncio.create_task(record_events(store, late))
        await wait_until(lambda: someone_waits_on_a_lock(watching), what="the batch to wait")
        assert not recording.done()
        await batch.commit()
        report = await recording
        assert report.outcomes == [Outcome.IGNORED, Outcome.IGNORED]
        assert await rows_of(watching, "gone") == {
            "executions": 0, "execution_logs": 0, "execution_events": 0,
        }  # fmt: skip
        assert await store.execution("gone") is None
        assert (await store.executions(Page())).total == 0
    finally:
        await deleting.close()
        await watching.close()


async def test_a_pass_skips_an_execution_a_batch_is_recording_and_takes_it_next_time(
    database: Database, database_url: PostgresUrl
) -> None:
    store = BothSides(database)
    await record_events(store, finished("busy").messages + finished("idle").messages)
    recording = await asyncpg.connect(**database_url.connect_kwargs())
    try:
        batch = recording.transaction()
        await batch.start()
        # what the recorder's state statement does for a batch holding an event of "busy"
        pruned = "SELECT pruned FROM executions_pruned($1::text[], -1)"
        assert await recording.fetchval(pruned, ["busy"]) == []
        pruner = PostgresPruner(database)
        first = await asyncio.wait_for(pruner.prune(LONG_AGO), timeout=10)
        assert first == Pruned(executions=1, node_runs=1, events=4)
        assert await store.execution("busy") is not None
        assert await store.execution("idle") is None
        await batch.commit()
        assert (await pruner.prune(LONG_AGO) or Pruned()).executions == 1
        assert await store.execution("busy") is None
    finally:
        await recording.close()


async def test_while_one_pass_runs_another_does_nothing(
    database: Database, database_url: PostgresUrl
) -> None:
    store = BothSides(database)
    for e in range(30):
        await record_events(store, finished(f"e{e}", e).messages)
    other_replica = await asyncpg.connect(**database_url.connect_kwargs())
    try:
        assert await other_replica.fetchval("SELECT pg_try_advisory_lock($1)", PASS_LOCK)
        assert await PostgresPruner(database).prune(LONG_AGO) is None
        assert (await store.executions(Page())).total == 30
        await other_replica.execute("SELECT pg_advisory_unlock($1)", PASS_LOCK)
        # two at once: whichever runs, every execution goes exactly once
        passes = await asyncio.gather(
            PostgresPruner(database, max_rows=20).prune(LONG_AGO),
            PostgresPruner(database, max_rows=20).prune(LONG_AGO),
        )
        assert sum(p.executions for p in passes if p is not None) == 30
        assert (await store.executions(Page())).total == 0
    finally:
        await other_replica.close()


async def test_a_late_event_through_the_consumer_is_counted_as_ignored(database: Database) -> None:
    store = BothSides(database)
    old = finished("gone").messages
    late = Workflow("gone", 10).node_started("late", 1).messages
    registry = CollectorRegistry()
    async with isolated_nats(batch_size=10) as env:
        consumer = EventConsumer(
            env.nc, store, env.subjects, env.settings, PrometheusBatchObserver(registry)
        )
        await consumer.start()
        js = env.nc.jetstream()
        for m in old:
            await js.publish(env.subjects.prefix + m.subject, m.data)
        task = asyncio.create_task(consumer.run())
        await wait_until(lambda: consumer.stats.applied == len(old), what="the old events")
        assert await PostgresPruner(database).prune(LONG_AGO) == Pruned(1, 1, 4)
        await js.publish(env.subjects.prefix + late[0].subject, late[0].data)
        await wait_until(lambda: consumer.stats.ignored == 1, what="the late event")
        await settled(env, consumer.stream)
        consumer.stop()
        await task
    assert consumer.stats.applied == len(old)
    assert await store.execution("gone") is None
    ignored = registry.get_sample_value(
        "execution_service_events_total",
        {"outcome": "ignored", "subject": "execution.node.started"},
    )
    assert ignored == 1


def test_the_prune_command_prints_per_table_and_a_dry_run_deletes_nothing(
    database_url: PostgresUrl, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    long_ago = int((datetime(2020, 1, 1, tzinfo=UTC) - T0) / timedelta(milliseconds=1))
    now = int((datetime.now(UTC) - T0) / timedelta(milliseconds=1))

    async def record() -> None:
        database = create_database(database_url)
        await database.connect()
        await reset(database)
        events = finished("old", long_ago).messages + finished("new", now).messages
        await BothSides(database).record([parse_message(m) for m in events], [])  # type: ignore[misc]
        await database.disconnect()

    asyncio.run(record())
    monkeypatch.setenv("DATABASE_URL", database_url.url())
    monkeypatch.setenv("NATS_URL", nats_url())
    monkeypatch.setenv("EXECUTION_RETENTION", "30d")
    assert main(["prune", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert main(["prune"]) == 0
    done = capsys.readouterr().out
    assert main(["prune"]) == 0
    again = capsys.readouterr().out

    def table(out: str) -> dict[str, int]:
        return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()}

    expected = {"executions": 1, "execution_logs": 1, "execution_events": 4, "retry_requests": 0,
                "dead_letters": 0, "execution_tombstones": 0, "waiting_traces": 0}  # fmt: skip
    assert table(dry) == table(done) == expected
    assert "would delete" in dry and "would delete" not in done
    assert table(again) == dict.fromkeys(expected, 0)
    monkeypatch.setenv(
        "NATS_URL", "nats://127.0.0.1:9"
    )  # nothing listens: tombstones by the setting
    assert main(["prune", "--dry-run"]) == 0
    assert table(capsys.readouterr().out) == dict.fromkeys(expected, 0)


async def test_the_serving_process_prunes_when_retention_is_set_and_stops_cleanly(
    database: Database, database_url: PostgresUrl
) -> None:
    store = BothSides(database)
    await record_events(store, finished("old").messages)  # finished on T0's day, long ago
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        database_url=database_url,
        nats_urls=(nats_url(),),
        nats_stream=f"P{tag}",
        nats_consumer=f"p{tag}",
        nats_subject_prefix=f"p{tag}.",
        execution_retention=timedelta(days=1),
        prune_interval=timedelta(seconds=0.1),
    )
    container = Container(settings=settings)
    app = with_runtime(create_app(container), container)
    try:
        async with TestClient(TestServer(app)) as client:

            async def pruned() -> bool:
                return (await client.get("/api/executions/old")).status == 404

            await wait_until(pruned, timeout=15, what="the pass to prune it")
    finally:
        nc = await nats_py.connect(nats_url())
        await nc.jetstream().delete_stream(settings.nats_stream)
        await nc.close()


async def test_a_writer_forgets_what_it_knew_once_tombstones_are_deleted(
    database: Database,
) -> None:
    """A recorder that wrote an execution knows it is stored and does not write it again for a
    node report. If the execution is pruned and its tombstone deleted, with no event for it in
    between, a late node report brings it back whole, not as a node run of nothing."""
    store = BothSides(database)
    await record_events(store, finished("gone").messages)
    pruner = PostgresPruner(database)
    assert (await pruner.prune(LONG_AGO) or Pruned()).executions == 1
    everything = Cutoffs(tombstones_before=datetime.now(UTC) + timedelta(days=1))
    assert await pruner.prune(everything) == Pruned(tombstones=1)
    late = Workflow("gone", 10).node("late", 1, 2).messages
    assert (await record_events(store, late)).outcomes == [Outcome.APPLIED] * 2
    again = await store.execution("gone")
    assert again is not None and (again.status.value, again.nodes.total) == ("RUNNING", 1)
