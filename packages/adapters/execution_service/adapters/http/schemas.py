"""Response schemas: what the OpenAPI document says each body holds (tests/unit/
test_documented_bodies.py holds every body sent to them). Request queries: query_schemas.py."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from execution_service.domain import Status

STATUSES = [s.value for s in Status]


class NodeCountsSchema(Schema):
    total = fields.Integer()
    running = fields.Integer()
    completed = fields.Integer()
    failed = fields.Integer()


class ExecutionSchema(Schema):
    id = fields.String()
    workflowId = fields.String(allow_none=True)
    userId = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    startedAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    completedAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    duration = fields.Integer(allow_none=True, metadata={"description": "milliseconds"})
    error = fields.String(allow_none=True)
    input = fields.Raw(allow_none=True)
    output = fields.Raw(allow_none=True)
    metadata = fields.Raw(allow_none=True)
    attempt = fields.Integer()
    retryOf = fields.String(allow_none=True)
    nodes = fields.Nested(NodeCountsSchema)
    createdAt = fields.String(metadata={"format": "date-time"})
    updatedAt = fields.String(metadata={"format": "date-time"})


class PaginationSchema(Schema):
    total = fields.Integer()
    page = fields.Integer()
    limit = fields.Integer()
    totalPages = fields.Integer()


class ExecutionPaginationSchema(Schema):
    """Offset pages: total, page, limit, totalPages. Cursor pages: limit, nextCursor."""

    total = fields.Integer(metadata={"description": "offset pages only"})
    page = fields.Integer(metadata={"description": "offset pages only"})
    limit = fields.Integer()
    totalPages = fields.Integer(metadata={"description": "offset pages only"})
    nextCursor = fields.String(
        allow_none=True, metadata={"description": "cursor pages only; null at the end"}
    )


class ExecutionPageSchema(Schema):
    data = fields.List(fields.Nested(ExecutionSchema))
    pagination = fields.Nested(ExecutionPaginationSchema)


class NodeRunSchema(Schema):
    id = fields.String()
    executionId = fields.String()
    nodeId = fields.String()
    nodeName = fields.String(allow_none=True)
    nodeType = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    attempt = fields.Integer()
    input = fields.Raw(allow_none=True)
    output = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    startedAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    completedAt = fields.String(allow_none=True, metadata={"format": "date-time"})
    duration = fields.Integer(allow_none=True, metadata={"description": "milliseconds"})
    createdAt = fields.String(metadata={"format": "date-time"})
    updatedAt = fields.String(metadata={"format": "date-time"})


class NodeRunPageSchema(PaginationSchema):
    """The old service's logs shape: the pagination fields beside the data, not nested."""

    data = fields.List(fields.Nested(NodeRunSchema))


class RetryAcceptedSchema(Schema):
    message = fields.String()
    executionId = fields.String()
    failedNodeId = fields.String()
    attempt = fields.Integer()


class HealthSchema(Schema):
    status = fields.String(validate=validate.OneOf(["ok", "error"]))
    service = fields.String()
    timestamp = fields.String(metadata={"format": "date-time"})
    checks = fields.Dict(keys=fields.String(), values=fields.String())


class ErrorSchema(Schema):
    statusCode = fields.Integer()
    message = fields.String()
    error = fields.String()
    timestamp = fields.String(metadata={"format": "date-time"})
    path = fields.String()
    requestId = fields.String(metadata={"description": "on 500 only; in the server's log"})


MALFORMED = {"schema": ErrorSchema, "description": "a parameter is malformed"}


class DeadLetterSchema(Schema):
    key = fields.String()
    subject = fields.String()
    reason = fields.String()
    payload = fields.String(metadata={"description": "as received: text, or base64"})
    encoding = fields.String(
        validate=validate.OneOf(["utf-8", "base64"]),
        metadata={"description": "utf-8 when the payload is valid UTF-8, else base64"},
    )
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    count = fields.Integer(metadata={"description": "how often it failed"})
    firstSeen = fields.String(metadata={"format": "date-time"})
    lastSeen = fields.String(metadata={"format": "date-time"})
    replayedAt = fields.String(
        allow_none=True,
        metadata={
            "format": "date-time",
            "description": "null unless replayed since it last failed",
        },
    )
    replays = fields.Integer(metadata={"description": "how often it was replayed"})


class ReplayAcceptedSchema(Schema):
    message = fields.String()
    key = fields.String()
    messageId = fields.String(metadata={"description": "what the broker de-duplicates on"})
    replays = fields.Integer()


class DeadLetterPageSchema(Schema):
    data = fields.List(fields.Nested(DeadLetterSchema))
    pagination = fields.Nested(PaginationSchema)


class RecordedEventSchema(Schema):
    key = fields.String(metadata={"description": "the de-duplication key (eventId)"})
    subject = fields.String()
    event = fields.Raw(metadata={"description": "the event as received"})


class HistorySchema(Schema):
    data = fields.List(fields.Nested(RecordedEventSchema))
    total = fields.Integer()


class RetryRequestSchema(Schema):
    executionId = fields.String()
    attempt = fields.Integer()
    failedNodeId = fields.String()
    requestedAt = fields.String(metadata={"format": "date-time"})
    messageId = fields.String()


class RetriesSchema(Schema):
    data = fields.List(fields.Nested(RetryRequestSchema))


class TraceLinkSchema(Schema):
    attempt = fields.Integer()
    traceId = fields.String(metadata={"description": "32 hex digits (CONTRACT §7)"})
    url = fields.String(
        allow_none=True, metadata={"description": "TRACE_UI_URL with the trace id; null unset"}
    )


class TracesSchema(Schema):
    data = fields.List(fields.Nested(TraceLinkSchema))
