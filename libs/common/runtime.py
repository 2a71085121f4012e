"""What a running service holds: settings, database, broker, outbox relay, consumers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common import tracing
from libs.common.auth import TokenVerifier
from libs.common.broker import (
    EventConsumer,
    Handler,
    create_broker,
    ensure_streams,
    is_connected,
    publish_event,
    subscribe_events,
)
from libs.common.db import Database
from libs.common.events import Territory
from libs.common.logs import get_logger
from libs.common.metrics import EVENTS_PUBLISHED
from libs.common.migrations import at_head, current_revisions, script_directory
from libs.common.outbox import OutboxRelay
from libs.common.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")


class ServiceRuntime:
    """One service's process-wide resources, started and stopped by the app's lifespan."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.db = Database(
            settings.database_url_for(name),
            schema=settings.schema_for(name),
            pool_size=settings.database_pool_size,
        )
        self.broker = create_broker(settings.nats_url, name=f"sharitories-{name}")
        self.verifier = TokenVerifier(settings)
        self.relay = OutboxRelay(
            self.db,
            self._publish,
            poll_seconds=settings.outbox_poll_seconds,
            is_connected=lambda: is_connected(self.broker),
        )
        self.consumers: list[EventConsumer] = []
        self.broker_ready = asyncio.Event()
        # Set once the database schema is at the code's Alembic head: consumers and the
        # relay wait for it, /readyz answers 503 until then.
        self.schema_ready = asyncio.Event()
        self._script = script_directory(name)
        self._tasks: list[asyncio.Task] = []
        self._background: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._attached: dict[type, object] = {}

    def attach(self, part: object) -> None:
        """Keep one of the service's own objects (e.g. its use-case context) for its routes."""
        self._attached[type(part)] = part

    def attached(self, kind: type[T]) -> T:
        """The object of type `kind` that `wire` attached; KeyError if none was."""
        return cast(T, self._attached[kind])

    def territory(self, neighbourhood: str | None) -> Territory:
        return Territory(city=self.settings.territory_city, neighbourhood=neighbourhood)

    def consume(
        self, subject: str, handle: Handler, *, consumer: str | None = None, **options
    ) -> EventConsumer:
        """Register a durable, idempotent consumer (before the runtime starts)."""
        event_consumer = subscribe_events(
            self.broker,
            db=self.db,
            consumer=consumer or self.name,
            subject=subject,
            handle=handle,
            max_deliver=self.settings.consumer_max_deliver,
            ack_wait=self.settings.consumer_ack_wait_seconds,
            ready=self.schema_ready.wait,
            **options,
        )
        self.consumers.append(event_consumer)
        return event_consumer

    def on_start(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await `callback()` once the runtime has started (e.g. seed an account)."""
        self._on_start.append(callback)

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await `callback()` first thing when the runtime stops (e.g. close clients)."""
        self._on_stop.append(callback)

    def add_task(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` in the background from start to stop (e.g. a settlement loop)."""
        self._background.append((name, run))

    async def _publish(
        self, subject: str, payload: bytes, msg_id: str, traceparent: str | None = None
    ) -> None:
        with tracing.publishing(subject, traceparent) as headers:
            await publish_event(self.broker, subject, payload, msg_id, headers=headers)
        EVENTS_PUBLISHED.labels(self.name).inc()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One business transaction; the relay is woken once it has committed."""
        async with self.db.transaction() as session:
            yield session
        self.relay.wake()

    async def check_schema(self) -> bool:
        """True once the schema is at (or beyond) the code's head; remembered once true."""
        if self.schema_ready.is_set():
            return True
        if self._script is not None:
            try:
                async with self.db.engine.connect() as connection:
                    current = await current_revisions(connection)
            except Exception:
                return False  # no alembic_version yet: not migrated
            if not at_head(self._script, current):
                return False
        self.schema_ready.set()
        return True

    async def _watch_schema(self) -> None:
        waited = 0
        while not await self.check_schema():
            if waited % 30 == 0:  # say it on the first miss, then every 30 s
                log.warning(
                    "database schema not at head yet; waiting for `sharitories migrate`",
                    app=self.name,
                )
            waited += 1
            await asyncio.sleep(1.0)

    async def _run_relay(self) -> None:
        await self.schema_ready.wait()  # no outbox table before the migration
        await self.relay.run()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._watch_schema(), name=f"{self.name}-schema"),
            asyncio.create_task(self._connect_broker(), name=f"{self.name}-broker"),
            asyncio.create_task(self._run_relay(), name=f"{self.name}-outbox-relay"),
            *(
                asyncio.create_task(run(), name=f"{self.name}-{name}")
                for name, run in self._background
            ),
        ]
        for callback in self._on_start:
            await callback()

    async def _connect_broker(self) -> None:
        # NATS may not be up yet (or may be restarting): keep trying, /readyz says 503 meanwhile.
        delay = 0.2
        while True:
            try:
                await self.broker.connect()
                await ensure_streams(
                    self.broker,
                    replicas=self.settings.nats_stream_replicas,
                    max_age_seconds=self.settings.nats_stream_max_age_seconds,
                    max_bytes=self.settings.nats_stream_max_bytes,
                    archive=self.settings.nats_archive_stream,
                )
                await self.broker.start()
                for event_consumer in self.consumers:
                    event_consumer.start()
                self.broker_ready.set()
                log.info("connected to NATS", url=self.settings.nats_url)
                return
            except Exception as exc:
                log.warning(
                    "NATS not reachable yet",
                    url=self.settings.nats_url,
                    error=repr(exc),
                    retry_in=delay,
                )
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        for callback in self._on_stop:
            with contextlib.suppress(Exception):
                await callback()
        self.relay.stop()
        for event_consumer in self.consumers:
            await event_consumer.stop()
        relay_running = self.schema_ready.is_set()  # else it still waits for the schema
        for task in self._tasks:
            if not task.done() and (
                task.get_name() != f"{self.name}-outbox-relay" or not relay_running
            ):
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.db.dispose()

    def nats_connected(self) -> bool:
        return self.broker_ready.is_set() and is_connected(self.broker)


async def get_runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]
RuntimeFactory = Callable[[Settings], ServiceRuntime]
