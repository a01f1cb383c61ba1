"""JSON text as the standard library reads it, which is what the service promises to keep: an
integer stays exact however long. A faster decoder (orjson, in the adapters) reads an integer
beyond 64 bits as a float, so it may decode a text only when this says it cannot hold one."""

from __future__ import annotations

# Digits as "0", anything else as " ": one C pass and a substring search, where a regular
# expression for 19 digits measured slower than orjson's whole decoding.
_DIGITS_AS_ZEROS = bytes(b"0"[0] if chr(i).isdigit() and i < 128 else b" "[0] for i in range(256))
_NINETEEN_DIGITS = b"0" * 19


def may_hold_a_long_integer(text: bytes) -> bool:
    """Whether 19 digits stand in a row somewhere: the shortest integer beyond 64 bits has 19
    (-9223372036854775809). Digits in strings count too; that costs the slower decoder only."""
    return _NINETEEN_DIGITS in text.translate(_DIGITS_AS_ZEROS)
