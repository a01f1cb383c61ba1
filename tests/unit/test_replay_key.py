"""A replayed dead letter keeps the key it was recorded under, however that key was found."""

from __future__ import annotations

import json

from execution_service.domain import REPLAY_OF_HEADER, RawMessage, parse_message


def test_replay_of_stands_in_for_the_key_a_sequence_or_header_gave() -> None:
    replayed = RawMessage(
        "execution.started",
        b"{not json",
        {REPLAY_OF_HEADER: "EVENTS:42", "Nats-Msg-Id": "replay:EVENTS:42:1"},
        stream="EVENTS",
        sequence=99,
    )
    assert parse_message(replayed).key == "EVENTS:42"


def test_an_event_id_still_wins() -> None:
    body = {"eventId": "evt-1", "eventType": "execution.started", "data": {"executionId": "e"}}
    message = RawMessage("execution.started", json.dumps(body).encode(), {REPLAY_OF_HEADER: "x"})
    assert parse_message(message).key == "evt-1"
