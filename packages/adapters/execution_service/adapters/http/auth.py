"""Who may act (CONTRACT §2 "Tokens"): with API_TOKENS set, POST and DELETE need
`Authorization: Bearer <one of them>`; with READ_TOKENS set, reads need one of those or of
API_TOKENS. Health, metrics, the API documents and the static UI page stay open."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from execution_service.adapters.http.errors import error_response

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Nothing here holds data: probes, Prometheus, the OpenAPI/AsyncAPI documents and Swagger UI,
# and the UI's static page (it asks the API, with a token, for everything it shows).
OPEN_PATHS = ("/api/health", "/api/docs", "/metrics", "/ui")
UNAUTHORIZED = "this call needs a valid 'Authorization: Bearer <token>' header"


class Tokens:
    """Compares in constant time: both sides are hashed to one length, and every token is
    compared, so neither the time taken nor an early exit tells which one came close."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = tuple(_digest(t.encode()) for t in tokens)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def admit(self, presented: bytes) -> bool:
        digest = _digest(presented)
        admitted = False
        for known in self._digests:
            admitted |= hmac.compare_digest(digest, known)
        return admitted


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def is_open(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in OPEN_PATHS)


def bearer_tokens(api_tokens: Iterable[str] = (), read_tokens: Iterable[str] = ()) -> Middleware:
    api_tokens, read_tokens = tuple(api_tokens), tuple(read_tokens)
    acting = Tokens(api_tokens)
    # whoever may act may read; reads are open unless READ_TOKENS is set
    reading = Tokens((*read_tokens, *api_tokens) if read_tokens else ())

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        tokens = reading if request.method in READ_METHODS else acting
        if (
            not tokens
            or is_open(request.path)
            # no such route or method: the 404 or 405 reveals nothing worth a token
            or request.match_info.http_exception is not None
            or tokens.admit(_bearer(request))
        ):
            return await handler(request)
        response = error_response(request, 401, UNAUTHORIZED)
        response.headers["WWW-Authenticate"] = 'Bearer realm="execution-service"'
        return response

    return middleware


def _bearer(request: web.Request) -> bytes:
    """The token of an `Authorization: Bearer` header; never one from the query string."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" else b""
