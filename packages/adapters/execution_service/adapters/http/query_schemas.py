"""The schemas of request queries: they validate parameters (a 400 naming the first fault of
each) and describe them in the OpenAPI document. filters.py turns what they load into the
domain's filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate

from execution_service.adapters.http.schemas import STATUSES

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


SORTS = ["-startedAt", "startedAt", "-updatedAt"]


class _Instant(fields.DateTime):
    """An ISO 8601 time that says its offset (or Z): a bare local time is ambiguous."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        self._name = name
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        message = f"{self._name} must be an ISO 8601 time with an offset or Z"
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise ValidationError(message)
        return parsed


# Statuses separated by commas, empty items allowed (they are no status): what _split_statuses
# accepts, said in the document so that a client (or schemathesis) knows it.
_ONE = f"({'|'.join(STATUSES)})?"
STATUS_LIST = f"^ *{_ONE} *(, *{_ONE} *)*$"


def _statuses(description: str) -> fields.List:
    return fields.List(
        fields.String(metadata={"pattern": STATUS_LIST}),
        metadata={"description": f"{description}: repeat it, or separate statuses by commas"},
    )


def _split_statuses(data: dict[str, Any]) -> dict[str, Any]:
    """Empty items are no status (`status=` filters nothing, as `status=FAILED,` is FAILED):
    an empty value is well formed, and a form's empty select sends one."""
    given = [s.strip() for value in data.get("status", ()) for s in value.split(",")]
    wanted = [s for s in given if s]
    if any(s not in STATUSES for s in wanted):
        raise ValidationError({"status": [f"status must be one of {', '.join(STATUSES)}"]})
    return data | {"status": frozenset(wanted)}


class _ExecutionsQuery(_Query):
    @post_load
    def statuses(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _split_statuses(data)


def _filter() -> dict[str, fields.Field]:
    """Which executions: the list's filter, and the whole query of the list's stream. Fresh
    fields for each schema (a field is bound to one)."""
    return {
        "status": _statuses("only executions in these statuses"),
        "workflowId": fields.String(metadata={"description": "only this workflow's executions"}),
        "userId": fields.String(metadata={"description": "only this user's executions"}),
        "startedAfter": _Instant(
            "startedAfter", metadata={"description": "only executions started at or after this"}
        ),
        "startedBefore": _Instant(
            "startedBefore", metadata={"description": "only executions started before this"}
        ),
    }


ExecutionFilterQuery = _ExecutionsQuery.from_dict(_filter(), name="ExecutionFilterQuery")
ExecutionsQuery = _ExecutionsQuery.from_dict(
    {
        "page": _int("page", 1, MAX_PAGE, 1),
        "limit": _int("limit", 1, 100, 10),
        **_filter(),
        "sort": fields.String(
            load_default="-startedAt",
            validate=validate.OneOf(SORTS, error=f"sort must be one of {', '.join(SORTS)}"),
            metadata={
                "description": "start time newest or oldest first (unknown last), or last "
                "updated first; default -startedAt"
            },
        ),
        "cursor": fields.String(
            metadata={
                "description": "keyset pages: empty for the first, then the nextCursor of "
                "the page before; the answer's pagination is then {limit, nextCursor}"
            }
        ),
    },
    name="ExecutionsQuery",
)


_AT = (
    "as the service knew it at this moment (ISO 8601, with an offset or Z): the fold of the "
    "events recorded by then, by the time the service recorded them, not the events' own. "
    "409 while writes that began before that moment are still in flight (ask again)"
)


class ExecutionQuery(_Query):
    at = _Instant("at", metadata={"description": f"the execution {_AT}"})


class LogsQuery(_Query):
    at = _Instant("at", metadata={"description": f"the node runs {_AT}"})
    page = _int("page", 1, MAX_PAGE, 1)
    limit = _int("limit", 1, 1000, 100)
    pageSize = _int("pageSize", 1, 1000, 100)
    status = _statuses("only node runs in these statuses")
    nodeId = fields.String(metadata={"description": "only this node's runs"})
    attempt = fields.Integer(
        strict=False,
        validate=validate.Range(
            min=1, max=MAX_PAGE, error=f"attempt must be between 1 and {MAX_PAGE}"
        ),
        error_messages={"invalid": "attempt must be an integer"},
        metadata={"description": "only runs of this attempt"},
    )

    @post_load
    def statuses(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _split_statuses(data)

    @pre_load
    def page_size_is_limit(self, data: Any, **_: Any) -> Any:
        """pageSize is an alias of limit (the old service's name)."""
        if "pageSize" in data and "limit" not in data:
            data = dict(data) | {"limit": data["pageSize"]}
        return data


class DeadLettersQuery(_Query):
    page = _int("page", 1, MAX_PAGE, 1)
    limit = _int("limit", 1, 100, 20)
    subject = fields.String(metadata={"description": "only letters from this subject"})
    replayed = fields.Boolean(
        error_messages={"invalid": "replayed must be true or false"},
        metadata={
            "description": "only letters replayed (true) or not (false) since they " "last failed"
        },
    )


class DiscardQuery(_Query):
    reason = fields.String(
        required=True,
        validate=validate.Length(1, 500, error="reason must be 1 to 500 characters"),
        error_messages={"required": "reason is required: say why the letter is discarded"},
        metadata={"description": "why the letter is discarded; logged"},
    )
