"""The dead letters' part of the REST API (CONTRACT §2): events that could not be applied,
listed, shown, put back on their subject or discarded with a reason."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from execution_service.adapters.http import query_schemas, schemas, serialize
from execution_service.adapters.http.bodies import json_response
from execution_service.adapters.http.filters import page_of, query_of
from execution_service.adapters.http.services import SERVICES
from execution_service.domain import (
    DeadLetterFilter,
    discard_dead_letter,
    get_dead_letter,
    replay_dead_letter,
)

log = logging.getLogger(__name__)

_NO_LETTER = {"schema": schemas.ErrorSchema, "description": "no dead letter of that key"}


@docs(
    tags=["operations"],
    summary="Events that could not be applied, most recent first",
    responses={400: schemas.MALFORMED},
)
@querystring_schema(query_schemas.DeadLettersQuery)
@response_schema(schemas.DeadLetterPageSchema, 200, description="a page of dead letters")
async def dead_letters_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query = query_of(request)
    where = DeadLetterFilter(subject=query.get("subject"), replayed=query.get("replayed"))
    paged = await services.read_queries().dead_letters(page_of(query), where)
    return json_response(serialize.listing([serialize.dead_letter(d) for d in paged.items], paged))


@docs(tags=["operations"], summary="One dead letter, as received", responses={404: _NO_LETTER})
@response_schema(schemas.DeadLetterSchema, 200, description="the dead letter")
async def dead_letter_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    letter = await get_dead_letter(services.read_queries(), request.match_info["key"])
    return json_response(serialize.dead_letter(letter))


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
    return json_response(serialize.replay_accepted(letter), 202)


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
@querystring_schema(query_schemas.DiscardQuery)
async def discard_handler(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    key, reason = request.match_info["key"], query_of(request)["reason"]
    letter = await discard_dead_letter(services.queries(), services.recorder(), key)
    log.warning("dead letter %s on %s discarded: %s", key, letter.subject, reason)
    return web.Response(status=204)


def add_dead_letter_routes(app: web.Application) -> None:
    app.router.add_get("/api/dead-letters", dead_letters_handler)
    app.router.add_get("/api/dead-letters/{key}", dead_letter_handler)
    app.router.add_delete("/api/dead-letters/{key}", discard_handler)
    app.router.add_post("/api/dead-letters/{key}/replay", replay_handler)
