"""The aiohttp application: routes, middlewares, and the OpenAPI 3 document with Swagger UI
served by the service itself at /api/docs."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from aiohttp_apigami import setup_aiohttp_apispec, validation_middleware
from aiohttp_apigami.core import OpenApiVersion

from execution_service.adapters.http.cors import cors
from execution_service.adapters.http.errors import json_errors, validation_error
from execution_service.adapters.http.handlers import add_routes
from execution_service.adapters.http.stream import add_stream_routes

OPENAPI_URL = "/api/docs/swagger.json"


def build_app(cors_origins: Sequence[str] = ("*",), version: str = "1.0.0") -> web.Application:
    app = web.Application(middlewares=[cors(cors_origins), json_errors, validation_middleware])
    add_stream_routes(app)  # first: /api/executions/stream is not an execution id
    add_routes(app)
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
    return app
