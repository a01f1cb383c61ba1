"""Health: live (the process answers), ready (it can do its work), and the old service's
`GET /api/health` (PostgreSQL and NATS answer), kept as it was for old clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp_apigami import docs, response_schema
from marshmallow import Schema, fields, validate

from execution_service.adapters.http import serialize
from execution_service.adapters.http.bodies import json_response
from execution_service.adapters.http.schemas import HealthSchema
from execution_service.adapters.http.services import SERVICES, HealthChecks

CHECK_TIMEOUT_SECONDS = 2.0
SERVICE = "execution-service"


class LiveSchema(Schema):
    status = fields.String(validate=validate.OneOf(["ok"]))
    service = fields.String()
    timestamp = fields.String(metadata={"format": "date-time"})


class ReadySchema(HealthSchema):
    failing = fields.List(
        fields.String(), metadata={"description": "the checks that are down, by name"}
    )


@docs(
    tags=["operations"],
    summary="Liveness: the process serves requests (touches neither PostgreSQL nor NATS)",
)
@response_schema(LiveSchema, 200, description="alive")
async def live_handler(request: web.Request) -> web.Response:
    return json_response(_body(True))


@docs(
    tags=["operations"],
    summary="Readiness: PostgreSQL answers, NATS is connected, the consumer loop runs",
    responses={503: {"schema": ReadySchema, "description": "not ready; `failing` names why"}},
)
@response_schema(ReadySchema, 200, description="ready")
async def ready_handler(request: web.Request) -> web.Response:
    statuses = await _statuses(request.app[SERVICES].readiness_checks())
    failing = [name for name, status in statuses.items() if status != "up"]
    body = _body(not failing, checks=statuses, failing=failing)
    return json_response(body, 503 if failing else 200)


@docs(
    tags=["operations"],
    summary="Live checks of PostgreSQL and NATS",
    responses={503: {"schema": HealthSchema, "description": "a check is down"}},
)
@response_schema(HealthSchema, 200, description="everything is up")
async def health_handler(request: web.Request) -> web.Response:
    statuses = await _statuses(request.app[SERVICES].health_checks())
    ok = all(s == "up" for s in statuses.values())
    return json_response(_body(ok, checks=statuses), 200 if ok else 503)


def _body(ok: bool, **checked: Any) -> dict[str, Any]:
    """The three answers' one shape (the old service's), what each checked last."""
    status = "ok" if ok else "error"
    return {
        "status": status,
        "service": SERVICE,
        "timestamp": serialize.iso(datetime.now(UTC)),
        **checked,
    }


async def _statuses(checks: HealthChecks) -> dict[str, str]:
    results = await asyncio.gather(*(_outcome(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


async def _outcome(check: Callable[[], Awaitable[object]]) -> str:
    try:
        result = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 - down is down, whatever the reason
        return "down"
    return "down" if result is False else "up"


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/api/health", health_handler)
    app.router.add_get("/api/health/live", live_handler)
    app.router.add_get("/api/health/ready", ready_handler)
