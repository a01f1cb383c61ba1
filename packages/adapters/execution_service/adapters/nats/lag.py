"""How far the durable consumer is behind, as JetStream itself counts it."""

from __future__ import annotations

import attrs

from nats.aio.client import Client


@attrs.frozen
class ConsumerLag:
    pending: int  # in the stream, not yet delivered to the durable consumer
    ack_pending: int  # delivered, not yet acknowledged


async def consumer_lag(nc: Client, stream: str, durable: str, timeout: float = 2.0) -> ConsumerLag:
    """One request to the server; raises when NATS does not answer."""
    info = await nc.jetstream(timeout=timeout).consumer_info(stream, durable)
    return ConsumerLag(pending=info.num_pending or 0, ack_pending=info.num_ack_pending or 0)
