"""CORS as the old service had it: any origin (echoed, so credentials work), configurable."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

_ALLOW_HEADERS = "Content-Type, Authorization, X-Requested-With, Accept, If-None-Match"
_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def cors(origins: Sequence[str] = ("*",)) -> Middleware:
    any_origin = "*" in origins

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and (any_origin or origin in origins)
        if (
            request.method == "OPTIONS"
            and allowed
            and "Access-Control-Request-Method" in request.headers
        ):
            response: web.StreamResponse = web.Response(status=204)
        else:
            response = await handler(request)
        if allowed:
            assert origin is not None
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Methods"] = _ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = _ALLOW_HEADERS
            response.headers["Access-Control-Expose-Headers"] = "ETag"
            response.headers["Vary"] = "Origin"
        return response

    return middleware
