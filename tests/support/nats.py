"""NATS for tests: TEST_NATS_URL's server when set, else an embedded one per process.
Each test gets its own subject prefix, stream and durable, deleted afterwards."""

from __future__ import annotations

import atexit
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import nats
from nats.aio.client import Client
from nats.js.api import ConsumerInfo

from execution_service.adapters.nats import ConsumerSettings, EmbeddedNats, Subjects
from support.polling import wait_until

__all__ = ["Isolated", "isolated_nats", "nats_url", "settled", "wait_until"]

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


async def settled(env: Isolated, stream: str | None) -> int:
    """Waits until the server holds every ack of the durable consumer and has nothing left to
    deliver; says how many deliveries it made, redeliveries included (its consumer sequence)."""
    js = env.nc.jetstream()
    infos: list[ConsumerInfo] = []

    async def done() -> bool:
        # acks are fire-and-forget: the last batch's may still be on their way
        infos.append(await js.consumer_info(str(stream), env.settings.durable))
        return infos[-1].num_ack_pending == 0 and infos[-1].num_pending == 0

    await wait_until(done, timeout=15, what="the server to have every ack")
    assert infos[-1].delivered is not None
    return infos[-1].delivered.consumer_seq
