"""The one JSON writer of every body the service sends: REST answers, errors, health, the
documents, and the data of each live-update message. One writer, so the same value is the
same bytes wherever it goes (an SSE message's data is the REST body of the same view), and a
strong ETag over those bytes means what it says.

orjson, several times faster than the standard library. What orjson refuses (an integer
beyond 64 bits, a key that is not a string, a lone surrogate) the standard library writes in
orjson's style (compact, UTF-8), so such a body still goes out, and looks like the rest;
only a lone surrogate, which UTF-8 cannot hold, goes out escaped."""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200) -> web.Response:
    return written_response(dumps(body), status)


def written_response(written: bytes, status: int = 200) -> web.Response:
    """A body `dumps` wrote already (to hash it for an ETag, say)."""
    return web.Response(
        body=written, status=status, content_type="application/json", charset="utf-8"
    )
