"""The shared edge: strict types, the verified-member gate, declared problem responses."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from libs.common.auth import (
    CurrentPrincipal,
    OptionalPrincipal,
    TokenVerifier,
    VerifiedMember,
    mint_token,
)
from libs.common.openapi import declare_problem_responses, install_problem_schema, problems
from libs.common.settings import Settings
from libs.common.types import Birthdate, Cents, CivicDate, CivicDateTime, Minutes, StrictFlag
from libs.common.web import install_problem_handlers


class Body(BaseModel):
    amount_cents: Cents = Field(gt=0, le=500)
    minutes: Minutes = 0
    flag: StrictFlag = False
    on: CivicDate | None = None
    at: CivicDateTime | None = None
    born: Birthdate | None = None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ({"amount_cents": 100}, True),
        ({"amount_cents": "100"}, False),
        ({"amount_cents": True}, False),
        ({"amount_cents": 1.0}, False),
        ({"amount_cents": 0}, False),  # the use site's gt=0 still holds
        ({"amount_cents": 501}, False),  # and so does its le=500
        ({"amount_cents": 1, "minutes": -1}, False),
        ({"amount_cents": 1, "flag": True}, True),
        ({"amount_cents": 1, "flag": 0}, False),
        ({"amount_cents": 1, "flag": "true"}, False),
        ({"amount_cents": 1, "on": "2026-05-01"}, True),
        ({"amount_cents": 1, "on": "0151-10-01"}, False),
        ({"amount_cents": 1, "on": "2101-01-01"}, False),
        ({"amount_cents": 1, "on": 0}, False),
        ({"amount_cents": 1, "at": "2026-05-01T10:00:00+02:00"}, True),
        ({"amount_cents": 1, "at": 0}, False),
        ({"amount_cents": 1, "at": 1_700_000_000}, False),
        ({"amount_cents": 1, "born": "1950-02-01"}, True),
        ({"amount_cents": 1, "born": "1850-02-01"}, False),
    ],
)
def test_strict_edge_types(value, ok):
    if ok:
        Body.model_validate(value)
    else:
        with pytest.raises(ValidationError) as caught:
            Body.model_validate(value)
        assert len(caught.value.errors()) == 1


def test_python_callers_may_still_pass_dates():
    body = Body(amount_cents=1, on=date(2030, 1, 2), at=datetime(2030, 1, 2, 3, 4))
    assert body.on == date(2030, 1, 2)


def small_app(settings: Settings) -> FastAPI:
    router = APIRouter()

    @router.post("/spend")
    async def spend(member: VerifiedMember, body: Body) -> dict:
        return {"sub": member.sub}

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str, principal: OptionalPrincipal) -> dict:
        return {}

    @router.get("/me")
    async def me(principal: CurrentPrincipal) -> dict:
        return {}

    @router.get("/public")
    async def public() -> dict:
        return {}

    @router.get("/hook", responses=problems(400))
    async def hook() -> dict:
        return {}

    app = FastAPI()
    install_problem_handlers(app)
    app.state.runtime = type("R", (), {"verifier": TokenVerifier(settings)})()
    declare_problem_responses(router.routes)
    app.include_router(router)
    install_problem_schema(app)
    return app


def test_unverified_accounts_are_refused_with_a_recognisable_problem_but_staff_are_not():
    s = Settings(env="test")
    client = TestClient(small_app(s))

    def spend(roles, verified):
        token = mint_token(s, sub="m", roles=roles, verified=verified)
        return client.post(
            "/spend", json={"amount_cents": 5}, headers={"Authorization": f"Bearer {token}"}
        )

    refused = spend(["resident"], False)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/verification-required")
    assert refused.json()["title"] == "Verification required"
    assert spend(["organisation"], False).status_code == 403
    assert spend(["resident"], True).status_code == 200
    assert spend(["staff"], False).status_code == 200
    assert spend(["admin"], False).status_code == 200
    assert client.post("/spend", json={"amount_cents": 5}).status_code == 401


def test_problem_responses_follow_what_a_route_is_made_of():
    schema = small_app(Settings(env="test")).openapi()
    declared = {
        f"{method.upper()} {path}": sorted(op["responses"])
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    }
    assert declared == {
        "POST /spend": ["200", "400", "401", "403", "404", "409", "413", "422"],
        "GET /things/{thing_id}": ["200", "401", "404", "422"],
        "GET /me": ["200", "401", "403"],
        "GET /public": ["200"],
        "GET /hook": ["200", "400"],
    }
    problem = schema["paths"]["/spend"]["post"]["responses"]["422"]["content"]
    assert problem == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
