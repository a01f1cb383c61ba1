"""The executions' part of the REST API of CONTRACT §2 (dead_letters.py has the rest). Each
handler reads its ports from the HttpServices under SERVICES (services.py)."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from execution_service.adapters.http import query_schemas, schemas, serialize
from execution_service.adapters.http.bodies import json_response
from execution_service.adapters.http.conditional import conditional_json, revision_json
from execution_service.adapters.http.errors import BadRequest
from execution_service.adapters.http.filters import (
    execution_filter,
    node_run_filter,
    page_of,
    query_of,
)
from execution_service.adapters.http.services import SERVICES
from execution_service.domain import (
    Event,
    ExecutionOrder,
    InvalidCursor,
    execution_at,
    get_execution,
    get_history,
    get_node_runs,
    get_node_runs_at,
    get_retry_requests,
    parse_message,
    request_retry,
    trace_ids,
    walk_executions,
)

_ERRORS = {
    400: schemas.MALFORMED,
    404: {"schema": schemas.ErrorSchema, "description": "unknown execution"},
}
_NOT_SETTLED = {
    "schema": schemas.ErrorSchema,
    "description": "?at= names a moment that writes still in flight may yet be recorded at; "
    "ask again in a moment",
}
_NOT_MODIFIED = {304: {"description": "unchanged since the ETag given in If-None-Match; no body"}}
_ORDERS = {
    "-startedAt": ExecutionOrder.NEWEST_STARTED,
    "startedAt": ExecutionOrder.OLDEST_STARTED,
    "-updatedAt": ExecutionOrder.LAST_UPDATED,
}


@docs(
    tags=["executions"],
    summary="List executions, newest first (or as sort says)",
    description="With page (default): {data, pagination: {total, page, limit, totalPages}}. "
    "With cursor (empty for the first page): {data, pagination: {limit, nextCursor}}, keyset "
    "pages that cost the same at any depth and neither skip nor repeat an execution that "
    "existed when the walk began (for the startedAt sorts; see the contract for -updatedAt).",
    responses={400: _ERRORS[400]},
)
@querystring_schema(query_schemas.ExecutionsQuery)
@response_schema(schemas.ExecutionPageSchema, 200, description="a page of executions")
async def list_executions_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = query_of(request)
    where = execution_filter(query)
    order = _ORDERS[query["sort"]]
    if "cursor" in query:
        try:
            walked = await walk_executions(
                services.read_queries(), query["cursor"], query["limit"], where, order
            )
        except InvalidCursor as exc:
            raise BadRequest(str(exc)) from exc
        data = [serialize.execution(e) for e in walked.items]
        return json_response(
            {
                "data": data,
                "pagination": {"limit": query["limit"], "nextCursor": walked.next_cursor},
            }
        )
    paged = await services.read_queries().executions(page_of(query), where, order)
    return json_response(serialize.listing([serialize.execution(e) for e in paged.items], paged))


@docs(
    tags=["executions"],
    summary="One execution, now or as it stood at a past moment (?at=)",
    description="Sends an ETag; with If-None-Match holding it, the answer is 304, no body. "
    "An answer for ?at= never changes afterwards.",
    responses={**_NOT_MODIFIED, **_ERRORS, 409: _NOT_SETTLED},
)
@querystring_schema(query_schemas.ExecutionQuery)
@response_schema(schemas.ExecutionSchema, 200, description="the execution")
async def get_execution_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    at = query_of(request).get("at")
    if at is None:
        view = await get_execution(services.read_queries(), request.match_info["id"])
    else:  # on the primary: whether a moment is settled is the primary's to say
        view, _ = await execution_at(services.queries(), request.match_info["id"], at)
    return revision_json(request, view.revision, lambda: serialize.execution(view))


@docs(
    tags=["executions"],
    summary="The execution's node runs, by start time, node and attempt (?at=: as they stood)",
    description="Sends an ETag of this page; with If-None-Match holding it, the answer is 304.",
    responses={**_NOT_MODIFIED, **_ERRORS, 409: _NOT_SETTLED},
)
@querystring_schema(query_schemas.LogsQuery)
@response_schema(schemas.NodeRunPageSchema, 200, description="a page of node runs")
async def get_logs_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = query_of(request)
    where = node_run_filter(query)
    execution_id, at = request.match_info["id"], query.get("at")
    if at is None:
        paged = await get_node_runs(services.read_queries(), execution_id, page_of(query), where)
    else:
        paged = await get_node_runs_at(services.queries(), execution_id, at, page_of(query), where)
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
    return json_response(serialize.retry_accepted(accepted), 202)


@docs(
    tags=["executions"],
    summary="The events recorded for the execution, as received: its history",
    responses={404: _ERRORS[404]},
)
@response_schema(schemas.HistorySchema, 200, description="the events, in recorded order")
async def history_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    events = await get_history(services.read_queries(), request.match_info["id"])
    return json_response(
        {"data": [serialize.recorded_event(m) for m in events], "total": len(events)}
    )


@docs(
    tags=["executions"],
    summary="The retries requested for the execution",
    responses={404: _ERRORS[404]},
)
@response_schema(schemas.RetriesSchema, 200, description="the retry requests, by attempt")
async def retries_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    requests = await get_retry_requests(services.read_queries(), request.match_info["id"])
    return json_response({"data": [serialize.retry_request(r) for r in requests]})


# TRACE_UI_URL: a template with {traceId}, or None
TRACE_UI_URL = web.AppKey("trace_ui_url", str)


@docs(
    tags=["executions"],
    summary="The trace of each finished attempt of the execution (CONTRACT §7)",
    responses={404: _ERRORS[404]},
)
@response_schema(schemas.TracesSchema, 200, description="by attempt")
async def traces_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    execution_id = request.match_info["id"]
    history = await get_history(services.read_queries(), execution_id)
    events = [e for e in map(parse_message, history) if isinstance(e, Event)]
    template = request.app.get(TRACE_UI_URL)
    return json_response(
        {
            "data": [
                {
                    "attempt": attempt,
                    "traceId": trace_id,
                    "url": template.replace("{traceId}", trace_id) if template else None,
                }
                for attempt, trace_id in trace_ids(execution_id, events)
            ]
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/executions", list_executions_handler)
    app.router.add_get("/api/executions/{id}", get_execution_handler)
    app.router.add_get("/api/executions/{id}/logs", get_logs_handler)
    app.router.add_post("/api/executions/{id}/retry", retry_handler)
    app.router.add_get("/api/executions/{id}/events", history_handler)
    app.router.add_get("/api/executions/{id}/retries", retries_handler)
    app.router.add_get("/api/executions/{id}/traces", traces_handler)
