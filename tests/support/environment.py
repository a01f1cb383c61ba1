"""A service's environment for an end-to-end test: a fresh database, NATS names of its own
(subject prefix, stream, durable) and a free port; the stream is deleted afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

import nats

from execution_service.adapters.nats.embedded import free_port
from support.nats import nats_url
from support.postgres import fresh_database


@contextmanager
def service_environment(
    letter: str, more: Mapping[str, str] = MappingProxyType({}), prefix_dot: bool = True
) -> Iterator[dict[str, str]]:
    tag = f"{letter}{uuid.uuid4().hex[:8]}"
    stream = tag.upper()
    with fresh_database() as url:
        try:
            yield {
                "DATABASE_URL": url.url(),
                "NATS_URL": nats_url(),
                "NATS_SUBJECT_PREFIX": f"{tag}." if prefix_dot else tag,
                "NATS_STREAM": stream,
                "NATS_CONSUMER": tag,
                "PORT": str(free_port()),
                **more,
            }
        finally:
            asyncio.run(delete_stream(stream))


async def delete_stream(name: str) -> None:
    nc = await nats.connect(nats_url())
    try:
        await nc.jetstream().delete_stream(name)
    except Exception:  # noqa: BLE001 - the service may not have created it
        pass
    await nc.close()
