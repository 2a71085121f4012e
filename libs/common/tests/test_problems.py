import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from libs.common.auth import Principal
from libs.common.problems import Conflict
from libs.common.rules import InputRefused, PersonRefused, StateRefused, UnverifiedRefused
from libs.common.web import install_problem_handlers


class Pledge(BaseModel):
    amount_cents: int = Field(gt=0)
    campaign_id: str


@pytest.fixture
def client():
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/pledges")
    def pledge(body: Pledge):
        if body.campaign_id == "closed":
            raise Conflict("The campaign is closed.")
        if body.campaign_id == "small":
            raise Conflict(
                "Needs 4000 cents.", code="rewards.below_minimum", params={"min_cents": 4000}
            )
        return body

    @app.post("/rules/{kind}")
    def rule(kind: str):
        refusal = {
            "input": InputRefused("Bad rate.", field="body.rate", code="pools.rate_invalid"),
            "state": StateRefused("Closed.", code="pledges.closed", state="live"),
            "person": PersonRefused("Not yours.", code="too_young", params={"min_age": 16}),
            "unverified": UnverifiedRefused("Verify first.", code="unverified"),
        }[kind]
        raise refusal

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    return TestClient(app, raise_server_exceptions=False)


def test_validation_error_names_the_field(client):
    response = client.post("/pledges", json={"amount_cents": -5, "campaign_id": "c"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["field"] == "body.amount_cents"
    assert "body.amount_cents" in body["detail"]
    assert (body["code"], body["params"]) == ("invalid", {"fields": ["amount_cents"]})


def test_a_problem_carries_its_stable_code_and_params_for_clients_to_word(client):
    body = client.post("/pledges", json={"amount_cents": 5, "campaign_id": "small"}).json()
    assert body["code"] == "rewards.below_minimum" and body["params"] == {"min_cents": 4000}
    assert body["status"] == 409 and body["detail"] == "Needs 4000 cents."
    plain = client.post("/pledges", json={"amount_cents": 5, "campaign_id": "closed"}).json()
    assert "code" not in plain and "params" not in plain


def test_domain_conflict_is_409(client):
    response = client.post("/pledges", json={"amount_cents": 5, "campaign_id": "closed"})
    assert response.status_code == 409
    assert response.json()["detail"] == "The campaign is closed."
    assert response.json()["instance"] == "/pledges"


def test_unexpected_error_is_a_problem_without_internals(client):
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text


def test_malformed_json_is_422_not_500(client):
    response = client.post(
        "/pledges", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("kind", "status", "slug"),
    [
        ("input", 422, "invalid"),
        ("state", 409, "conflict"),
        ("person", 403, "forbidden"),
        ("unverified", 403, "verification-required"),
    ],
)
def test_a_domain_refusal_becomes_its_problem_at_the_edge(client, kind, status, slug):
    response = client.post(f"/rules/{kind}")
    assert response.status_code == status
    body = response.json()
    assert body["type"].endswith("/" + slug) and body["code"]
    if kind == "input":
        assert body["errors"] == [{"field": "body.rate", "message": "Bad rate."}]
    if kind == "state":
        assert body["state"] == "live" and body["params"] == {}
    if kind == "person":
        assert body["params"] == {"min_age": 16}


def test_principal_kind_is_staff_then_organisation_then_resident():
    def kind(*roles):
        return Principal(sub="m", roles=frozenset(roles)).kind

    assert kind("admin") == kind("staff", "organisation") == "staff"
    assert kind("organisation", "resident") == "organisation"
    assert kind("resident") == kind("reviewer") == kind() == "resident"
