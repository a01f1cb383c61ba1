"""Every error is the contract's JSON shape; nothing a client sends produces a stack trace."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NoReturn

from aiohttp import web
from aiohttp.typedefs import Handler
from marshmallow import ValidationError

from execution_service.adapters.http.bodies import json_response
from execution_service.adapters.http.redact import redacted
from execution_service.adapters.http.serialize import iso
from execution_service.domain import Conflict, NotFound, NotSettled, PublishFailed, Unavailable

log = logging.getLogger(__name__)


class BadRequest(Exception):
    pass


def error_response(request: web.Request, status: int, message: str, **extra: Any) -> web.Response:
    body = {
        "statusCode": status,
        "message": message,
        "error": HTTPStatus(status).phrase,
        "timestamp": iso(datetime.now(UTC)),
        "path": redacted(request),
        **extra,
    }
    return json_response(body, status)


def validation_error(error: ValidationError, *_: Any, **__: Any) -> NoReturn:
    """apigami's error_callback: the first message of each parameter, naming it."""
    raise BadRequest("; ".join(_messages(error.messages)))


def _messages(messages: Any, name: str = "") -> list[str]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            inner = key if key not in ("querystring", "match_info", "json") else ""
            out += _messages(value, inner or name)
        return out
    if isinstance(messages, list):
        text = str(messages[0])
        return [text if not name or text.startswith(name) else f"{name}: {text}"]
    return [str(messages)]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return error_response(request, 400, str(exc))
    except NotFound as exc:
        return error_response(request, 404, str(exc))
    except (Conflict, NotSettled) as exc:
        return error_response(request, 409, str(exc))
    except (PublishFailed, Unavailable) as exc:
        log.warning("%s %s: %s", request.method, request.path, exc)
        return error_response(request, 503, "service unavailable, try again later")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {
            404: f"Cannot {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(exc.status, exc.reason)
        response = error_response(request, exc.status, message)
        if "Allow" in exc.headers:  # RFC 9110: a 405 names the methods that are allowed
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:  # noqa: BLE001 - anything unexpected: logged here, never shown
        request_id = uuid.uuid4().hex
        log.exception("request %s failed: %s %s", request_id, request.method, redacted(request))
        return error_response(request, 500, "internal error", requestId=request_id)
