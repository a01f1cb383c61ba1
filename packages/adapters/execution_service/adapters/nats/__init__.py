"""NATS JetStream: its connections, the event consumer, the retry-request publisher, an
embedded server."""

from execution_service.adapters.nats.connection import NatsConnector
from execution_service.adapters.nats.consumer import (
    ConsumerSettings,
    ConsumerStats,
    EventConsumer,
)
from execution_service.adapters.nats.embedded import EmbeddedNats
from execution_service.adapters.nats.lag import ConsumerLag, consumer_lag
from execution_service.adapters.nats.publisher import NatsRetryPublisher
from execution_service.adapters.nats.stream import (
    bind_or_create_stream,
    find_stream,
    stream_max_age,
)
from execution_service.adapters.nats.subjects import Subjects

__all__ = [
    "ConsumerLag",
    "ConsumerSettings",
    "ConsumerStats",
    "EmbeddedNats",
    "EventConsumer",
    "NatsConnector",
    "NatsRetryPublisher",
    "Subjects",
    "bind_or_create_stream",
    "consumer_lag",
    "find_stream",
    "stream_max_age",
]
