"""The event contract (CONTRACT §1): raw NATS messages, the typed events, rejections and
ignored subjects they become (parsing.py), and the contract's limits and times."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

import attrs

from execution_service.domain import event_schema

JSON = Any  # a value json.loads can return
MAX_EVENT_BYTES = 256 * 1024
MAX_ID_LENGTH = 256  # ids are indexed; an index entry must stay small
MAX_ATTEMPT = 2**31 - 1
MAX_DURATION_MS = 2**53  # what JavaScript counts exactly


class EventKind(enum.StrEnum):
    """A subject the service reads; a str, its subject, so that a store writes it as it is."""

    EXECUTION_STARTED = "execution.started"
    NODE_STARTED = "execution.node.started"
    NODE_COMPLETED = "execution.node.completed"
    NODE_FAILED = "execution.node.failed"
    EXECUTION_COMPLETED = "execution.completed"
    EXECUTION_FAILED = "execution.failed"
    EXECUTION_CANCELLED = "execution.cancelled"

    def __init__(self, subject: str) -> None:
        # plain attributes, read for every event
        self.is_node = subject.startswith("execution.node.")
        self.time_field = event_schema.time_field(subject)  # startedAt, completedAt…

    __hash__ = object.__hash__  # members are singletons; str's hash would rehash the text


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
EventIdentity = tuple[str, str]  # execution id, event key


class RawMessage(NamedTuple):
    """A message as the broker delivered it. A tuple: the consumer makes one per message."""

    subject: str
    data: bytes
    headers: Mapping[str, str] = _NO_HEADERS
    stream: str | None = None
    sequence: int | None = None


class Event(NamedTuple):
    """One accepted event. `at` is the event's own time field (startedAt, completedAt…),
    defaulting to the envelope `timestamp`; `timestamp` orders conflicting reports. A tuple:
    one is made per message, and a tuple is made at C speed."""

    key: str
    kind: EventKind
    execution_id: str
    timestamp: datetime
    at: datetime
    attempt: int = 1
    node_id: str | None = None
    workflow_id: str | None = None
    user_id: str | None = None
    node_type: str | None = None
    node_name: str | None = None
    input: JSON = None
    output: JSON = None
    metadata: JSON = None
    error: str | None = None
    duration: int | None = None
    retry_of: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    payload: bytes = b""  # as received
    # The W3C trace context the orchestrator sent with execution.started (its `traceparent`
    # header), kept for the trace exported when the execution ends (CONTRACT §7).
    traceparent: str | None = None

    @property
    def identity(self) -> EventIdentity:
        """What makes a second delivery the same event: its key, within its execution. A key
        is the producer's (eventId, or a header, CONTRACT §1): one that numbers the events of
        each execution from 1 reuses keys across executions, and loses none of them."""
        return (self.execution_id, self.key)

    def as_message(self) -> RawMessage:
        """The event as a message that parses back to it (the history a store keeps)."""
        return stored_message(self.key, self.kind.value, self.payload, self.traceparent)


def stored_message(
    key: str, subject: str, payload: bytes, traceparent: str | None = None
) -> RawMessage:
    """A stored event as a message that parses back to it: its key, and its trace context."""
    headers = {"Nats-Msg-Id": key}
    if traceparent is not None:
        headers[TRACEPARENT_HEADER] = traceparent
    return RawMessage(subject, payload, headers)


@attrs.frozen
class Rejected:
    """A bad event: acknowledged, dead-lettered with `reason`, never applied."""

    key: str
    reason: str


@attrs.frozen
class Ignored:
    """A subject under `execution.` this service does not handle (e.g. its own retry requests)."""

    key: str


Parsed = Event | Rejected | Ignored


# Set on a replayed dead letter: the key it was recorded under, so that the replay is the same
# event to de-duplication however that key was first found (eventId, Nats-Msg-Id, sequence).
REPLAY_OF_HEADER = "Replay-Of"
TRACEPARENT_HEADER = "traceparent"
MAX_TRACEPARENT_LENGTH = 512  # version 00 is 55 characters; later versions may add fields


def parse_time(value: str) -> datetime:
    """ISO-8601 as JavaScript's Date serialises it; a time without zone is UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(at: datetime) -> str:
    """The inverse of parse_time, as JavaScript's Date.toISOString() writes: UTC, ms, Z."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return at.isoformat(timespec="milliseconds")[:-6] + "Z"  # less "+00:00"
