"""An execution as it stood at any moment (issue 22), on generated histories: for each batch,
the answer at the moment it was recorded is what a store that received only the batches until
then shows now, and that answer never changes as later batches come."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.domain import (
    NotFound,
    Page,
    RawMessage,
    execution_at,
    get_execution,
    get_node_runs,
    record_events,
)
from support.histories import histories, shuffled_with_duplicates
from support.stamps import unstamped


async def as_it_stands(store: MemoryStore, execution_id: str) -> object:
    try:
        view = await get_execution(store, execution_id)
    except NotFound:
        return None
    runs = await get_node_runs(store, execution_id, Page(1, 1000))
    return unstamped(view), [unstamped(r) for r in runs.items]


async def as_it_stood(store: MemoryStore, execution_id: str, at: datetime) -> object:
    try:
        view, runs = await execution_at(store, execution_id, at)
    except NotFound:
        return None
    return unstamped(view), [unstamped(r) for r in runs]


async def check(batches: list[list[RawMessage]]) -> None:
    clock = FixedClock()
    store = MemoryStore(clock)
    executions = sorted({json.loads(m.data)["data"]["executionId"] for b in batches for m in b})
    moments, answers = [], []
    for n, batch in enumerate(batches):
        await record_events(store, batch)
        moments.append(clock.now())
        clock.advance(seconds=1)
        reference = MemoryStore(FixedClock())
        for earlier in batches[: n + 1]:
            await record_events(reference, earlier)
        expected = [await as_it_stands(reference, x) for x in executions]
        assert [await as_it_stood(store, x, moments[-1]) for x in executions] == expected
        answers.append(expected)
    for moment, answer in zip(moments, answers, strict=True):  # never changes afterwards
        assert [await as_it_stood(store, x, moment) for x in executions] == answer


@given(st.data())
def test_the_answer_at_each_moment_is_the_fold_of_the_batches_recorded_by_then(
    data: st.DataObject,
) -> None:
    delivered = data.draw(shuffled_with_duplicates(data.draw(histories())))
    cuts = sorted(data.draw(st.sets(st.integers(0, len(delivered)), max_size=5)))
    bounds = [0, *cuts, len(delivered)]
    batches = [delivered[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    asyncio.run(check(batches))
