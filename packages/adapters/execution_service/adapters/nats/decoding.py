"""Event bodies decoded by orjson, about 3× faster than the standard library here, for the
domain's parser (parsing.py FastDecoder). A body that may hold an integer beyond 64 bits, which
orjson would read as a float, is declined (domain/json_text.py) and the standard library
decodes it; so is whatever orjson refuses (NaN, a lone surrogate, bad UTF-8…)."""

from __future__ import annotations

import orjson

from execution_service.domain import may_hold_a_long_integer


def decode_event_body(data: bytes) -> object:
    if may_hold_a_long_integer(data):
        raise ValueError("may hold an integer beyond 64 bits")
    return orjson.loads(data)
