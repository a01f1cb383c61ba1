"""What each event carries, declared once (CONTRACT §1). The parser takes the required fields
from here; the HTTP adapter turns the same declarations into the AsyncAPI document's schemas,
and a unit test holds the parser to every declared type."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs


class FieldType(enum.Enum):
    ID = "id"  # text of at most MAX_ID_LENGTH characters; null or "" counts as absent
    TIME = "time"  # an ISO-8601 string; without a zone it is UTC
    ATTEMPT = "attempt"  # a positive integer, default 1
    DURATION = "duration"  # a non-negative number of milliseconds
    ERROR = "error"  # text; an object keeps its `message`; anything else is kept as JSON text
    JSON = "json"  # any JSON value, stored as given
    SUBJECT = "subject"  # equals the subject, when given
    OBJECT = "object"  # a JSON object (the envelope's data)


@attrs.frozen
class Field:
    name: str
    type: FieldType
    description: str
    required: bool = False


ENVELOPE: tuple[Field, ...] = (
    Field("eventId", FieldType.ID, "unique; the de-duplication key (else Nats-Msg-Id)"),
    Field("eventType", FieldType.SUBJECT, "equals the subject"),
    Field("timestamp", FieldType.TIME, "when it happened; orders conflicting reports"),
    Field("version", FieldType.JSON, "the envelope's version, e.g. 1.0; not read"),
    Field("correlationId", FieldType.ID, "kept with the event"),
    Field("causationId", FieldType.ID, "kept with the event"),
    Field("data", FieldType.OBJECT, "what happened; its fields depend on the subject", True),
)

_EXECUTION_ID = Field("executionId", FieldType.ID, "the execution", required=True)
_NODE_ID = Field("nodeId", FieldType.ID, "the node in the workflow", required=True)
_WORKFLOW_ID = Field("workflowId", FieldType.ID, "the workflow executed")
_USER_ID = Field("userId", FieldType.ID, "who started it")
_NODE_TYPE = Field("nodeType", FieldType.ID, "the node's kind")
_NODE_NAME = Field("nodeName", FieldType.ID, "the node's display name")
_ATTEMPT = Field("attempt", FieldType.ATTEMPT, "1 for the first run, raised by each retry")
_DURATION = Field("duration", FieldType.DURATION, "milliseconds")
_INPUT = Field("input", FieldType.JSON, "stored as given")
_OUTPUT = Field("output", FieldType.JSON, "stored as given")
_ERROR = Field("error", FieldType.ERROR, "why it failed")


def _at(name: str) -> Field:
    return Field(name, FieldType.TIME, "when it happened; defaults to the envelope's timestamp")


# By subject, in the order CONTRACT §1 lists them. Each subject has exactly one TIME field: the
# event's own time, which stands in for a missing envelope timestamp.
DATA: Mapping[str, tuple[Field, ...]] = {
    "execution.started": (
        _EXECUTION_ID, _WORKFLOW_ID, _USER_ID, _at("startedAt"), _INPUT,
        Field("metadata", FieldType.JSON, "stored as given"),
        Field("retryOf", FieldType.ID, "the execution this one retries"), _ATTEMPT,
    ),
    "execution.node.started": (
        _EXECUTION_ID, _NODE_ID, _NODE_TYPE, _NODE_NAME, _INPUT, _at("startedAt"), _ATTEMPT,
    ),
    "execution.node.completed": (
        _EXECUTION_ID, _NODE_ID, _NODE_TYPE, _NODE_NAME, _OUTPUT, _at("completedAt"), _DURATION,
        _ATTEMPT,
    ),
    "execution.node.failed": (
        _EXECUTION_ID, _NODE_ID, _NODE_TYPE, _NODE_NAME, _ERROR, _at("failedAt"), _ATTEMPT,
    ),
    "execution.completed": (
        _EXECUTION_ID, _WORKFLOW_ID, _USER_ID, _at("completedAt"), _DURATION, _OUTPUT, _ATTEMPT,
    ),
    "execution.failed": (
        _EXECUTION_ID, _WORKFLOW_ID, _USER_ID, _ERROR, _at("failedAt"), _ATTEMPT,
    ),
    "execution.cancelled": (
        _EXECUTION_ID, _WORKFLOW_ID, _USER_ID, _at("cancelledAt"),
        Field("reason", FieldType.ERROR, "why it was cancelled (read as error)"), _ATTEMPT,
    ),
}  # fmt: skip

# What the service publishes: `execution.retry.requested`'s data (in the same envelope).
RETRY_REQUESTED: tuple[Field, ...] = (
    _EXECUTION_ID,
    Field("workflowId", FieldType.ID, "the workflow to resume"),
    Field("userId", FieldType.ID, "who started the execution"),
    Field("failedNodeId", FieldType.ID, "the node to resume from", required=True),
    Field("attempt", FieldType.ATTEMPT, "the attempt to run: the last one + 1", required=True),
    Field("requestedAt", FieldType.TIME, "when the retry was asked for", required=True),
)


def required(subject: str) -> frozenset[str]:
    """The data fields an event on `subject` must have."""
    return frozenset(f.name for f in DATA[subject] if f.required)


def time_field(subject: str) -> str:
    return next(f.name for f in DATA[subject] if f.type is FieldType.TIME)
