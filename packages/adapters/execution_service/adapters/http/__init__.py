"""HTTP: the REST API on aiohttp, validated and documented with aiohttp-apigami."""

from execution_service.adapters.http import handlers, health, stream
from execution_service.adapters.http.app import OPENAPI_URL, build_app
from execution_service.adapters.http.live import LiveStreams
from execution_service.adapters.http.metrics import METRICS_PATH, HttpMetrics
from execution_service.adapters.http.services import HealthChecks, HttpServices

__all__ = [
    "METRICS_PATH",
    "OPENAPI_URL",
    "HealthChecks",
    "HttpMetrics",
    "HttpServices",
    "LiveStreams",
    "build_app",
    "handlers",
    "health",
    "stream",
]
