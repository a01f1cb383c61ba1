"""The event contract: a raw message becomes a typed event, a precise rejection, or is ignored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from execution_service.adapters.http import serialize
from execution_service.adapters.nats.decoding import decode_event_body
from execution_service.domain import (
    Event,
    EventKind,
    Ignored,
    RawMessage,
    Rejected,
    RetryRequest,
    parse_message,
    parsing,
)
from execution_service.domain.events import format_time, parse_time
from support.events import message, raw

GOOD = {"executionId": "e1", "nodeId": "n1"}
TS = "2026-11-25T10:00:03.120Z"


def rejected(msg: RawMessage) -> str:
    parsed = parse_message(msg)
    assert isinstance(parsed, Rejected), parsed
    return parsed.reason


def test_a_full_node_completed_event_is_parsed() -> None:
    parsed = parse_message(
        message(
            "execution.node.completed",
            GOOD | {"nodeType": "tool", "output": {"a": 1}, "duration": 812.4, "attempt": 2},
            event_id="k1",
            correlationId="c1",
        )
    )
    assert isinstance(parsed, Event)
    assert parsed.kind is EventKind.NODE_COMPLETED
    assert (parsed.key, parsed.execution_id, parsed.node_id) == ("k1", "e1", "n1")
    assert (parsed.attempt, parsed.duration, parsed.output) == (2, 812, {"a": 1})
    assert parsed.correlation_id == "c1"
    assert parsed.at == parsed.timestamp  # completedAt missing: the envelope's timestamp


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (RawMessage("execution.started", b"{nope"), "not JSON"),
        (RawMessage("execution.started", b"\xff\xfe"), "not JSON"),
        (raw("execution.started", [1, 2]), "not a JSON object but an array"),
        (raw("execution.started", "text"), "not a JSON object but a string"),
        (raw("execution.started", {"timestamp": TS}), "data must be an object, not null"),
        (raw("execution.started", {"timestamp": TS, "data": []}), "data must be an object"),
        (message("execution.started", {}), "missing required field data.executionId"),
        (message("execution.started", {"executionId": ""}), "missing required field"),
        (
            message("execution.node.started", {"executionId": "e"}),
            "missing required field data.nodeId",
        ),
        (
            message("execution.started", {"executionId": 42}),
            "data.executionId must be a string, not a number",
        ),
        (
            message("execution.node.failed", {"executionId": "e", "nodeId": ["n"]}),
            "data.nodeId must be a string",
        ),
        (
            message("execution.started", {"executionId": "e", "workflowId": 1}),
            "data.workflowId must be a string",
        ),
        (
            message("execution.failed", {"executionId": "e"}, eventType="execution.completed"),
            "does not match subject",
        ),
        (
            message("execution.started", {"executionId": "e"}, timestamp="yesterday"),
            "timestamp is not an ISO-8601 time",
        ),
        (  # a time that exists only before year 1 once in UTC
            message("execution.started", {"executionId": "e"}, timestamp="0001-01-01T00:00+01:00"),
            "timestamp is not an ISO-8601 time",
        ),
        (
            message("execution.started", {"executionId": "e"}, timestamp=1700000000),
            "timestamp must be an ISO-8601 string",
        ),
        (
            message("execution.started", {"executionId": "e", "startedAt": "2026-13-45"}),
            "data.startedAt is not an ISO-8601 time",
        ),
        (
            message("execution.started", {"executionId": "e"}, ms=None),
            "neither timestamp nor data.startedAt",
        ),
        (
            message("execution.started", {"executionId": "e", "attempt": 0}),
            "data.attempt must be a positive integer",
        ),
        (
            message("execution.started", {"executionId": "e", "attempt": "2"}),
            "data.attempt must be a positive integer",
        ),
        (
            message("execution.started", {"executionId": "e", "attempt": True}),
            "data.attempt must be a positive integer",
        ),
        (
            message("execution.node.completed", GOOD | {"duration": -1}),
            "data.duration must be a non-negative",
        ),
        (
            message("execution.node.completed", GOOD | {"duration": "5"}),
            "data.duration must be a non-negative",
        ),
        (message("execution.started", {"executionId": "e"}, eventId=7), "eventId must be a string"),
        (RawMessage("other.subject", b"{}"), "unknown subject"),
        (RawMessage("execution.started", b'{"data": {"executionId": "a\\u0000b"}}'), "NUL"),
        (RawMessage("execution.started", b'{"data": {"input": "\\ud800"}}'), "lone surrogate"),
        (RawMessage("execution.started", b'{"data": {"duration": 1e400}}'), "out of range"),
        (RawMessage("execution.started", b'{"data": {"duration": NaN}}'), "not JSON"),
        (message("execution.started", {"executionId": "e" * 257}), "longer than 256"),
        (message("execution.started", {"executionId": "e"}, event_id="k" * 300), "longer than 256"),
        (message("execution.started", {"executionId": "e", "attempt": 2**31}), "positive integer"),
        (message("execution.node.completed", GOOD | {"duration": 1e300}), "non-negative number"),
    ],
)
def test_each_bad_event_is_rejected_with_its_reason(msg: RawMessage, reason: str) -> None:
    assert reason in rejected(msg)


def test_an_oversized_event_is_rejected() -> None:
    big = message("execution.started", {"executionId": "e", "input": {"blob": "x" * 600_000}})
    assert "more than" in rejected(big)


@pytest.mark.parametrize(
    "body", [b"garbage", b"", b'{"data": "\xed\xa0\x80"}', b'{"a": "\\u0000"}', b"[1, 2]"]
)
def test_unknown_subjects_under_execution_are_ignored_whatever_their_body(body: bytes) -> None:
    for subject in ("execution.paused", "execution.retry.requested"):
        parsed = parse_message(RawMessage(subject, body, {"Nats-Msg-Id": "r1"}))
        assert parsed == Ignored("r1")


UNSTORABLE = "contains a NUL character or a lone surrogate"


def utf(text: str, encoding: str) -> bytes:
    """JSON text in one of the encodings JSON allows, lone surrogates kept as code units."""
    return text.encode(encoding, "surrogatepass")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # CESU-8: a surrogate as three bytes, which UTF-8 forbids
        (b'{"data": {"executionId": "e", "input": {"q": "\xed\xa0\x80"}}}', "not utf-8 text"),
        (b'{"eventId": "\xed\xa0\x80", "data": {"executionId": "e"}}', "not utf-8 text"),
        (b'{"data": {"executionId": "e", "input": {"\xed\xb0\x80": 1}}}', "not utf-8 text"),
        (b'{"data": {"executionId": "e\x00"}}', "not JSON"),  # a raw NUL: a control character
        (b'{"data": {"executionId": "e", "metadata": {"k\\u0000": 1}}}', UNSTORABLE),
        (b'{"data": {"executionId": "e", "output": ["\\udc00"]}}', UNSTORABLE),
        (b'{"eventId": "\\u0000", "data": {"executionId": "e"}}', UNSTORABLE),
        (utf('{"data": {"executionId": "e", "input": "\\u0000"}}', "utf-16-le"), UNSTORABLE),
        (utf('{"data": {"executionId": "e", "input": "\\ud800"}}', "utf-32-be"), UNSTORABLE),
        (utf('{"data": {"executionId": "e", "input": "\ud800"}}', "utf-16-le"), "not utf-16"),
        (utf('{"data": {"executionId": "e", "input": "\ud800"}}', "utf-32-le"), "not utf-32"),
    ],
)
def test_text_a_database_cannot_store_is_rejected_in_any_field_and_encoding(
    data: bytes, reason: str
) -> None:
    parsed = parse_message(RawMessage("execution.started", data, {}, "S", 3))
    assert isinstance(parsed, Rejected), parsed
    assert reason in parsed.reason
    assert "\x00" not in parsed.reason and parsed.reason.encode()  # a reason a database can store
    assert parsed.key == "S:3" or parsed.key.startswith("sha256:")  # never the bad eventId


def test_an_event_id_a_database_cannot_store_is_stood_for_by_its_hash() -> None:
    body = json.dumps({"eventId": "a\u0000b", "timestamp": TS, "data": {"executionId": "e"}})
    parsed = parse_message(RawMessage("execution.started", body.encode()))
    assert isinstance(parsed, Rejected) and parsed.key.startswith("sha256:")


def test_dedupe_key_is_event_id_then_msg_id_header_then_stream_sequence() -> None:
    body = json.dumps({"timestamp": TS, "data": {"executionId": "e"}}).encode()
    with_header = RawMessage("execution.started", body, {"Nats-Msg-Id": "m1"}, "S", 9)
    assert parse_message(with_header).key == "m1"
    assert parse_message(RawMessage("execution.started", body, {}, "S", 9)).key == "S:9"
    with_id = json.dumps({"eventId": "e1", "timestamp": TS, "data": {"executionId": "e"}})
    assert parse_message(RawMessage("execution.started", with_id.encode(), {}, "S", 9)).key == "e1"


def test_a_missing_time_field_defaults_to_the_timestamp_and_vice_versa() -> None:
    only_time = message("execution.completed", {"executionId": "e", "completedAt": TS}, ms=None)
    parsed = parse_message(only_time)
    assert isinstance(parsed, Event)
    assert parsed.timestamp == parsed.at == datetime(2026, 11, 25, 10, 0, 3, 120000, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["2026-11-25T10:00:03.120Z", "2026-11-25T10:00:03.120", "2026-11-25T11:00:03.120+01:00"],
)
def test_times_as_javascript_writes_them_naive_is_utc(text: str) -> None:
    assert parse_time(text) == datetime(2026, 11, 25, 10, 0, 3, 120000, tzinfo=UTC)


def test_error_objects_keep_their_message_and_cancel_reason_is_the_error() -> None:
    failed = parse_message(message("execution.node.failed", GOOD | {"error": {"message": "boom"}}))
    cancelled = parse_message(
        message("execution.cancelled", {"executionId": "e", "reason": "user"})
    )
    assert isinstance(failed, Event) and failed.error == "boom"
    assert isinstance(cancelled, Event) and cancelled.error == "user"


def test_format_time_writes_what_javascript_writes_and_parses_back() -> None:
    text = "2026-11-25T10:00:03.120Z"
    assert format_time(parse_time(text)) == text
    assert format_time(parse_time("2026-11-25T11:00:03.120999+01:00")) == text


def test_a_retry_request_reads_the_same_time_published_and_served() -> None:
    request = RetryRequest("e", 2, "n", None, None, datetime(2026, 11, 25, 10, 0, 3, 120999, UTC))
    published = request.envelope()
    served = serialize.retry_request(request)["requestedAt"]
    assert published["data"]["requestedAt"] == published["timestamp"] == served
    assert served == "2026-11-25T10:00:03.120Z"


# Each field mostly well-formed, sometimes not: the fast path must take a well-formed event to
# exactly what the careful one makes, and leave everything else to it.
_STORABLE = st.characters(exclude_categories=["Cs"])  # what UTF-8 can hold


def _mostly(good: st.SearchStrategy[object], odd: st.SearchStrategy[object]) -> Any:
    return st.integers(0, 11).flatmap(lambda pick: good if pick else odd)


_ODD_TEXTS = st.one_of(
    st.none(),
    st.just(""),
    st.text(min_size=250, max_size=260),
    st.integers(),
    st.booleans(),
    st.lists(st.integers(), max_size=1),
)
_TEXTS = _mostly(
    st.text(st.characters(min_codepoint=32, exclude_categories=["Cs"]), min_size=1, max_size=6),
    _ODD_TEXTS,
)
_TIMES = _mostly(
    st.sampled_from(["2026-11-25T10:00:00.120Z", "2026-11-25T11:00:00+01:00",
                     "2026-11-25T10:00:00"]),
    st.one_of(st.none(), st.just("yesterday"), st.just("0001-01-01T00:00:00+01:00"),
              st.integers()),
)  # fmt: skip
_NUMBERS = _mostly(
    st.integers(1, 3),
    st.one_of(st.none(), st.integers(-2, 0), st.just(2**31), st.just(2**53 + 1),
              st.floats(-1, 5), st.booleans(), st.text("1x", max_size=2)),
)  # fmt: skip
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4)),
    lambda inner: st.lists(inner, max_size=2)
    | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, object]:
    data: dict[str, object] = {"executionId": draw(_TEXTS), "nodeId": draw(_TEXTS)}
    for name in ("workflowId", "userId", "nodeType", "nodeName", "retryOf"):
        if draw(st.booleans()):
            data[name] = draw(_TEXTS)
    for name in ("startedAt", "completedAt", "failedAt", "cancelledAt"):
        if draw(st.integers(0, 3)) == 0:
            data[name] = draw(_TIMES)
    for name in ("attempt", "duration"):
        if draw(st.booleans()):
            data[name] = draw(_NUMBERS)
    for name in ("input", "output", "metadata"):
        if draw(st.booleans()):
            data[name] = draw(_JSON)
    if draw(st.booleans()):
        data[draw(st.sampled_from(["error", "reason"]))] = draw(
            st.one_of(_TEXTS, st.fixed_dictionaries({"message": st.text(_STORABLE, max_size=3)}))
        )
    envelope: dict[str, object] = {
        "eventId": draw(_TEXTS),
        "timestamp": draw(_TIMES),
        "data": draw(_mostly(st.just(data), _ODD_TEXTS)),
    }
    for name in ("correlationId", "causationId"):
        if draw(st.booleans()):
            envelope[name] = draw(_TEXTS)
    if draw(st.booleans()):
        envelope["eventType"] = draw(st.sampled_from([k.value for k in EventKind]))
    return envelope


@settings(max_examples=500)
@given(st.sampled_from([k.value for k in EventKind]), envelopes())
def test_the_fast_path_makes_the_event_the_careful_one_makes(
    subject: str, envelope: dict[str, object]
) -> None:
    # as a producer writes it, escaping only what JSON must: escapes take the careful way
    message = RawMessage(subject, json.dumps(envelope, ensure_ascii=False).encode(), {}, "S", 7)
    fast = parse_message(message, fast=decode_event_body)
    with patch.object(parsing, "_plain_event", lambda *_: None):
        careful = parse_message(message)
    assert fast == careful
    event(f"fast path took it: {parsing._plain_event(*_parts(message)) is not None}")


def _parts(message: RawMessage) -> tuple[Any, ...]:
    envelope = json.loads(message.data)
    kind = EventKind(message.subject)
    return (kind, envelope, message.data) if isinstance(envelope, dict) else (kind, {}, b"")


_BASE = {"eventId": "k1", "timestamp": TS,
         "data": {"executionId": "e1", "nodeId": "n1", "attempt": 2, "duration": 5}}  # fmt: skip
_ODD_FIELDS = [
    ("data", "attempt", 0),
    ("data", "attempt", True),
    ("data", "attempt", 1.0),
    ("data", "attempt", 2**31),
    ("data", "duration", -1),
    ("data", "duration", 2**53 + 1),
    ("data", "duration", 1.5),
    ("data", "duration", False),
    ("data", "error", {"message": "m"}),
    ("data", "error", 3),
    ("data", "reason", "r"),
    ("data", "executionId", ""),
    ("data", "executionId", 7),
    ("data", "nodeId", None),
    ("data", "nodeType", ""),
    ("data", "nodeName", "n" * 257),
    ("data", "startedAt", "2026-11-25T10:00:00"),
    ("data", "completedAt", "nope"),
    ("", "eventId", "k" * 257),
    ("", "eventId", ""),
    ("", "eventId", 5),
    ("", "timestamp", None),
    ("", "timestamp", "2026-11-25T11:00:00+01:00"),
    ("", "eventType", "execution.started"),
    ("", "correlationId", 1),
    ("", "data", []),
]


@pytest.mark.parametrize(("where", "name", "value"), _ODD_FIELDS)
@pytest.mark.parametrize("subject", ["execution.node.completed", "execution.failed"])
def test_the_fast_path_leaves_each_odd_field_as_the_careful_one_judges_it(
    subject: str, where: str, name: str, value: object
) -> None:
    envelope = json.loads(json.dumps(_BASE))
    (envelope[where] if where else envelope)[name] = value
    message = RawMessage(subject, json.dumps(envelope).encode())
    fast = parse_message(message, fast=decode_event_body)
    with patch.object(parsing, "_plain_event", lambda *_: None):
        assert fast == parse_message(message)
