"""Readiness sampled while a failover happens, to hold it to the truth: each sample is the
status and the checks `GET /api/health/ready` names as failing."""

from __future__ import annotations

import asyncio

import aiohttp

Sample = tuple[int, list[str]]


async def sample_readiness(bases: list[str], samples: list[Sample], every: float = 0.25) -> None:
    """Until cancelled, every `every` seconds, each service at `bases`."""
    async with aiohttp.ClientSession() as session:
        while True:
            for base in bases:
                try:
                    async with session.get(f"{base}/api/health/ready") as response:
                        body = await response.json()
                        samples.append((response.status, list(body.get("failing", []))))
                except aiohttp.ClientError as exc:
                    samples.append((0, [repr(exc)]))
            await asyncio.sleep(every)


CHECKS = frozenset({"database", "nats", "consumer"})


def failing_sets(samples: list[Sample]) -> set[tuple[str, ...]]:
    """The distinct sets of failing checks among the samples that were not ready."""
    return {tuple(failing) for status, failing in samples if status != 200}


def each_says_why(samples: list[Sample]) -> bool:
    """Every 503 names the checks that failed, and only the service's own. (A check that
    takes longer than its 2 s is down too: on a loaded machine one can be, mid-failover,
    for a moment, so a test cannot insist that only the failed server's check goes down.)"""
    return all(
        status == 503 and failing and set(failing) <= CHECKS
        for status, failing in samples
        if status != 200
    )
