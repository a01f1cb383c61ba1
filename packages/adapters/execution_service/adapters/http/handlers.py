"""The REST API of CONTRACT §2. Each handler reads its ports from `HttpServices`, which the
app hands to `build_app`; this adapter never imports the app, nor knows how it builds them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from execution_service.adapters.http import schemas, serialize
from execution_service.adapters.http.bodies import json_response
from execution_service.adapters.http.live import LiveStreams
from execution_service.domain import (
    Clock,
    ExecutionFilter,
    ExecutionQueries,
    ExecutionRecorder,
    Page,
    Paged,
    RetryPublisher,
    Status,
    get_execution,
    get_history,
    get_node_runs,
    get_retry_requests,
    list_dead_letters,
    list_executions,
    request_retry,
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
    def queries(self) -> Callable[[], ExecutionQueries]: ...

    @property
    def recorder(self) -> Callable[[], ExecutionRecorder]: ...

    @property
    def publisher(self) -> Callable[[], RetryPublisher]: ...

    @property
    def clock(self) -> Callable[[], Clock]: ...

    @property
    def health_checks(self) -> Callable[[], HealthChecks]: ...

    @property
    def readiness_checks(self) -> Callable[[], HealthChecks]: ...

    @property
    def live_streams(self) -> Callable[[], LiveStreams]: ...


SERVICES = web.AppKey[HttpServices]("services")
_ERRORS = {
    400: {"schema": schemas.ErrorSchema, "description": "a parameter is malformed"},
    404: {"schema": schemas.ErrorSchema, "description": "unknown execution"},
}


def _json(body: Any, status: int = 200) -> web.Response:
    return json_response(body, status)


def _query(request: web.Request) -> dict[str, Any]:
    return dict(request["querystring"])


def _page(query: Mapping[str, Any]) -> Page:
    return Page(query["page"], query["limit"])


def _listing(items: list[dict[str, Any]], paged: Paged[Any]) -> web.Response:
    """The envelope of the list endpoints: data and pagination."""
    return _json({"data": items, "pagination": serialize.pagination(paged)})


@docs(tags=["executions"], summary="List executions, newest first", responses={400: _ERRORS[400]})
@querystring_schema(schemas.ExecutionsQuery)
@response_schema(schemas.ExecutionPageSchema, 200, description="a page of executions")
async def list_executions_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = _query(request)
    where = ExecutionFilter(
        status=Status(query["status"]) if "status" in query else None,
        workflow_id=query.get("workflowId"),
        user_id=query.get("userId"),
    )
    paged = await list_executions(services.queries(), _page(query), where)
    return _listing([serialize.execution(e) for e in paged.items], paged)


@docs(tags=["executions"], summary="One execution", responses={404: _ERRORS[404]})
@response_schema(schemas.ExecutionSchema, 200, description="the execution")
async def get_execution_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    view = await get_execution(services.queries(), request.match_info["id"])
    return _json(serialize.execution(view))


@docs(
    tags=["executions"],
    summary="The execution's node runs, by start time, node and attempt",
    responses=_ERRORS,
)
@querystring_schema(schemas.LogsQuery)
@response_schema(schemas.NodeRunPageSchema, 200, description="a page of node runs")
async def get_logs_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    paged = await get_node_runs(
        services.queries(), request.match_info["id"], _page(_query(request))
    )
    return _json(
        {"data": [serialize.node_run(r) for r in paged.items], **serialize.pagination(paged)}
    )


@docs(
    tags=["executions"],
    summary="Retry a FAILED execution from its failed node",
    description="Publishes execution.retry.requested for the orchestrator. Asking again for "
    "the same attempt publishes nothing more and answers the same.",
    responses={
        404: _ERRORS[404],
        409: {"schema": schemas.ErrorSchema, "description": "not FAILED, or no failed node"},
        503: {"schema": schemas.ErrorSchema, "description": "not published; nothing recorded"},
    },
)
@response_schema(schemas.RetryAcceptedSchema, 202, description="retry requested")
async def retry_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    accepted = await request_retry(
        services.queries(),
        services.recorder(),
        services.publisher(),
        services.clock(),
        request.match_info["id"],
    )
    return _json(serialize.retry_accepted(accepted), status=202)


@docs(
    tags=["executions"],
    summary="The events recorded for the execution, as received: its history",
    responses={404: _ERRORS[404]},
)
@response_schema(schemas.HistorySchema, 200, description="the events, in recorded order")
async def history_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    events = await get_history(services.queries(), request.match_info["id"])
    return _json({"data": [serialize.recorded_event(m) for m in events], "total": len(events)})


@docs(
    tags=["executions"],
    summary="The retries requested for the execution",
    responses={404: _ERRORS[404]},
)
@response_schema(schemas.RetriesSchema, 200, description="the retry requests, by attempt")
async def retries_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    requests = await get_retry_requests(services.queries(), request.match_info["id"])
    return _json({"data": [serialize.retry_request(r) for r in requests]})


@docs(tags=["operations"], summary="Events that could not be applied, most recent first")
@querystring_schema(schemas.DeadLettersQuery)
@response_schema(schemas.DeadLetterPageSchema, 200, description="a page of dead letters")
async def dead_letters_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    paged = await list_dead_letters(services.queries(), _page(_query(request)))
    return _listing([serialize.dead_letter(d) for d in paged.items], paged)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/executions", list_executions_handler)
    app.router.add_get("/api/executions/{id}", get_execution_handler)
    app.router.add_get("/api/executions/{id}/logs", get_logs_handler)
    app.router.add_post("/api/executions/{id}/retry", retry_handler)
    app.router.add_get("/api/executions/{id}/events", history_handler)
    app.router.add_get("/api/executions/{id}/retries", retries_handler)
    app.router.add_get("/api/dead-letters", dead_letters_handler)
