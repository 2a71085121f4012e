"""The machinery of tests/test_route_authorization.py (the tables live there).

A table maps every route of a service ("METHOD /path/{param}") to a Row: the outcome
expected for each caller, a request body and the ids to put in the path. Outcomes are
classes, not exact statuses: "ok" means authorisation let the caller through (2xx, or a
400/409/422 about the input or the state), "401", "403" and "404" mean it did not (a 404
where a resource is hidden from the caller, or simply absent for everyone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CALLERS = ("anonymous", "owner", "other", "organisation", "reviewer", "staff", "admin")
# Who acts first: the owner's and staff's successful actions change state (a withdrawn
# item, a closed service), so they go after everybody whose refusal is being checked.
RUN_ORDER = ("anonymous", "other", "organisation", "reviewer", "owner", "staff", "admin")
TOKENS = {  # sub, roles: every one verified, in the "centre" neighbourhood
    "owner": ("olive", ("resident",)),
    "other": ("oscar", ("resident",)),
    "organisation": ("orga", ("organisation",)),
    "reviewer": ("rita", ("reviewer",)),
    "staff": ("sam", ("staff",)),
    "admin": ("ada", ("admin",)),
}


@dataclass(frozen=True)
class Row:
    """Expected outcomes, in CALLERS order ("401 ok 403 ..."), and how to call the route."""

    expect: str
    body: Any = None  # a JSON body, or a function of (caller, world) giving one
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> key in the world
    headers: Callable[[str], dict[str, str]] | None = None
    content: bytes | None = None  # a raw body instead of JSON

    def expected(self) -> dict[str, str]:
        outcomes = self.expect.split()
        assert len(outcomes) == len(CALLERS), f"{self.expect!r}: one outcome per caller"
        return dict(zip(CALLERS, outcomes, strict=True))


def outcome_of(status: int) -> str:
    return str(status) if status in (401, 403, 404) else "ok"


def routes_of(app) -> set[str]:
    """Every documented route of an app, as "METHOD /path"."""
    return {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def auth_headers(service, caller: str) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    sub, roles = TOKENS[caller]
    return service.auth(sub, *roles, neighbourhood="centre")


async def observe(service, table: dict[str, Row], world: dict[str, str]) -> dict[str, dict]:
    """Call every route of the table as every caller; the outcome classes observed."""
    seen: dict[str, dict[str, str]] = {}
    for key, row in table.items():
        method, template = key.split(" ", 1)
        params = {**world, **{name: world[ref] for name, ref in row.ids.items()}}
        path = template.format(**params)
        seen[key] = {}
        for caller in RUN_ORDER:
            headers = auth_headers(service, caller)
            if row.headers:
                headers = {**headers, **row.headers(caller)}
            body = row.body(caller, world) if callable(row.body) else row.body
            kwargs: dict[str, Any] = {"headers": headers}
            if row.content is not None:
                kwargs["content"] = row.content
            elif body is not None:
                kwargs["json"] = body
            response = await service.client.request(method, path, **kwargs)
            assert response.status_code < 500, f"{key} as {caller}: {response.text}"
            seen[key][caller] = outcome_of(response.status_code)
    return seen


def differences(table: dict[str, Row], seen: dict[str, dict[str, str]]) -> list[str]:
    out = []
    for key, row in table.items():
        wanted = row.expected()
        for caller in CALLERS:
            if seen[key][caller] != wanted[caller]:
                out.append(f"{key} as {caller}: expected {wanted[caller]}, got {seen[key][caller]}")
    return out


def as_table(seen: dict[str, dict[str, str]]) -> str:
    """The observed outcomes in the tables' own notation (to write a new row)."""
    return "\n".join(
        f'    "{key}": Row("{" ".join(seen[key][c] for c in CALLERS)}"),' for key in seen
    )
