"""Opaque cursors for keyset pages of executions: what a client hands back to get the next page.

A cursor is base64url of a small JSON object: the order, a fingerprint of the filter and the last
row's position. It is opaque to clients (they must not build one) but not secret: nothing in it
is more than the page already showed. A cursor is only good for the list it came from, so one
from another filter or order is refused rather than silently walking a different list."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime

from execution_service.domain.errors import InvalidCursor
from execution_service.domain.views import ExecutionFilter, ExecutionOrder, Position


def _list_id(where: ExecutionFilter, order: ExecutionOrder) -> str:
    return hashlib.sha256(f"{order.value}|{where.fingerprint()}".encode()).hexdigest()[:16]


def encode_cursor(where: ExecutionFilter, order: ExecutionOrder, after: Position) -> str:
    body = {
        "l": _list_id(where, order),
        "t": None if after.at is None else after.at.isoformat(),
        "i": after.id,
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, where: ExecutionFilter, order: ExecutionOrder) -> Position | None:
    """The position a cursor stands for; None for the empty cursor (the first page)."""
    if cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        list_id, at, last_id = body["l"], body["t"], body["i"]
        if not (isinstance(list_id, str) and isinstance(last_id, str)):
            raise TypeError("not strings")
        position = Position(None if at is None else datetime.fromisoformat(at), last_id)
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is malformed: ask for the first page with cursor=") from exc
    naive = position.at is not None and position.at.tzinfo is None
    if naive or (position.at is None and order is ExecutionOrder.LAST_UPDATED):
        raise InvalidCursor("cursor is malformed: ask for the first page with cursor=")
    if list_id != _list_id(where, order):
        raise InvalidCursor(
            "cursor belongs to another filter or sort: keep the parameters of the first page,"
            " or start again with cursor="
        )
    return position
