"""Parsing the event contract (CONTRACT §1): a raw NATS message in, a typed event, a
rejection (with its reason) or an ignored subject out. The fast path reads the common shape
at once; anything unusual takes the careful path, which words each rejection."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from execution_service.domain import event_schema
from execution_service.domain.events import (
    MAX_ATTEMPT,
    MAX_DURATION_MS,
    MAX_EVENT_BYTES,
    MAX_ID_LENGTH,
    MAX_TRACEPARENT_LENGTH,
    REPLAY_OF_HEADER,
    TRACEPARENT_HEADER,
    Event,
    EventKind,
    Ignored,
    Parsed,
    RawMessage,
    Rejected,
    parse_time,
)

_BY_SUBJECT = {kind.value: kind for kind in EventKind}
_REQUIRED = {kind: event_schema.required(kind.value) for kind in EventKind}


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


def parse_message(
    message: RawMessage, max_bytes: int = MAX_EVENT_BYTES, fast: FastDecoder | None = None
) -> Parsed:
    kind = _BY_SUBJECT.get(message.subject)
    if kind is None and message.subject.startswith("execution."):
        return Ignored(dedupe_key(message))  # whatever its body: it is not ours to judge
    data = message.data
    envelope: object = _UNDECODED
    escaped = False
    if fast is not None:
        try:
            # UTF-8 JSON only: a body it decodes has no BOM and no NUL byte, so it is one
            # json.detect_encoding would have called UTF-8 too
            envelope = fast(data)
            # a search for one byte runs several times faster than for two
            escaped = b"\\" in data and b"\\u" in data
        except ValueError:
            pass  # refused: the standard library decides, and says why
    if envelope is _UNDECODED:
        encoding = json.detect_encoding(data)
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
    traceparent = None
    if kind is EventKind.EXECUTION_STARTED and message.headers:
        traceparent = _traceparent(message.headers)
    if kind is not None and not escaped and isinstance(envelope, dict) and len(data) <= max_bytes:
        event = _plain_event(kind, envelope, data, traceparent)
        if event is not None:
            return event
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
        return _event(kind, key, envelope, data, traceparent)
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


def _traceparent(headers: Mapping[str, str]) -> str | None:
    """The header as sent, if it can be one: the exporter judges it (a bad one is ignored)."""
    value = headers.get(TRACEPARENT_HEADER)
    if isinstance(value, str) and 0 < len(value) <= MAX_TRACEPARENT_LENGTH and _storable(value):
        return value
    return None


def _event(
    kind: EventKind,
    key: str,
    envelope: dict[str, Any],
    payload: bytes,
    traceparent: str | None = None,
) -> Event:
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
        traceparent=traceparent,
    )


_tuple_new = tuple.__new__


class _Unusual(Exception):
    """Something _plain_event leaves to _event, which words the rejection or converts it."""


def _plain(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH:
        return value
    raise _Unusual


def _plain_time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Unusual
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is UTC:
            return parsed
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _Unusual from None


def _plain_event(
    kind: EventKind, envelope: dict[str, Any], payload: bytes, traceparent: str | None = None
) -> Event | None:
    """The event of a well-formed envelope with plainly typed fields (an eventId, integer
    attempt and duration, text errors), at a fraction of _event's cost; None for anything
    else, which _event then judges the same way it always has. An envelope without escapes
    holds only storable text. tests/unit/test_events.py holds the two to the same results."""
    try:
        event_id = envelope.get("eventId")
        if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_ID_LENGTH:
            return None
        event_type = envelope.get("eventType")
        data = envelope.get("data")
        if (event_type is not None and event_type != kind.value) or not isinstance(data, dict):
            return None
        get = data.get
        timestamp = _plain_time(envelope.get("timestamp"))
        at = _plain_time(get(kind.time_field))
        if timestamp is None:
            if at is None:
                return None
            timestamp = at
        execution_id = _plain(get("executionId"))
        node_id = _plain(get("nodeId"))
        if execution_id is None or (node_id is None and kind.is_node):
            return None
        attempt = get("attempt", 1)
        duration = get("duration")
        error = get("error", get("reason"))
        # exactly int: a bool is an int too, and a float goes the careful way
        if (
            type(attempt) is not int  # noqa: E721
            or not 1 <= attempt <= MAX_ATTEMPT
            or (duration is not None and (type(duration) is not int  # noqa: E721
                                          or not 0 <= duration <= MAX_DURATION_MS))
            or (error is not None and not isinstance(error, str))
        ):  # fmt: skip
            return None
        # tuple.__new__ skips the NamedTuple's own __new__, a Python function: a third the cost
        return _tuple_new(
            Event,
            (
                event_id,
                kind,
                execution_id,
                timestamp,
                at or timestamp,
                attempt,
                node_id if kind.is_node else None,
                _plain(get("workflowId")),
                _plain(get("userId")),
                _plain(get("nodeType")),
                _plain(get("nodeName")),
                get("input"),
                get("output"),
                get("metadata"),
                error,
                duration,
                _plain(get("retryOf")),
                _plain(envelope.get("correlationId")),
                _plain(envelope.get("causationId")),
                payload,
                traceparent,
            ),
        )
    except _Unusual:
        return None


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
