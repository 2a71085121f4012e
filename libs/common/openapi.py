"""What every route answers besides success, declared once for the whole platform.

Every service answers errors as RFC 9457 `application/problem+json` (see problems.py), but
FastAPI only documents the success and a JSON 422 of its own. `declare_problem_responses`
walks an app's routes once, after the routers are included, and declares on each the
problem responses it can really send, worked out from what the route is made of:

- 401 when it reads a bearer token (a bad token is refused even where one is optional),
  403 when the token is required (roles, ownership and verification are checked then);
- 422 when it has any parameter or body to validate; 400 when a body that is not JSON
  at all (not even UTF-8) cannot be parsed;
- 404 when its path or its body names something (an id that may not exist);
- 409 and 413 when it changes something (a conflict with stored data; a body too large).

A route declares anything else itself with `problems(...)` in its decorator (a webhook's
400, a 404 without path parameters); what a decorator declares is never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from libs.common.auth import current_principal, optional_principal
from libs.common.problems import MEDIA_TYPE

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; validation problems list each field.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
DESCRIPTIONS = {
    400: "Bad request (e.g. a body that cannot be parsed)",
    401: "Authentication required (no token, or an invalid one)",
    403: "Forbidden (a role, ownership or verification is missing)",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the current state",
    413: "Request body too large",
    422: "Invalid input (each field is named)",
    429: "Too many requests",
    503: "A dependency is unavailable; try again later",
}
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}


def problem_response(status: int) -> dict[str, Any]:
    """One OpenAPI response object: a problem document with this status."""
    return {
        "description": DESCRIPTIONS.get(status, "Problem"),
        "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
    }


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route decorator: `responses=problems(400, 404)`."""
    return {status: problem_response(status) for status in statuses}


def problem_statuses(route: APIRoute) -> set[int]:
    """The problem statuses this route can answer, from its parameters and dependencies."""
    tree = list(_walk(route.dependant))
    calls = {dependant.call for dependant in tree}
    statuses: set[int] = set()
    if current_principal in calls:
        statuses |= {401, 403}
    elif optional_principal in calls:
        statuses.add(401)
    if any(_parameters(dependant) for dependant in tree):
        statuses.add(422)
    if any(dependant.path_params or dependant.body_params for dependant in tree):
        statuses.add(404)
    if any(dependant.body_params for dependant in tree):
        statuses.add(400)
    if route.methods & CHANGES:
        statuses |= {409, 413}
    return statuses


def _walk(dependant: Dependant):
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _parameters(dependant: Dependant) -> bool:
    return bool(
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
    )


def declare_problem_responses(routes: Iterable[BaseRoute]) -> None:
    """Declare each route's problem responses (call before `include_router`: FastAPI copies
    a router's routes into the app lazily, with the responses they have then)."""
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for status in sorted(problem_statuses(route)):
            # FastAPI's own 422 says application/json; ours says what is really sent.
            if status not in route.responses and str(status) not in route.responses:
                route.responses[status] = problem_response(status)


def install_problem_schema(app: FastAPI) -> None:
    """Put the shared Problem schema into the app's OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI caches it; adding the same schema again is harmless
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        # FastAPI documents these for its own JSON 422, which no route sends any more.
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
