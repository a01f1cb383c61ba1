"""GET /api/docs/asyncapi.json: an AsyncAPI 3.0 document of the events the service consumes and
publishes, generated from the declarations the parser reads (domain/event_schema.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from execution_service.adapters.http.bodies import json_response
from execution_service.domain import (
    DATA,
    ENVELOPE,
    MAX_ATTEMPT,
    MAX_DURATION_MS,
    MAX_EVENT_BYTES,
    MAX_ID_LENGTH,
    RETRY_REQUESTED,
    EventKind,
    Field,
    FieldType,
    time_field,
)

ASYNCAPI_URL = "/api/docs/asyncapi.json"
RETRY_SUBJECT = "execution.retry.requested"
_MSG_ID = {"Nats-Msg-Id": {"type": "string", "description": "de-duplicates the message"}}


def field_schema(field: Field, subject: str = "") -> dict[str, Any]:
    """JSON Schema of what the parser accepts for one field (null is absent, where allowed)."""
    kinds: dict[FieldType, dict[str, Any]] = {
        FieldType.ID: {"type": ["string", "null"], "maxLength": MAX_ID_LENGTH},
        FieldType.TIME: {"type": ["string", "null"], "format": "date-time"},
        FieldType.ATTEMPT: {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ATTEMPT},
        FieldType.DURATION: {"type": ["number", "null"], "minimum": 0, "maximum": MAX_DURATION_MS},
        FieldType.ERROR: {},  # text, an object with a message, or anything else kept as JSON
        FieldType.JSON: {},
        FieldType.SUBJECT: {"enum": [subject, None]},
        FieldType.OBJECT: {"type": "object"},
    }
    schema = dict(kinds[field.type])
    if field.required and field.type is FieldType.ID:
        schema = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
    elif field.required and "type" in schema and isinstance(schema["type"], list):
        schema["type"] = schema["type"][0]
    return {"description": field.description, **schema}


def object_schema(fields: tuple[Field, ...], subject: str = "") -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f.name: field_schema(f, subject) for f in fields},
        "required": [f.name for f in fields if f.required],
    }


def envelope_schema(subject: str, data: tuple[Field, ...]) -> dict[str, Any]:
    schema = object_schema(ENVELOPE, subject)
    schema["properties"]["data"] |= object_schema(data)
    at = next((f.name for f in data if f.type is FieldType.TIME), None)
    if at and subject in DATA:
        # the envelope's timestamp and the event's own time stand in for each other
        assert at == time_field(subject)
        schema["anyOf"] = [
            {"required": ["timestamp"], "properties": {"timestamp": {"type": "string"}}},
            {"properties": {"data": {"required": [at], "properties": {at: {"type": "string"}}}}},
        ]
    return schema


def _name(subject: str) -> str:
    head, *rest = subject.replace("execution.", "", 1).split(".")
    return "execution" + "".join(part.capitalize() for part in (head, *rest))


def document(prefix: str = "", version: str = "1.0.0") -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def add(name: str, address: str, action: str, message: dict[str, Any], **extra: Any) -> None:
        messages[name] = message
        channels[name] = {
            "address": address,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            **extra,
        }
        operations[("receive" if action == "receive" else "send") + name[0].upper() + name[1:]] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }

    for kind in EventKind:
        add(
            _name(kind.value),
            prefix + kind.value,
            "receive",
            {
                "name": kind.value,
                "title": kind.value,
                "summary": f"consumed from JetStream; at most {MAX_EVENT_BYTES} bytes",
                "contentType": "application/json",
                "headers": {"type": "object", "properties": _MSG_ID},
                "payload": envelope_schema(kind.value, DATA[kind.value]),
            },
        )
    add(
        "executionRetryRequested",
        prefix + RETRY_SUBJECT,
        "send",
        {
            "name": RETRY_SUBJECT,
            "title": RETRY_SUBJECT,
            "summary": "POST /api/executions/{id}/retry asks the orchestrator to resume",
            "contentType": "application/json",
            "headers": {"type": "object", "properties": _MSG_ID, "required": ["Nats-Msg-Id"]},
            "payload": envelope_schema(RETRY_SUBJECT, RETRY_REQUESTED),
        },
    )
    add(
        "deadLetter",
        prefix + "dlq.{subject}",
        "send",
        {
            "name": "dead letter",
            "title": "dead letter",
            "summary": "an event that could not be applied, as received (also in the API)",
            "contentType": "application/octet-stream",
            "headers": {
                "type": "object",
                "properties": {
                    "Dead-Letter-Reason": {"type": "string", "maxLength": 500},
                },
                "required": ["Dead-Letter-Reason"],
                "description": "the event's own headers, and why it was refused",
            },
            "payload": {"description": "the event's bytes, as received"},
        },
        parameters={"subject": {"description": "the event's subject, e.g. execution.failed"}},
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Execution Service events",
            "version": version,
            "description": "What the service consumes from NATS JetStream and publishes to "
            "NATS (CONTRACT §1). Unknown fields are kept and ignored. An event is refused "
            "(and dead-lettered) if it breaks its schema, is larger than "
            f"{MAX_EVENT_BYTES} bytes, or holds a NUL character or a lone surrogate.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def add_asyncapi(app: web.Application, prefix: str = "", version: str = "1.0.0") -> None:
    body = document(prefix, version)

    async def asyncapi_handler(_: web.Request) -> web.Response:
        return json_response(body)

    app.router.add_get(ASYNCAPI_URL, asyncapi_handler)
