"""The consumer's orjson decoder parses every body exactly as the standard library alone does:
the same event with the same values (an integer stays an integer, however big), or the same
rejection with the same reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_service.adapters.nats.decoding import decode_event_body
from execution_service.domain import RawMessage, parse_message

SUBJECT = "execution.node.completed"


def both_ways(message: RawMessage) -> tuple[str, str]:
    # repr, not ==: 2**70 == float(2**70), but an event must keep the integer
    return repr(parse_message(message)), repr(parse_message(message, fast=decode_event_body))


def body(**data: Any) -> dict[str, Any]:
    return {
        "eventId": "evt-1",
        "eventType": SUBJECT,
        "timestamp": "2026-11-25T10:00:00.000Z",
        "data": {"executionId": "e1", "nodeId": "n1", **data},
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values, st.booleans())
def test_any_json_value_in_an_event_parses_the_same(value: Any, ascii_only: bool) -> None:
    try:
        data = json.dumps(body(output=value), ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:  # a lone surrogate cannot be written as UTF-8 bytes
        data = json.dumps(body(output=value)).encode()
    plain, fast = both_ways(RawMessage(SUBJECT, data))
    assert fast == plain


@given(st.binary(max_size=64))
def test_any_bytes_parse_the_same(data: bytes) -> None:
    plain, fast = both_ways(RawMessage(SUBJECT, data))
    assert fast == plain


@pytest.mark.parametrize(
    "text",
    [
        '{"output": 123456789012345678901234567890}',
        '{"output": -9223372036854775809}',
        '{"output": 18446744073709551615}',
        '{"output": 1e999}',
        '{"output": -1e999}',
        '{"output": NaN}',
        '{"output": Infinity}',
        '{"output": 1e-999}',
        '{"output": -0}',
        '{"output": -0.0}',
        '{"output": 0.1, "output": 2}',
        '{"output": "\\u0000"}',
        '{"output": "\\ud800"}',
        '{"output": "\\ud83d\\ude00"}',
        '{"output": 1.7976931348623157e308}',
        '{"output": 5e-324}',
    ],
)
def test_numbers_and_escapes_parse_the_same(text: str) -> None:
    data = (
        json.dumps(body())
        .encode()
        .replace(b'"nodeId": "n1"', b'"nodeId": "n1", ' + text[1:-1].encode())
    )
    plain, fast = both_ways(RawMessage(SUBJECT, data))
    assert fast == plain


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + json.dumps(body()).encode(),  # a byte order mark
        json.dumps(body()).encode("utf-16"),
        json.dumps(body(output="\u00e9")).encode("utf-32-le"),
        json.dumps(body(output="x")).encode().replace(b'"x"', b'"\xed\xa0\x80"'),  # CESU-8
        json.dumps(body(output="x")).encode().replace(b'"x"', b'"\xc0\xaf"'),  # overlong
        json.dumps(body(output="x")).encode().replace(b'"x"', b'"\x01"'),  # control character
    ],
)
def test_other_encodings_and_bad_bytes_parse_the_same(data: bytes) -> None:
    plain, fast = both_ways(RawMessage(SUBJECT, data))
    assert fast == plain
