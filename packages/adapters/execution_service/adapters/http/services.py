"""What the HTTP handlers need, and where they find it: the app hands an HttpServices to
`build_app`, which keeps it in the application under SERVICES; this adapter never imports the
app, nor knows how it builds them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from aiohttp import web

from execution_service.adapters.http.live import LiveStreams
from execution_service.domain import (
    Clock,
    ExecutionQueries,
    ExecutionRecorder,
    ReplayPublisher,
    RetryPublisher,
)

HealthChecks = Mapping[str, Callable[[], Awaitable[object]]]


class HttpServices(Protocol):
    """What the handlers need, each as a factory they call per request. The app's
    dependency-injector container is one as it stands (its providers of these names are such
    factories), and mypy checks that where the app passes it to `build_app`: a renamed or
    mistyped provider is a type error, not a 500 at the first request. Called per request,
    not resolved once, because the NATS client behind the publisher exists only once the app
    has started."""

    @property
    def queries(self) -> Callable[[], ExecutionQueries]:
        """On the primary: what a write is decided on, and what a live stream re-reads on a
        notification (a replica may not have replayed that commit yet, and no second
        notification would follow)."""
        ...

    @property
    def read_queries(self) -> Callable[[], ExecutionQueries]:
        """The query side: a read replica's (DATABASE_READ_URL), else `queries`."""
        ...

    @property
    def recorder(self) -> Callable[[], ExecutionRecorder]: ...

    @property
    def publisher(self) -> Callable[[], RetryPublisher]: ...

    @property
    def replayer(self) -> Callable[[], ReplayPublisher]: ...

    @property
    def clock(self) -> Callable[[], Clock]: ...

    @property
    def health_checks(self) -> Callable[[], HealthChecks]: ...

    @property
    def readiness_checks(self) -> Callable[[], HealthChecks]: ...

    @property
    def live_streams(self) -> Callable[[], LiveStreams]: ...


SERVICES = web.AppKey[HttpServices]("services")
