"""Request and response schemas: they validate parameters and describe the OpenAPI document."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from execution_service.domain import Status

STATUSES = [s.value for s in Status]
# Past any data, and small enough that page × limit fits the database's integers.
MAX_PAGE = 1_000_000_000


def _int(name: str, low: int, high: int | None, default: int) -> fields.Integer:
    rule = f"between {low} and {high}" if high else f"at least {low}"
    return fields.Integer(
        load_default=default,
        strict=False,
        validate=validate.Range(min=low, max=high, error=f"{name} must be {rule}"),
        error_messages={"invalid": f"{name} must be an integer", "null": f"{name} is empty"},
        metadata={"description": f"{rule}, default {default}"},
    )


class _Query(Schema):
    class Meta:
        unknown = EXCLUDE


class ExecutionsQuery(_Query):
    page = _int("page", 1, MAX_PAGE, 1)
    limit = _int("limit", 1, 100, 10)
    status = fields.String(
        validate=validate.OneOf(STATUSES, error=f"status must be one of {', '.join(STATUSES)}"),
        metadata={"description": "only executions in this status"},
    )
    workflowId = fields.String(metadata={"description": "only this workflow's executions"})
    userId = fields.String(metadata={"description": "only this user's executions"})


class LogsQuery(_Query):
    page = _int("page", 1, MAX_PAGE, 1)
    limit = _int("limit", 1, 1000, 100)
    pageSize = _int("pageSize", 1, 1000, 100)

    @pre_load
    def page_size_is_limit(self, data: Any, **_: Any) -> Any:
        """pageSize is an alias of limit (the old service's name)."""
        if "pageSize" in data and "limit" not in data:
            data = dict(data) | {"limit": data["pageSize"]}
        return data


class DeadLettersQuery(_Query):
    page = _int("page", 1, MAX_PAGE, 1)
    limit = _int("limit", 1, 100, 20)


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


class ExecutionPageSchema(Schema):
    data = fields.List(fields.Nested(ExecutionSchema))
    pagination = fields.Nested(PaginationSchema)


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


class DeadLetterSchema(Schema):
    key = fields.String()
    subject = fields.String()
    reason = fields.String()
    payload = fields.String(metadata={"description": "as received, decoded as UTF-8"})
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    count = fields.Integer()
    firstSeen = fields.String(metadata={"format": "date-time"})
    lastSeen = fields.String(metadata={"format": "date-time"})


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
