"""Response bodies through orjson, with the standard library for what orjson refuses."""

from __future__ import annotations

import json

from execution_service.adapters.http.bodies import dumps, json_response


def test_bodies_are_the_json_of_the_value() -> None:
    value = {"data": [{"id": "e1", "n": 3, "ok": True, "x": None, "t": "é ☃"}], "total": 1.5}
    assert json.loads(dumps(value)) == value


def test_what_orjson_refuses_still_goes_out_written_as_orjson_writes_the_rest() -> None:
    for value in ({"n": 2**70}, {"n": -(2**64)}, {1: "a"}):
        assert dumps(value) == json.dumps(value, separators=(",", ":")).encode()
    assert dumps({"n": 2**64, "t": "é"}) == '{"n":18446744073709551616,"t":"é"}'.encode()
    assert dumps({"t": "\ud800é"}) == b'{"t":"\\ud800\\u00e9"}'  # UTF-8 can't hold it


def test_a_response_says_it_is_json_in_utf8() -> None:
    response = json_response({"t": "é"}, 201)
    assert (response.status, response.content_type, response.charset) == (
        201,
        "application/json",
        "utf-8",
    )
    assert response.body == '{"t":"é"}'.encode()
