"""Every service serves health, readiness, metrics and problem+json errors."""

import importlib

import pytest

from libs.common.settings import SERVICES


@pytest.mark.parametrize("name", SERVICES)
async def test_service_is_ready_with_database_and_nats(service_factory, name):
    create_app = importlib.import_module(f"services.{name}.app").create_app
    service = await service_factory(name, create_app)
    assert (await service.client.get("/healthz")).json()["status"] == "ok"
    ready = await service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "schema": "ok", "nats": "ok"}
    metrics = await service.client.get("/metrics")
    assert "sharitories_http_requests_total" in metrics.text
    missing = await service.client.get("/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404
    assert "x-request-id" in missing.headers


async def test_readyz_is_503_when_nats_goes_away(service_factory, nats_server):
    from services.impact.app import create_app

    service = await service_factory("impact", create_app)
    nats_server.stop()
    import asyncio

    async with asyncio.timeout(10):
        while (await service.client.get("/readyz")).status_code == 200:
            await asyncio.sleep(0.05)
    body = (await service.client.get("/readyz")).json()
    assert body["checks"]["nats"] == "unreachable"
    nats_server.start()
    async with asyncio.timeout(20):
        while (await service.client.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.1)


async def test_start_and_stop_hooks_run_once_each(settings_factory, nats_server):
    from libs.common.web import create_service_app

    calls = []

    def wire(runtime):
        async def started():
            calls.append("started")

        async def stopped():
            calls.append("stopped")

        runtime.on_start(started)
        runtime.on_stop(stopped)

    app = create_service_app(
        "exchange", settings=settings_factory(nats_url=nats_server.url), wire=wire
    )
    async with app.router.lifespan_context(app):
        assert calls == ["started"]
    assert calls == ["started", "stopped"]
