"""Waiting for a condition with a deadline: tests synchronise on what they wait for, never on
how long it usually takes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_SECONDS = 0.05


async def wait_until(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Until `predicate()` (a coroutine's result is awaited) is truthy; AssertionError after."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def poll_until(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> None:
    """wait_until for code outside an event loop (processes, HTTP from a plain test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(POLL_SECONDS * 4)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
