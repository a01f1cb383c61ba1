"""Conditional GETs (RFC 9110 §13.1.2): an ETag on the answer, 304 when the client has it.

The tag is a hash of the body as sent, so it changes exactly when the answer does, whatever
part of it changed (any node run on a logs page, a count, a total). It is strong: equal tags
mean byte-equal bodies, as serialization is deterministic (one serializer, dict order fixed).
A 304 skips sending the body, not reading or serializing it: the cost saved is the network
and the client's parse, which is what a polling front end pays for."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web


def etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _matches(request: web.Request, tag: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" matches "x"; "*" matches any."""
    given = request.if_none_match
    return given is not None and any(t.value in ("*", tag) for t in given)


def conditional_json(request: web.Request, body: Any) -> web.Response:
    text = json.dumps(body).encode()
    tag = etag_of(text)
    if _matches(request, tag):
        response = web.Response(status=304)
    else:
        response = web.Response(body=text, content_type="application/json")
    response.headers["ETag"] = f'"{tag}"'
    return response
