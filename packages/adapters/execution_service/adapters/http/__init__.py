"""HTTP: the REST API on aiohttp, validated and documented with aiohttp-apigami."""

from execution_service.adapters.http import handlers
from execution_service.adapters.http.app import OPENAPI_URL, build_app
from execution_service.adapters.http.handlers import HealthChecks, HttpServices

__all__ = ["OPENAPI_URL", "HealthChecks", "HttpServices", "build_app", "handlers"]
