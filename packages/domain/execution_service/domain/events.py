"""The event contract (CONTRACT §1): raw NATS messages in, typed events or rejections out."""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from execution_service.domain import event_schema

JSON = Any  # a value json.loads can return
MAX_EVENT_BYTES = 256 * 1024
MAX_ID_LENGTH = 256  # ids are indexed; an index entry must stay small
MAX_ATTEMPT = 2**31 - 1
MAX_DURATION_MS = 2**53  # what JavaScript counts exactly


class EventKind(enum.Enum):
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

    __hash__ = object.__hash__  # members are singletons; Enum's own hashes the name in Python


_BY_SUBJECT = {kind.value: kind for kind in EventKind}
_REQUIRED = {kind: event_schema.required(kind.value) for kind in EventKind}


@attrs.frozen
class RawMessage:
    """A message as the broker delivered it."""

    subject: str
    data: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)
    stream: str | None = None
    sequence: int | None = None


@attrs.frozen
class Event:
    """One accepted event. `at` is the event's own time field (startedAt, completedAt…),
    defaulting to the envelope `timestamp`; `timestamp` orders conflicting reports."""

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
    payload: bytes = attrs.field(default=b"", eq=False, repr=False)  # as received

    def as_message(self) -> RawMessage:
        """The event as a message that parses back to it (the history a store keeps)."""
        return RawMessage(self.kind.value, self.payload, {"Nats-Msg-Id": self.key})


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


class _Bad(Exception):
    pass


def dedupe_key(message: RawMessage, event_id: object = None) -> str:
    """eventId, else the key of the dead letter it replays (a replay's Nats-Msg-Id is the
    replay's own), else the Nats-Msg-Id header, else stream:sequence, else a content hash.
    An id too long to index, or holding text a database can't store, is stood for by its hash."""
    headers = message.headers
    for candidate in (event_id, headers.get(REPLAY_OF_HEADER), headers.get("Nats-Msg-Id")):
        if isinstance(candidate, str) and candidate:
            if len(candidate) <= MAX_ID_LENGTH and _storable(candidate):
                return candidate
            return "sha256:" + hashlib.sha256(candidate.encode(errors="surrogatepass")).hexdigest()
    if message.stream is not None and message.sequence is not None:
        return f"{message.stream}:{message.sequence}"
    digest = hashlib.sha256(message.subject.encode() + b"\0" + message.data).hexdigest()
    return f"sha256:{digest}"


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


def parse_message(
    message: RawMessage, max_bytes: int = MAX_EVENT_BYTES, fast: FastDecoder | None = None
) -> Parsed:
    kind = _BY_SUBJECT.get(message.subject)
    if kind is None and message.subject.startswith("execution."):
        return Ignored(dedupe_key(message))  # whatever its body: it is not ours to judge
    data = message.data
    encoding = json.detect_encoding(data)
    envelope: object = _UNDECODED
    if fast is not None and encoding == "utf-8":
        try:
            envelope = fast(data)
            escaped = b"\\u" in data
        except ValueError:
            pass  # refused: the standard library decides, and says why
    if envelope is _UNDECODED:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:  # e.g. CESU-8 surrogates (ED A0 80): not text
            return Rejected(
                dedupe_key(message), f"not {encoding} text: {exc.reason} at byte {exc.start}"
            )
        try:
            # json.loads(text) with one decoder made once: what loads does, less its set-up
            envelope = _DECODER.decode(text)
        except ValueError as exc:
            return Rejected(dedupe_key(message), f"not JSON: {exc}")
        escaped = "\\u" in text
    event_id = envelope.get("eventId") if isinstance(envelope, dict) else None
    key = dedupe_key(message, event_id)
    if kind is None:
        return Rejected(key, f"unknown subject {message.subject!r}")
    if len(data) > max_bytes:
        return Rejected(key, f"event is {len(data)} bytes, more than {max_bytes}")
    if not isinstance(envelope, dict):
        return Rejected(key, f"not a JSON object but {_json_type(envelope)}")
    # raw NULs are not JSON and raw surrogates not UTF-8: only \u escapes can bring them
    if escaped and not _storable(envelope):
        return Rejected(key, "contains a NUL character or a lone surrogate, which text can't hold")
    try:
        return _event(kind, key, envelope, data)
    except _Bad as bad:
        return Rejected(key, str(bad))


