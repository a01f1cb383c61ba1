"""ONE suite for ExecutionQueries.logged, on the fake and on PostgreSQL: the events recorded by
a moment, and an execution as it stood then (CONTRACT, `?at=`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from execution_service.domain import (
    NotFound,
    NotSettled,
    Page,
    execution_at,
    get_execution,
    get_node_runs,
    record_events,
)
from support.events import Workflow
from support.stamps import unstamped

from .conftest import Store


async def test_what_was_recorded_by_a_moment_and_the_execution_as_it_stood(store: Store) -> None:
    early = Workflow("x").started(0, workflowId="wf").node_started("a", 5).messages
    late = Workflow("x").node_ended("a", 9).node("b", 10, 11, failed=True).ended(12).messages
    queries = store.queries
    await record_events(store.recorder, early)
    await store.tick()
    between = store.now()
    await store.tick()
    await record_events(store.recorder, late)
    await store.tick()
    after = store.now()
    await store.tick()

    assert await queries.logged("x", between - timedelta(hours=1)) == []
    first = await queries.logged("x", between)
    assert sorted(e.message.data for e in first) == sorted(m.data for m in early)
    assert all(e.recorded_at <= between for e in first)
    both = await queries.logged("x", after)
    assert [e.message for e in both] == list(await queries.history("x"))
    assert max(e.recorded_at for e in first) < min(e.recorded_at for e in both[len(first) :])

    then, runs = await execution_at(queries, "x", between)
    assert (then.status, then.nodes.running, then.nodes.total) == ("RUNNING", 1, 1)
    assert then.created_at == then.updated_at == first[0].recorded_at
    now, runs = await execution_at(queries, "x", after)
    assert unstamped(now) == unstamped(await get_execution(queries, "x"))
    current = await get_node_runs(queries, "x", Page(1, 100))
    assert [unstamped(r) for r in runs] == [unstamped(r) for r in current.items]
    with pytest.raises(NotFound):
        await execution_at(queries, "x", between - timedelta(hours=1))


async def test_a_moment_not_yet_past_is_not_settled(store: Store) -> None:
    await record_events(store.recorder, Workflow("x").started(0).messages)
    with pytest.raises(NotSettled):
        await store.queries.logged("x", store.now() + timedelta(minutes=1))
