"""Bind to the stream that already captures the events, or create one only if none does:
JetStream refuses a second stream over the same subjects (the platform has EVENTS)."""

from __future__ import annotations

import logging
from datetime import timedelta

from execution_service.adapters.nats.subjects import Subjects
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)
DUPLICATE_WINDOW_SECONDS = 120.0


async def find_stream(js: JetStreamContext, subject: str) -> str | None:
    try:
        return await js.find_stream_name_by_subject(subject)
    except NotFoundError:
        return None


async def bind_or_create_stream(
    js: JetStreamContext, subjects: Subjects, name: str, replicas: int = 1
) -> str:
    """An existing stream keeps its replicas: changing them is the operator's call
    (docs/OPERATIONS.md, Topologies), not a side effect of a replica starting."""
    existing = await find_stream(js, subjects.started)
    if existing is not None:
        log.info("binding to stream %s, which captures %s", existing, subjects.started)
        return existing
    await js.add_stream(
        StreamConfig(
            name=name,
            subjects=[subjects.events],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        )
    )
    log.info("created stream %s capturing %s, %d replicas", name, subjects.events, replicas)
    return name


async def stream_max_age(js: JetStreamContext, stream: str) -> timedelta | None:
    """How long the stream keeps a message; None when it keeps them regardless of age."""
    config = (await js.stream_info(stream)).config
    return timedelta(seconds=config.max_age) if config.max_age else None
