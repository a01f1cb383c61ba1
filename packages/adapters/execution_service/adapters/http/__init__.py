"""HTTP: the REST API on aiohttp, validated and documented with aiohttp-apigami."""

from execution_service.adapters.http import handlers, stream
from execution_service.adapters.http.app import OPENAPI_URL, build_app
from execution_service.adapters.http.handlers import HealthChecks
from execution_service.adapters.http.live import LiveStreams

__all__ = ["OPENAPI_URL", "HealthChecks", "LiveStreams", "build_app", "handlers", "stream"]
