"""HTTP figures for Prometheus, and GET /metrics, which serves every figure of the registry
it is given (the consumer's too). Left out of the OpenAPI document: it is not the API."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "unmatched"  # any path no route knows: one label value, whatever was asked


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._requests = Counter(
            "execution_service_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self._seconds = Histogram(
            "execution_service_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            registry=registry,
        )
        # label sets are few: methods × route templates × statuses
        self._by_labels: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    @property
    def middleware(self) -> Middleware:
        """Outermost, so that it sees the status the client gets, errors included."""

        @web.middleware
        async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                counted, timed = self._series(request.method, _route(request), status)
                counted.inc()
                timed.observe(time.perf_counter() - started)

        return observe

    def _series(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The request's counter and histogram, looked up once per label set: `labels()`
        checks and locks on every call, several µs a request."""
        key = (method, route, status)
        series = self._by_labels.get(key)
        if series is None:
            series = (
                self._requests.labels(method, route, str(status)),
                self._seconds.labels(method, route),
            )
            self._by_labels[key] = series
        return series

    def add_route(self, app: web.Application) -> None:
        app.router.add_get(METRICS_PATH, make_aiohttp_handler(self.registry))


def _route(request: web.Request) -> str:
    """The template (`/api/executions/{id}`), never the path: label values stay few."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE
