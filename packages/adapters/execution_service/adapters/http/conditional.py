"""Conditional GETs (RFC 9110 §13.1.2): an ETag on the answer, 304 when the client has it.
The one check of If-None-Match, for the API's answers and the page's files alike.

Two kinds of tag on the API both strong (equal tags mean byte-equal bodies, as serialization is
deterministic: one serializer, dict order fixed):
- one execution's: the store's revision of it (ExecutionView.revision), which changes
  whenever any field of the view does, node counts included. Known before the body is made,
  so a 304 costs neither building nor serializing the body;
- any other answer's: a hash of its body as sent, which changes exactly when the answer does
  (any node run on a logs page, a total). A 304 then saves the transfer and the client's
  parse, not the serialization."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from execution_service.adapters.http.bodies import dumps, json_response, written_response


def etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def not_modified(request: web.Request, tag: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" matches "x"; "*" matches any."""
    given = request.if_none_match
    return given is not None and any(t.value in ("*", tag) for t in given)


def answer(
    request: web.Request,
    tag: str,
    body: Callable[[], web.Response],
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """`body()` under the tag, or a 304 without it when the client has the tag already."""
    response = web.Response(status=304) if not_modified(request, tag) else body()
    response.headers.update(headers or {})
    response.headers["ETag"] = f'"{tag}"'
    return response


def conditional_json(request: web.Request, body: Any) -> web.Response:
    text = dumps(body)
    return answer(request, etag_of(text), lambda: written_response(text))


def revision_json(request: web.Request, revision: str, body: Callable[[], Any]) -> web.Response:
    """Under the store's revision of what `body()` makes, made only when it is sent."""
    return answer(request, f"r{revision}", lambda: json_response(body()))
