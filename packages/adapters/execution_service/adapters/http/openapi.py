"""The answers every operation shares, added to the generated OpenAPI document so that it lists
every status an endpoint can give (schemathesis holds the service to it): 400 where a parameter
can be malformed, 401 where a token can be asked for, 413 for a body over the cap, 503
while the store is down."""

from __future__ import annotations

from typing import Any

from execution_service.adapters.http.auth import READ_METHODS, is_open
from execution_service.adapters.http.limits import MAX_BODY_BYTES

SCHEME = "bearerToken"
NO_NUL = "^[^\\u0000]*$"
_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def complete(document: dict[str, Any], guard_acts: bool, guard_reads: bool) -> None:
    """401s are listed wherever a deployment can guard the call; the security requirement only
    where this one does, so that Swagger UI asks for a token exactly when one is needed."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if schema.get("type") == "string" and "pattern" not in schema:
                    schema["pattern"] = NO_NUL  # request_limits answers 400 to one
            if operation.get("parameters"):
                responses.setdefault("400", _error("a parameter is malformed or holds a NUL"))
            responses.setdefault("413", _error(f"the request body is over {MAX_BODY_BYTES} bytes"))
            if is_open(path):
                continue
            responses.setdefault("503", _error("PostgreSQL or NATS is unavailable; try again"))
            reads = method.upper() in READ_METHODS
            responses.setdefault(
                "401",
                _error(
                    "no valid bearer token; asked for when READ_TOKENS is set"
                    if reads
                    else "no valid bearer token; asked for when API_TOKENS is set"
                ),
            )
            if guard_reads if reads else guard_acts:
                operation["security"] = [{SCHEME: []}]
    if guard_acts or guard_reads:
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "one of API_TOKENS (any call), or of READ_TOKENS (reads)",
        }
