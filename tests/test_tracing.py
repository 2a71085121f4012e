"""One trace from the HTTP request through the outbox and NATS to the consumer."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import func, select

from libs.common import tracing
from libs.common.messaging import inbox, outbox

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def traced(monkeypatch):
    monkeypatch.setattr(tracing, "ENABLED", tracing.ENABLED)  # restored: off for the others
    tracing.configure("test", exporter=_EXPORTER)  # the provider is process-wide, set once
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def test_tracing_is_off_without_an_otlp_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setattr(tracing, "ENABLED", False)
    assert tracing.configure("exchange") is False
    assert tracing.current_traceparent() is None


async def test_a_listing_is_one_trace_from_request_to_impact(traced, service_factory):
    from services.exchange.app import create_app as exchange_app
    from services.impact.app import create_app as impact_app

    exchange = await service_factory("exchange", exchange_app)
    impact = await service_factory("impact", impact_app)
    response = await exchange.client.post(
        "/items",
        json={"title": "Drill", "category": "drill", "condition": "good", "max_loan_days": 7},
        headers=exchange.auth("alice"),
    )
    assert response.status_code == 201, response.text
    async with exchange.runtime.db.transaction() as session:
        stored = set(await session.scalars(select(outbox.c.traceparent)))
    await exchange.flush_outbox()

    async def applied() -> int:
        async with impact.runtime.db.transaction() as session:
            return await session.scalar(select(func.count()).select_from(inbox))

    async with asyncio.timeout(20):
        while await applied() < 2:  # member joined + item listed
            await asyncio.sleep(0.05)

    spans = traced.get_finished_spans()
    [request] = [s for s in spans if s.kind == SpanKind.SERVER and s.name == "POST /items"]
    trace_id = f"{request.context.trace_id:032x}"
    assert all(tp and tp.split("-")[1] == trace_id for tp in stored)
    published = [s for s in spans if s.kind == SpanKind.PRODUCER]
    consumed = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert {s.name for s in consumed} == {
        "apply exchange.member.joined",
        "apply exchange.item.listed",
    }
    for span in published + consumed:
        assert span.context.trace_id == request.context.trace_id
    producer_ids = {s.context.span_id for s in published}
    assert all(s.parent.span_id in producer_ids for s in consumed)


async def test_our_request_span_continues_an_incoming_trace(traced):
    import httpx

    async def bare(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    transport = httpx.ASGITransport(app=tracing.TraceRequests(bare))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/x", headers={"traceparent": incoming})).status_code == 204
    [span] = traced.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert span.attributes["http.response.status_code"] == 204
