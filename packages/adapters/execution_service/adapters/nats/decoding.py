"""Event bodies decoded by orjson, about 3× faster than the standard library here, for the
domain's parser (events.py FastDecoder).

orjson reads an integer beyond 64 bits as a float, where the standard library keeps it exact:
a body with 19 digits in a row might hold one, so orjson declines it and the standard library
decodes it. Whatever orjson refuses (NaN, a lone surrogate, bad UTF-8…) goes the same way.
"""

from __future__ import annotations

import orjson

# Digits as "0", anything else as " ": one C pass and a substring search, where a regular
# expression for 19 digits measured slower than orjson's whole decoding.
_DIGITS_AS_ZEROS = bytes(b"0"[0] if chr(i).isdigit() and i < 128 else b" "[0] for i in range(256))
_NINETEEN_DIGITS = b"0" * 19


def decode_event_body(data: bytes) -> object:
    if _NINETEEN_DIGITS in data.translate(_DIGITS_AS_ZEROS):
        raise ValueError("may hold an integer beyond 64 bits")
    return orjson.loads(data)
