"""A subscriber's pending changes: coalesced, bounded, and fanned out by execution."""

from __future__ import annotations

import asyncio

from execution_service.domain.changes import Changes, Subscribers


async def test_pending_changes_are_taken_at_once_each_execution_once() -> None:
    subscribers = Subscribers()
    with subscribers.subscribe() as everything, subscribers.subscribe("a") as one:
        for ids in ({"a", "b"}, {"a"}, {"c", "a"}):
            subscribers.publish(ids)
        assert await everything.take() == Changes(frozenset({"a", "b", "c"}))
        assert await one.take() == Changes(frozenset({"a"}))
        assert not everything.pending() and not one.pending()
        subscribers.publish({"b"})
        assert everything.pending() and not one.pending()
    assert len(subscribers) == 0
    subscribers.publish({"a"})  # nobody left: nothing kept


async def test_a_subscriber_that_falls_behind_holds_a_gap_not_every_id() -> None:
    subscribers = Subscribers()
    with subscribers.subscribe(limit=3) as slow:
        subscribers.publish({"a", "b"})
        subscribers.publish({"c", "d"})
        subscribers.publish({"e"})
        assert await slow.take() == Changes(frozenset(), gap=True)
        subscribers.publish({"f"})
        assert await slow.take() == Changes(frozenset({"f"}))


async def test_a_gap_reaches_every_subscriber_and_wakes_it() -> None:
    subscribers = Subscribers()
    with subscribers.subscribe() as a, subscribers.subscribe("x") as b:
        waiting = asyncio.ensure_future(b.take())
        await asyncio.sleep(0)
        assert not waiting.done()
        subscribers.lose()
        assert (await asyncio.wait_for(waiting, 5)).gap
        assert (await asyncio.wait_for(a.take(), 5)).gap
