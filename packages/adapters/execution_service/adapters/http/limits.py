"""What a request may hold: a small body (the API takes no uploads), and no NUL character in
its path or query (no id or filter can hold one, and PostgreSQL text refuses it)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from execution_service.adapters.http.errors import error_response

MAX_BODY_BYTES = 16 * 1024


def too_large(request: web.Request) -> web.Response:
    return error_response(request, 413, f"the request body is over {MAX_BODY_BYTES} bytes")


@web.middleware
async def request_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    if "\x00" in request.path or "\x00" in request.query_string:
        return error_response(request, 400, "the path or query holds a NUL character")
    if request.body_exists:
        try:
            # stops at the application's client_max_size, with or without a Content-Length
            await request.read()
        except web.HTTPRequestEntityTooLarge:
            return too_large(request)
    return await handler(request)
