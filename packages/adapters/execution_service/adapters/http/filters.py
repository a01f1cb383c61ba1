"""A request's query string into the domain's filter, once for every route. The list of
executions, its live stream and the page (which reads through those two) load the same
schema (query_schemas.ExecutionFilterQuery) with the same parser, so a query one route takes
the other takes too, with the same meaning and the same 400 for what is malformed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp_apigami.constants import APISPEC_PARSER
from marshmallow import Schema

from execution_service.adapters.http.query_schemas import ExecutionFilterQuery
from execution_service.domain import ExecutionFilter, NodeRunFilter, Page, Status


async def load_query(request: web.Request, schema: Schema) -> dict[str, Any]:
    """What `querystring_schema` gives a documented handler, for a route that is not in the
    OpenAPI document (a live stream): apigami's parser, so its errors are the same 400."""
    parsed = await request.app[APISPEC_PARSER].parse(
        schema, request, location="querystring", unknown=None
    )
    return dict(parsed)


def query_of(request: web.Request) -> dict[str, Any]:
    """What `querystring_schema` loaded for a documented handler."""
    return dict(request["querystring"])


def page_of(query: Mapping[str, Any]) -> Page:
    return Page(query["page"], query["limit"])


async def execution_filter_of(request: web.Request) -> ExecutionFilter:
    return execution_filter(await load_query(request, ExecutionFilterQuery()))


def execution_filter(query: Mapping[str, Any]) -> ExecutionFilter:
    """From a query loaded by ExecutionFilterQuery or a schema built on it."""
    return ExecutionFilter(
        statuses=frozenset(Status(s) for s in query.get("status", ())),
        workflow_id=query.get("workflowId"),
        user_id=query.get("userId"),
        started_after=query.get("startedAfter"),
        started_before=query.get("startedBefore"),
    )


def node_run_filter(query: Mapping[str, Any]) -> NodeRunFilter:
    return NodeRunFilter(
        statuses=frozenset(Status(s) for s in query.get("status", ())),
        node_id=query.get("nodeId"),
        attempt=query.get("attempt"),
    )
