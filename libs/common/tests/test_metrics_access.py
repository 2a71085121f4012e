"""/metrics: open in development and tests, behind METRICS_TOKEN in production."""

from __future__ import annotations

from services.exchange.app import create_app

TOKEN = "metrics-token-for-the-city-prometheus-0001"


async def test_metrics_are_open_outside_production(service_factory):
    service = await service_factory("exchange", create_app)
    response = await service.client.get("/metrics")
    assert response.status_code == 200
    assert "sharitories_http_requests_total" in response.text


async def test_production_metrics_need_the_bearer_token(
    service_factory, production_secrets, monkeypatch
):
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    service = await service_factory("exchange", create_app, env="production")
    assert service.settings.metrics_token == TOKEN
    anonymous = await service.client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert "sharitories_" not in anonymous.text
    wrong = await service.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = await service.client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    right = await service.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert "sharitories_http_requests_total" in right.text
    # Health checks stay open for the orchestrator.
    assert (await service.client.get("/healthz")).status_code == 200
