"""A service whose schema is migrated after it started waits; no event is dead-lettered.

Issue 15: with impact's schema migrated 40 s after the others, 278 of 346 events went to
the dead-letter stream. Now impact neither pulls nor says ready before its schema is at
head, then applies everything that waited in the stream.
"""

from __future__ import annotations

import asyncio

import httpx
import nats
from sqlalchemy import func, select

from libs.common.broker import create_broker, ensure_streams, publish_event
from libs.common.contracts.exchange import ItemListed
from libs.common.events import DEAD_LETTER_STREAM, Territory, make_event
from libs.common.messaging import inbox
from libs.common.migrations import upgrade_async


async def test_impact_migrated_late_applies_every_event_and_dead_letters_none(
    settings_factory, nats_server
):
    from services.impact.app import create_app

    settings = settings_factory(nats_url=nats_server.url)
    events = [
        make_event(
            ItemListed(
                item_id=f"item-{i}",
                owner_id=f"m{i % 7}",
                category="tools",
                neighbourhood="centre",
                max_loan_days=7,
            ),
            aggregate_id=f"item-{i}",
            territory=Territory(city="valmont", neighbourhood="centre"),
        )
        for i in range(120)
    ]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with asyncio.timeout(20):
            await runtime.broker_ready.wait()
        producer = create_broker(nats_server.url)
        await producer.connect()
        await ensure_streams(producer)
        for event in events:
            await publish_event(producer, event.subject, event.model_dump_json().encode(), event.id)
        await producer.stop()

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://impact") as client:
            assert (await client.get("/readyz")).status_code == 503
            assert all(c._subscription is None for c in runtime.consumers)  # not pulling

            await upgrade_async(
                "impact", settings.database_url_for("impact"), settings.schema_for("impact")
            )

            async def applied() -> int:
                async with runtime.db.transaction() as session:
                    return await session.scalar(
                        select(func.count()).select_from(inbox).where(inbox.c.consumer == "impact")
                    )

            async with asyncio.timeout(30):
                while await applied() < len(events):
                    await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).status_code == 200

    nc = await nats.connect(nats_server.url)
    try:
        info = await nc.jetstream().stream_info(DEAD_LETTER_STREAM)
        assert info.state.messages == 0
    finally:
        await nc.close()
