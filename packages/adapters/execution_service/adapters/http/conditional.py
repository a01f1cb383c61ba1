"""Conditional GETs (RFC 9110 §13.1.2): an ETag on the answer, 304 when the client has it.

Two kinds of tag, both strong (equal tags mean byte-equal bodies, as serialization is
deterministic: one serializer, dict order fixed):
- one execution's: the store's revision of it (ExecutionView.revision), which changes
  whenever any field of the view does, node counts included. Known before the body is made,
  so a 304 costs neither building nor serializing the body;
- any other answer's: a hash of its body as sent, which changes exactly when the answer does
  (any node run on a logs page, a total). A 304 then saves the transfer and the client's
  parse, not the serialization."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from execution_service.adapters.http.bodies import dumps, written_response


def etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _matches(request: web.Request, tag: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" matches "x"; "*" matches any."""
    given = request.if_none_match
    return given is not None and any(t.value in ("*", tag) for t in given)


def _answer(request: web.Request, tag: str, body: Callable[[], bytes]) -> web.Response:
    if _matches(request, tag):
        response = web.Response(status=304)
    else:
        response = written_response(body())
    response.headers["ETag"] = f'"{tag}"'
    return response


def conditional_json(request: web.Request, body: Any) -> web.Response:
    text = dumps(body)
    return _answer(request, etag_of(text), lambda: text)


def revision_json(request: web.Request, revision: str, body: Callable[[], Any]) -> web.Response:
    """Under the store's revision of what `body()` makes, made only when it is sent."""
    return _answer(request, f"r{revision}", lambda: dumps(body()))
