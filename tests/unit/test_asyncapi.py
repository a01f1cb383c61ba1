"""The AsyncAPI document: valid AsyncAPI 3.0, and its payload schemas agree with the parser,
field by field (both come from domain/event_schema.py)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from execution_service.adapters.http.asyncapi import document
from execution_service.app.demo import demo_events
from execution_service.domain import Event, RawMessage, RetryRequest, parse_message
from execution_service.domain.event_schema import DATA, FieldType
from support.events import history

# `.ci/run` fetches the npm package @asyncapi/specs and points this at its schemas/3.0.0.json.
SPEC_SCHEMA = os.environ.get("ASYNCAPI_SCHEMA", "")
DOC = document(prefix="")
PAYLOADS = {m["name"]: m["payload"] for m in DOC["components"]["messages"].values()}


def valid(subject: str, envelope: Any) -> bool:
    validator = jsonschema.Draft7Validator(PAYLOADS[subject])
    return validator.is_valid(envelope)


@pytest.mark.skipif(
    not Path(SPEC_SCHEMA).is_file(),
    reason="ASYNCAPI_SCHEMA does not name AsyncAPI 3.0's JSON Schema (from the npm package "
    "@asyncapi/specs, schemas/3.0.0.json; bash .ci/run fetches it)",
)
def test_the_document_is_valid_asyncapi_3() -> None:
    schema = json.loads(Path(SPEC_SCHEMA).read_text())
    assert schema["$id"].endswith("/3.0.0/asyncapi.json")
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(DOC)]
    assert errors == []
    broken = json.loads(json.dumps(DOC))
    broken["operations"]["receiveExecutionStarted"]["action"] = "consume"
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_it_names_the_seven_subjects_and_what_the_service_publishes() -> None:
    addresses = {channel["address"] for channel in document(prefix="p.")["channels"].values()}
    assert addresses == {f"p.{s}" for s in DATA} | {
        "p.execution.retry.requested",
        "p.dlq.{subject}",
    }
    actions = {
        op["channel"]["$ref"].rsplit("/", 1)[1]: op["action"] for op in DOC["operations"].values()
    }
    assert actions["executionRetryRequested"] == actions["deadLetter"] == "send"
    assert {actions[n] for n in actions if n not in ("executionRetryRequested", "deadLetter")} == {
        "receive"
    }


def test_real_events_that_parse_validate_against_their_payload_schema() -> None:
    messages = [RawMessage(s, json.dumps(e).encode()) for s, e in demo_events()]
    messages += history(10, 3)
    assert {m.subject for m in messages} == set(DATA)
    for msg in messages:
        assert isinstance(parse_message(msg), Event), msg
        assert valid(msg.subject, json.loads(msg.data)), msg


def test_the_retry_request_published_validates() -> None:
    at = datetime(2026, 11, 25, 10, tzinfo=UTC)
    for workflow in ("wf", None):
        request = RetryRequest("e1", 2, "n1", workflow, None, at)
        assert valid("execution.retry.requested", request.envelope())
    broken = RetryRequest("e1", 2, "n1", "wf", None, at).envelope()
    del broken["data"]["failedNodeId"]
    assert not valid("execution.retry.requested", broken)


# For each declared type: values the parser must take, and values of a wrong JSON type it
# must refuse. (A string that is not a time is refused by the parser only: JSON Schema's
# `format` is an annotation.)
GOOD: dict[FieldType, list[Any]] = {
    FieldType.ID: ["x", "a" * 256, None],
    FieldType.TIME: ["2026-11-25T10:00:00.120Z", "2026-11-25T11:00:00+01:00"],
    FieldType.ATTEMPT: [1, 7, 3.0],
    FieldType.DURATION: [0, 12.5, 2**53],
    FieldType.ERROR: ["boom", {"message": "boom"}, [1, 2], None],
    FieldType.JSON: [{"a": [1]}, "text", 3, None],
}
BAD: dict[FieldType, list[Any]] = {
    FieldType.ID: [5, True, {"a": 1}, ["x"], "a" * 257],
    FieldType.TIME: [5, True, {"a": 1}],
    FieldType.ATTEMPT: [0, -1, 1.5, "2", True, 2**31],
    FieldType.DURATION: [-1, "5", False, 2**53 + 2],
    FieldType.ERROR: [],
    FieldType.JSON: [],
}


def cases() -> list[tuple[str, str, Any, bool]]:
    out = []
    for subject, fields in DATA.items():
        for field in fields:
            for value in GOOD[field.type]:
                if not (field.required and value is None):
                    out.append((subject, field.name, value, True))
            out += [(subject, field.name, value, False) for value in BAD[field.type]]
            if field.required:
                out += [(subject, field.name, None, False), (subject, field.name, "", False)]
    return out


@pytest.mark.parametrize(("subject", "name", "value", "accepted"), cases())
def test_parser_and_schema_agree_on_every_declared_field(
    subject: str, name: str, value: Any, accepted: bool
) -> None:
    data = {"executionId": "e1", "nodeId": "n1"} if "node" in subject else {"executionId": "e1"}
    envelope: dict[str, Any] = {
        "eventId": "k",
        "eventType": subject,
        "timestamp": "2026-11-25T10:00:00Z",
    }
    envelope["data"] = data | {name: value}
    parsed = parse_message(RawMessage(subject, json.dumps(envelope).encode()))
    assert isinstance(parsed, Event) is accepted, parsed
    assert valid(subject, envelope) is accepted


@pytest.mark.parametrize("subject", list(DATA))
def test_parser_and_schema_agree_on_the_envelope(subject: str) -> None:
    data = {"executionId": "e1", "nodeId": "n1"}
    at = next(f.name for f in DATA[subject] if f.type is FieldType.TIME)
    for envelope, accepted in [
        ({"timestamp": "2026-11-25T10:00:00Z", "data": data}, True),
        ({"data": data | {at: "2026-11-25T10:00:00Z"}}, True),
        ({"data": data}, False),  # neither time
        ({"timestamp": "2026-11-25T10:00:00Z", "data": [data]}, False),
        ({"timestamp": "2026-11-25T10:00:00Z"}, False),
        ({"timestamp": "2026-11-25T10:00:00Z", "eventType": "execution.x", "data": data}, False),
        ({"timestamp": "2026-11-25T10:00:00Z", "eventId": 5, "data": data}, False),
        ({"timestamp": 5, "data": data}, False),
    ]:
        parsed = parse_message(RawMessage(subject, json.dumps(envelope).encode()))
        assert isinstance(parsed, Event) is accepted, (envelope, parsed)
        assert valid(subject, envelope) is accepted, envelope


def test_what_is_required_is_what_the_contract_says() -> None:
    for subject in DATA:
        data = PAYLOADS[subject]["properties"]["data"]
        node = {"nodeId"} if subject.startswith("execution.node.") else set()
        assert set(data["required"]) == {"executionId"} | node, subject
