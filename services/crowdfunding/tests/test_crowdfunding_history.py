"""Campaigns that closed before the platform are recorded once, with their real dates."""

from datetime import UTC, datetime, timedelta

import nats
import pytest

from libs.common.events import Envelope
from services.crowdfunding.app import create_app

CLOSED = {
    "title": "Camion frigorifique de l'épicerie",
    "category": "food",
    "neighbourhood": "port",
    "holder_id": "org-epicerie",
    "holder_kind": "organisation",
    "goal_cents": 900_000,
    "raised_cents": 870_001,
    "matched_cents": 100_000,
    "commission_rate": "0.05",
    "backers": 112,
    "launched_at": "2025-03-01T09:00:00+01:00",
    "closed_at": "2025-04-15T23:59:00+02:00",
}


@pytest.fixture
async def service(service_factory):
    return await service_factory("crowdfunding", create_app)


async def published(nats_url: str) -> list[Envelope]:
    nc = await nats.connect(nats_url)
    sub = await nc.jetstream().pull_subscribe("sharitories.crowdfunding.>", stream="SHARITORIES")
    msgs = await sub.fetch(10, timeout=5)
    await nc.close()
    return [Envelope.model_validate_json(m.data) for m in msgs]


async def test_succeeded_history_is_settled_with_the_platform_rule(service, nats_server):
    r = await service.client.post(
        "/campaigns/history", json=CLOSED, headers=service.auth("clerk", "staff")
    )
    assert r.status_code == 201, r.text
    body = r.json()
    # total 970,001; 5 % = 48,500.05 → 48,500 (half-up on the cent); net takes the rest.
    assert body["state"] == "paid_out"
    assert (body["total_cents"], body["commission_cents"], body["net_cents"]) == (
        970_001,
        48_500,
        921_501,
    )
    await service.flush_outbox()
    [event] = await published(nats_server.url)
    assert event.type == "crowdfunding.campaign.succeeded"
    assert event.occurred_at == datetime(2025, 4, 15, 21, 59, tzinfo=UTC)
    assert event.data["raised_cents"] == 870_001 and event.data["commission_cents"] == 48_500


async def test_missed_goal_is_recorded_as_failed_without_commission(service, nats_server):
    r = await service.client.post(
        "/campaigns/history",
        json={**CLOSED, "raised_cents": 10_000, "matched_cents": 0},
        headers=service.auth("clerk", "staff"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "failed" and r.json()["commission_cents"] == 0
    await service.flush_outbox()
    [event] = await published(nats_server.url)
    assert event.type == "crowdfunding.campaign.failed"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"closed_at": "2025-02-01T00:00:00+00:00"}, "body"),
        ({"closed_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}, "body.closed_at"),
        ({"commission_rate": "0.2"}, "body.commission_rate"),
        ({"launched_at": "2025-03-01T09:00:00"}, "body"),
    ],
)
async def test_impossible_history_is_refused_naming_the_field(service, change, field):
    r = await service.client.post(
        "/campaigns/history", json={**CLOSED, **change}, headers=service.auth("clerk", "staff")
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"].startswith(field)


async def test_only_staff_record_history(service):
    r = await service.client.post(
        "/campaigns/history", json=CLOSED, headers=service.auth("holly", "resident")
    )
    assert r.status_code == 403
