"""NATS for tests: TEST_NATS_URL's server when set, else an embedded one per process.
Each test gets its own subject prefix, stream and durable, deleted afterwards."""

from __future__ import annotations

import asyncio
import atexit
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import nats
from nats.aio.client import Client

from execution_service.adapters.nats import ConsumerSettings, EmbeddedNats, Subjects

_embedded: EmbeddedNats | None = None


def nats_url() -> str:
    global _embedded
    configured = os.environ.get("TEST_NATS_URL")
    if configured:
        return configured
    if _embedded is None:
        _embedded = EmbeddedNats(Path(tempfile.mkdtemp(prefix="es-nats-"))).start()
        atexit.register(_embedded.stop)
    return _embedded.url


@attrs.frozen
class Isolated:
    nc: Client
    subjects: Subjects
    settings: ConsumerSettings


@asynccontextmanager
async def isolated_nats(**settings: object) -> AsyncIterator[Isolated]:
    tag = uuid.uuid4().hex[:10]
    nc = await nats.connect(nats_url(), max_reconnect_attempts=-1)
    subjects = Subjects(prefix=f"t{tag}.")
    config = ConsumerSettings(stream=f"T{tag}", durable=f"d{tag}", **settings)  # type: ignore[arg-type]
    try:
        yield Isolated(nc, subjects, config)
    finally:
        js = nc.jetstream()
        for name in await js.streams_info():
            if any(s.startswith(subjects.prefix) for s in name.config.subjects or []):
                await js.delete_stream(str(name.config.name))
        await nc.close()


async def wait_until(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
