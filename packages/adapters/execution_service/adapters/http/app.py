"""The aiohttp application: routes, middlewares, and the OpenAPI 3 document with Swagger UI
served by the service itself at /api/docs (and the AsyncAPI document of its events beside it)."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from aiohttp_apigami import setup_aiohttp_apispec, validation_middleware
from aiohttp_apigami.constants import SWAGGER_DICT
from aiohttp_apigami.core import OpenApiVersion

from execution_service.adapters.http import openapi
from execution_service.adapters.http.asyncapi import add_asyncapi
from execution_service.adapters.http.auth import bearer_tokens
from execution_service.adapters.http.cors import cors
from execution_service.adapters.http.dead_letters import add_dead_letter_routes
from execution_service.adapters.http.errors import json_errors, validation_error
from execution_service.adapters.http.handlers import TRACE_UI_URL, add_routes
from execution_service.adapters.http.health import add_health_routes
from execution_service.adapters.http.limits import MAX_BODY_BYTES, request_limits
from execution_service.adapters.http.metrics import HttpMetrics
from execution_service.adapters.http.page import add_ui_routes
from execution_service.adapters.http.services import SERVICES, HttpServices
from execution_service.adapters.http.stream import add_stream_routes

OPENAPI_URL = "/api/docs/swagger.json"


def build_app(
    services: HttpServices,
    cors_origins: Sequence[str] = ("*",),
    version: str = "1.0.0",
    *,
    metrics: HttpMetrics | None = None,
    api_tokens: Sequence[str] = (),
    read_tokens: Sequence[str] = (),
    subject_prefix: str = "",
    trace_ui_url: str | None = None,
) -> web.Application:
    if (api_tokens or read_tokens) and "*" in cors_origins:
        # any origin echoed with credentials would undo the tokens' point
        raise ValueError("with tokens, CORS origins must be listed, not '*'")
    observe = [metrics.middleware] if metrics else []
    app = web.Application(
        middlewares=[
            *observe,
            cors(cors_origins),
            json_errors,
            bearer_tokens(api_tokens, read_tokens),
            request_limits,
            validation_middleware,
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SERVICES] = services
    if trace_ui_url:
        app[TRACE_UI_URL] = trace_ui_url
    add_stream_routes(app)  # first: /api/executions/stream is not an execution id
    add_routes(app)
    add_dead_letter_routes(app)
    add_health_routes(app)
    if metrics:
        metrics.add_route(app)  # undocumented: apigami lists only routes with @docs
    add_ui_routes(app)
    setup_aiohttp_apispec(
        app,
        title="Execution Service",
        version=version,
        url=OPENAPI_URL,
        swagger_path="/api/docs",
        static_path="/api/docs/static",
        openapi_version=OpenApiVersion.V303,
        error_callback=validation_error,
        in_place=True,
    )
    openapi.complete(app[SWAGGER_DICT], guard_acts=bool(api_tokens), guard_reads=bool(read_tokens))
    add_asyncapi(app, subject_prefix, version)
    return app
