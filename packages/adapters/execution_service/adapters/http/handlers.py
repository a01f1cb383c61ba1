"""The REST API of CONTRACT §2. Each handler reads its ports from `HttpServices`, which the
app hands to `build_app`; this adapter never imports the app, nor knows how it builds them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from execution_service.adapters.http import schemas, serialize
from execution_service.adapters.http.bodies import json_response
from execution_service.adapters.http.conditional import conditional_json, revision_json
from execution_service.adapters.http.errors import BadRequest
from execution_service.adapters.http.live import LiveStreams
from execution_service.domain import (
    Clock,
    DeadLetterFilter,
    ExecutionFilter,
    ExecutionOrder,
    ExecutionQueries,
    ExecutionRecorder,
    InvalidCursor,
    NodeRunFilter,
    Page,
    Paged,
    ReplayPublisher,
    RetryPublisher,
    Status,
    discard_dead_letter,
    execution_at,
    get_dead_letter,
    get_execution,
    get_history,
    get_node_runs,
    get_node_runs_at,
    get_retry_requests,
    list_dead_letters,
    list_executions,
    replay_dead_letter,
    request_retry,
    walk_executions,
)

log = logging.getLogger(__name__)

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
_ERRORS = {
    400: {"schema": schemas.ErrorSchema, "description": "a parameter is malformed"},
    404: {"schema": schemas.ErrorSchema, "description": "unknown execution"},
}
_NOT_SETTLED = {
    "schema": schemas.ErrorSchema,
    "description": "?at= names a moment that writes still in flight may yet be recorded at; "
    "ask again in a moment",
}
_NOT_MODIFIED = {304: {"description": "unchanged since the ETag given in If-None-Match; no body"}}
_NO_LETTER = {"schema": schemas.ErrorSchema, "description": "no dead letter of that key"}
_ORDERS = {
    "-startedAt": ExecutionOrder.NEWEST_STARTED,
    "startedAt": ExecutionOrder.OLDEST_STARTED,
    "-updatedAt": ExecutionOrder.LAST_UPDATED,
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


@docs(
    tags=["executions"],
    summary="List executions, newest first (or as sort says)",
    description="With page (default): {data, pagination: {total, page, limit, totalPages}}. "
    "With cursor (empty for the first page): {data, pagination: {limit, nextCursor}}, keyset "
    "pages that cost the same at any depth and neither skip nor repeat an execution that "
    "existed when the walk began (for the startedAt sorts; see the contract for -updatedAt).",
    responses={400: _ERRORS[400]},
)
@querystring_schema(schemas.ExecutionsQuery)
@response_schema(schemas.ExecutionPageSchema, 200, description="a page of executions")
async def list_executions_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = _query(request)
    where = ExecutionFilter(
        statuses=frozenset(Status(s) for s in query.get("status", ())),
        workflow_id=query.get("workflowId"),
        user_id=query.get("userId"),
        started_after=query.get("startedAfter"),
        started_before=query.get("startedBefore"),
    )
    order = _ORDERS[query["sort"]]
    if "cursor" in query:
        try:
            walked = await walk_executions(
                services.queries(), query["cursor"], query["limit"], where, order
            )
        except InvalidCursor as exc:
            raise BadRequest(str(exc)) from exc
        data = [serialize.execution(e) for e in walked.items]
        return _json(
            {
                "data": data,
                "pagination": {"limit": query["limit"], "nextCursor": walked.next_cursor},
            }
        )
    paged = await list_executions(services.queries(), _page(query), where, order)
    return _listing([serialize.execution(e) for e in paged.items], paged)


@docs(
    tags=["executions"],
    summary="One execution, now or as it stood at a past moment (?at=)",
    description="Sends an ETag; with If-None-Match holding it, the answer is 304, no body. "
    "An answer for ?at= never changes afterwards.",
    responses={**_NOT_MODIFIED, **_ERRORS, 409: _NOT_SETTLED},
)
@querystring_schema(schemas.ExecutionQuery)
@response_schema(schemas.ExecutionSchema, 200, description="the execution")
async def get_execution_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    at = _query(request).get("at")
    if at is None:
        view = await get_execution(services.queries(), request.match_info["id"])
    else:
        view, _ = await execution_at(services.queries(), request.match_info["id"], at)
    return revision_json(request, view.revision, lambda: serialize.execution(view))


@docs(
    tags=["executions"],
    summary="The execution's node runs, by start time, node and attempt (?at=: as they stood)",
    description="Sends an ETag of this page; with If-None-Match holding it, the answer is 304.",
    responses={**_NOT_MODIFIED, **_ERRORS, 409: _NOT_SETTLED},
)
@querystring_schema(schemas.LogsQuery)
@response_schema(schemas.NodeRunPageSchema, 200, description="a page of node runs")
async def get_logs_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = _query(request)
    where = NodeRunFilter(
        statuses=frozenset(Status(s) for s in query.get("status", ())),
        node_id=query.get("nodeId"),
        attempt=query.get("attempt"),
    )
    execution_id, at = request.match_info["id"], query.get("at")
    if at is None:
        paged = await get_node_runs(services.queries(), execution_id, _page(query), where)
    else:
        paged = await get_node_runs_at(services.queries(), execution_id, at, _page(query), where)
    return conditional_json(
        request,
        {"data": [serialize.node_run(r) for r in paged.items], **serialize.pagination(paged)},
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


@docs(
    tags=["operations"],
    summary="Events that could not be applied, most recent first",
    responses={400: _ERRORS[400]},
)
@querystring_schema(schemas.DeadLettersQuery)
@response_schema(schemas.DeadLetterPageSchema, 200, description="a page of dead letters")
async def dead_letters_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = _query(request)
    where = DeadLetterFilter(subject=query.get("subject"), replayed=query.get("replayed"))
    paged = await list_dead_letters(services.queries(), _page(query), where)
    return _listing([serialize.dead_letter(d) for d in paged.items], paged)


@docs(tags=["operations"], summary="One dead letter, as received", responses={404: _NO_LETTER})
@response_schema(schemas.DeadLetterSchema, 200, description="the dead letter")
async def dead_letter_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    letter = await get_dead_letter(services.queries(), request.match_info["key"])
    return _json(serialize.dead_letter(letter))


@docs(
    tags=["operations"],
    summary="Put a dead letter back on its subject, as received",
    description="Publishes its subject, payload and headers through JetStream, de-duplicated "
    "on Nats-Msg-Id replay:<key>:<count>, so asking twice publishes once. Once replayed, "
    "asking again publishes nothing until it fails again.",
    responses={
        404: _NO_LETTER,
        503: {"schema": schemas.ErrorSchema, "description": "not published; nothing marked"},
    },
)
@response_schema(schemas.ReplayAcceptedSchema, 202, description="replayed")
async def replay_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    letter = await replay_dead_letter(
        services.queries(),
        services.recorder(),
        services.replayer(),
        services.clock(),
        request.match_info["key"],
    )
    return _json(serialize.replay_accepted(letter), status=202)


@docs(
    tags=["operations"],
    summary="Discard a dead letter, saying why",
    description="The letter is deleted; the reason is logged with its key and subject.",
    responses={
        204: {"description": "discarded"},
        400: {"schema": schemas.ErrorSchema, "description": "no reason given"},
        404: _NO_LETTER,
    },
)
@querystring_schema(schemas.DiscardQuery)
async def discard_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    key, reason = request.match_info["key"], _query(request)["reason"]
    letter = await discard_dead_letter(services.queries(), services.recorder(), key)
    log.warning("dead letter %s on %s discarded: %s", key, letter.subject, reason)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/executions", list_executions_handler)
    app.router.add_get("/api/executions/{id}", get_execution_handler)
    app.router.add_get("/api/executions/{id}/logs", get_logs_handler)
    app.router.add_post("/api/executions/{id}/retry", retry_handler)
    app.router.add_get("/api/executions/{id}/events", history_handler)
    app.router.add_get("/api/executions/{id}/retries", retries_handler)
    app.router.add_get("/api/dead-letters", dead_letters_handler)
    app.router.add_get("/api/dead-letters/{key}", dead_letter_handler)
    app.router.add_delete("/api/dead-letters/{key}", discard_handler)
    app.router.add_post("/api/dead-letters/{key}/replay", replay_handler)