# A faster decoder of UTF-8 JSON that an adapter may pass (orjson): it must return what the
# standard library would, or raise ValueError for anything it cannot decode exactly so (then
# the standard library decides). tests/unit/test_fast_decoder.py holds the adapter's to that.
FastDecoder = Callable[[bytes], object]
_UNDECODED = object()


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not JSON")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)


def _storable(value: object) -> bool:
    """Strings a database can store: no NUL, no unpaired surrogate."""
    if isinstance(value, str):
        return "\x00" not in value and value.encode("utf-8", "replace").decode() == value
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _event(kind: EventKind, key: str, envelope: dict[str, Any], payload: bytes) -> Event:
    if "eventId" in envelope and not isinstance(envelope["eventId"], str | None):
        raise _Bad("eventId must be a string")
    if len(envelope.get("eventId") or "") > MAX_ID_LENGTH:
        raise _Bad(f"eventId is longer than {MAX_ID_LENGTH} characters")
    event_type = envelope.get("eventType")
    if event_type is not None and event_type != kind.value:
        raise _Bad(f"eventType {event_type!r} does not match subject {kind.value!r}")
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise _Bad(f"data must be an object, not {_json_type(data)}")
    timestamp = _time(envelope, "timestamp", "")
    at = _time(data, kind.time_field, "data.")
    if timestamp is None and at is None:
        raise _Bad(f"neither timestamp nor data.{kind.time_field} is given")
    timestamp = timestamp or at
    at = at or timestamp
    assert timestamp is not None and at is not None
    required = _REQUIRED[kind]
    node_id = _string(data, "nodeId", required="nodeId" in required)
    return Event(
        key=key,
        kind=kind,
        execution_id=_string(data, "executionId", required="executionId" in required) or "",
        timestamp=timestamp,
        at=at,
        attempt=_attempt(data),
        node_id=node_id if kind.is_node else None,
        workflow_id=_string(data, "workflowId"),
        user_id=_string(data, "userId"),
        node_type=_string(data, "nodeType"),
        node_name=_string(data, "nodeName"),
        input=data.get("input"),
        output=data.get("output"),
        metadata=data.get("metadata"),
        error=_error(data),
        duration=_duration(data),
        retry_of=_string(data, "retryOf"),
        correlation_id=_string(envelope, "correlationId", prefix=""),
        causation_id=_string(envelope, "causationId", prefix=""),
        payload=payload,
    )


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _string(
    obj: Mapping[str, Any], name: str, required: bool = False, prefix: str = "data."
) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise _Bad(f"missing required field {prefix}{name}")
        return None
    if not isinstance(value, str):
        raise _Bad(f"{prefix}{name} must be a string, not {_json_type(value)}")
    if len(value) > MAX_ID_LENGTH:
        raise _Bad(f"{prefix}{name} is longer than {MAX_ID_LENGTH} characters")
    return value


def _time(obj: Mapping[str, Any], name: str, prefix: str) -> datetime | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{prefix}{name} must be an ISO-8601 string, not {_json_type(value)}")
    try:
        return parse_time(value)
    except (ValueError, OverflowError):  # OverflowError: out of range once in UTC
        raise _Bad(f"{prefix}{name} is not an ISO-8601 time: {value[:64]!r}") from None


def _attempt(data: Mapping[str, Any]) -> int:
    value = data.get("attempt")
    if value is None:
        return 1
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ATTEMPT:
        raise _Bad(f"data.attempt must be a positive integer, not {value!r}"[:120])
    return value


def _duration(data: Mapping[str, Any]) -> int | None:
    value = data.get("duration")
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_DURATION_MS
    ):
        raise _Bad(f"data.duration must be a non-negative number of ms, not {value!r}"[:120])
    return round(value)


def _error(data: Mapping[str, Any]) -> str | None:
    """Errors are text; orchestrators that send {message, …} objects keep their message."""
    value = data.get("error", data.get("reason"))
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return str(value["message"])
    return json.dumps(value, sort_keys=True)
