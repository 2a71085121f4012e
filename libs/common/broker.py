"""The event backbone: FastStream on NATS JetStream.

- One stream, `SHARITORIES` (subjects `sharitories.>`, file storage, 2-minute duplicate
  window), and its dead-letter stream are declared here, once, by `ensure_streams`; every
  subscriber binds with `declare=False`.
- Consumers are durable pull consumers with explicit acks (`EventConsumer`). A batch is
  applied in one database transaction together with the inbox rows, then acknowledged.
  If it fails, each message is retried alone: a failing one is NACKed with a growing
  delay, and after `max_deliver` deliveries it goes to `deadletter.<consumer>.<subject>`
  and is acknowledged, so the rest of the stream keeps flowing. FastStream's default
  (terminate on error) would silently drop an event on a transient database error.
- Streams are never shrunk by a process: a replica started with fewer
  `NATS_STREAM_REPLICAS` than the stream has keeps the stream's copies and logs an error.
  Retention (`NATS_STREAM_MAX_AGE_SECONDS`, `NATS_STREAM_MAX_BYTES`) trims the working
  stream; `SHARITORIES_ARCHIVE` sources every event from it, compressed and never trimmed,
  so `impact rebuild` can replay history the working stream no longer holds.
- Failover: `ack_wait` is short (`CONSUMER_ACK_WAIT_SECONDS`, 10 s) and a batch being
  applied sends in-progress signals, so a killed consumer's batch is redelivered within
  seconds while a big batch on a live one is not. On stop, fetched messages not yet
  acknowledged are NAKed so another replica takes them at once.
- A consumer does not pull until its service's schema is at the Alembic head (`ready`),
  and an event failing on a missing table is NAKed with a delay without counting toward
  dead-lettering: a late migration delays events, it never dead-letters them.
- The pull loop is ours, on nats-py, rather than FastStream's batch subscriber: FastStream
  0.7 catches `nats.errors.TimeoutError` while nats-py 2.16 raises `asyncio.TimeoutError`
  from a partial fetch, so a partly filled batch was dropped and only redelivered after
  `ack_wait`. The connection, publishing and stream set-up stay FastStream's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats.errors
import nats.js.errors
from faststream.nats import NatsBroker
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    StorageType,
    StoreCompression,
    StreamConfig,
    StreamSource,
)
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common import tracing
from libs.common.db import Database
from libs.common.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    STREAM,
    SUBJECT_PREFIX,
    Envelope,
)
from libs.common.inbox import first_deliveries, first_delivery
from libs.common.logs import current_event, get_logger
from libs.common.metrics import CONSUMER_PENDING, EVENTS_CONSUMED, EVENTS_DEAD_LETTERED

log = get_logger(__name__)

DUPLICATE_WINDOW_SECONDS = 120
DEFAULT_BACKOFF = (0.5, 2.0, 5.0, 15.0, 30.0, 60.0)
ARCHIVE_STREAM = f"{STREAM}_ARCHIVE"
DEFAULT_ACK_WAIT = 10.0
# A missing table means "schema not migrated yet": retry later, never dead-letter.
SCHEMA_NOT_READY_DELAY = 5.0

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
# Called once after a transaction's handlers, in it, before it commits (a handler that
# collects rows writes them there, one statement per table for the whole batch).
Flush = Callable[[AsyncSession], Awaitable[None]]
Ready = Callable[[], Awaitable[None]]

# SQLSTATEs of a schema that is not (yet) migrated: undefined table, column, schema.
_SCHEMA_NOT_READY_STATES = {"42P01", "42703", "3F000"}


def schema_not_ready(exc: BaseException) -> bool:
    """True if `exc` says a table or column is missing (migration not yet applied)."""
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if state in _SCHEMA_NOT_READY_STATES:
            return True
        text = str(seen)
        if "no such table" in text or "no such column" in text:  # SQLite
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def nats_servers(url: str) -> list[str]:
    """`NATS_URL` as nats-py's `servers`: one URL or a comma list (a cluster's seeds)."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("NATS_URL is empty")
    for server in servers:
        if "://" not in server:
            raise ValueError(f"NATS_URL entry {server!r} is not a URL (nats://host:port)")
    return servers


def create_broker(url: str, *, name: str = "sharitories") -> NatsBroker:
    """A broker that keeps reconnecting for ever: NATS going away is an outage, not a crash."""
    return NatsBroker(
        nats_servers(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=2,
        log_level=logging.DEBUG,
    )


def stream_configs(
    replicas: int = 1,
    *,
    max_age_seconds: float = 0,
    max_bytes: int = -1,
    archive: bool = True,
) -> list[StreamConfig]:
    """The working stream (trimmed by the retention settings), dead letters, the archive."""
    configs = [
        StreamConfig(
            name=STREAM,
            subjects=[f"{SUBJECT_PREFIX}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
            max_age=max_age_seconds,
            max_bytes=max_bytes,
        ),
        StreamConfig(
            name=DEAD_LETTER_STREAM,
            subjects=[f"{DEAD_LETTER_PREFIX}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
    ]
    if archive:
        # No subjects of its own: it copies SHARITORIES (in order) and is never trimmed.
        configs.append(
            StreamConfig(
                name=ARCHIVE_STREAM,
                sources=[StreamSource(name=STREAM)],
                storage=StorageType.FILE,
                compression=StoreCompression.S2,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
                num_replicas=replicas,
            )
        )
    return configs


def replicas_to_keep(*, current: int, wanted: int) -> int:
    """Replicas a stream update may ask for: more copies are taken, fewer never."""
    return max(current or 1, wanted)


async def ensure_streams(
    broker: NatsBroker,
    *,
    replicas: int = 1,
    max_age_seconds: float = 0,
    max_bytes: int = -1,
    archive: bool = True,
) -> None:
    """Declare the platform's streams (idempotent). The only place they are declared.

    An existing stream with more replicas than `replicas` keeps them (logged as an error:
    a replica is misconfigured); one with fewer is raised to `replicas`.
    """
    js = broker.connection.jetstream()
    configs = stream_configs(
        replicas, max_age_seconds=max_age_seconds, max_bytes=max_bytes, archive=archive
    )
    for config in configs:
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except BadRequestError:  # another replica created it meanwhile
                info = await js.stream_info(config.name)
        current = info.config.num_replicas or 1
        keep = replicas_to_keep(current=current, wanted=replicas)
        if keep != replicas:
            log.error(
                "stream has more replicas than NATS_STREAM_REPLICAS; keeping them",
                stream=config.name,
                stream_replicas=current,
                nats_stream_replicas=replicas,
            )
        config.num_replicas = keep
        await js.update_stream(config)


async def publish_event(
    broker: NatsBroker,
    subject: str,
    payload: bytes,
    msg_id: str,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    """Publish to JetStream and wait for its ack; `msg_id` lets JetStream drop duplicates."""
    js = broker.connection.jetstream()
    await js.publish(
        subject, payload, headers={**(headers or {}), "Nats-Msg-Id": msg_id}, timeout=5
    )


def is_connected(broker: NatsBroker) -> bool:
    try:
        return broker.connection is not None and broker.connection.is_connected
    except Exception:
        return False


class EventConsumer:
    """Applies events from JetStream to one service's database, exactly once."""

    schema_retry_delay = SCHEMA_NOT_READY_DELAY

    def __init__(
        self,
        *,
        broker: NatsBroker,
        db: Database,
        consumer: str,
        handle: Handler,
        flush: Flush | None = None,
        max_deliver: int = 5,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        subject: str = f"{SUBJECT_PREFIX}.>",
        batch_size: int = 200,
        deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
        ack_wait: float = DEFAULT_ACK_WAIT,
        ready: Ready | None = None,
    ) -> None:
        self.subject = subject
        self.ack_wait = ack_wait
        self.ready = ready
        # Fetched and not yet acked or NAKed: NAKed on stop so another replica takes them.
        self._held: list[Any] = []
        self._last_fetch: asyncio.Task | None = None
        self.batch_size = batch_size
        self.deliver_policy = deliver_policy
        self._task: asyncio.Task | None = None
        self._subscription = None
        self._stopping = False
        self.broker = broker
        self.db = db
        self.consumer = consumer
        self.handle = handle
        self.flush = flush
        self.max_deliver = max_deliver
        self.backoff = tuple(backoff)

    def start(self) -> None:
        """Start pulling in the background (the broker must be connected)."""
        self._stopping = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"consumer-{self.consumer}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            # Python 3.11's asyncio.wait_for (inside nats-py's fetch) can swallow a
            # cancellation that races with a result: the flag ends the loop anyway, and we
            # cancel again until the task is really done.
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
            self._task = None
        await self._release_held()
        if self._subscription is not None:
            # An open pull subscription would hold the connection's drain for its timeout.
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def run(self) -> None:
        """Pull batches until stopped; survives NATS outages and a server that lost its state.

        The next batch is fetched while the current one is applied, so the network round
        trip overlaps the database work; batches are still applied one after the other.
        """
        prefetch: asyncio.Task | None = None
        try:
            while not self._stopping:
                try:
                    if self._subscription is None:
                        if self.ready is not None:
                            await self.ready()  # no pulling before the schema is at head
                        self._subscription = await self._subscribe()
                    if prefetch is None:
                        prefetch = asyncio.create_task(self._fetch(self._subscription))
                    messages = await prefetch
                    self._held = list(messages)
                    prefetch = asyncio.create_task(self._fetch(self._subscription))
                    if messages:
                        await self._send_pull_request()
                        await self.process(messages)
                    self._held = []
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    prefetch = None
                    log.warning(
                        "consumer pull failed; retrying", consumer=self.consumer, error=repr(exc)
                    )
                    if isinstance(exc, nats.js.errors.NotFoundError):
                        self._subscription = None  # the server forgot the stream or consumer
                    await asyncio.sleep(1.0)
        finally:
            # A fetch on the wire may already hold messages: stop() lets it finish (at most
            # its 1 s timeout) and NAKs them, rather than leaving them to ack_wait.
            self._last_fetch = prefetch

    async def _release_held(self) -> None:
        """NAK what this process fetched but did not settle: redelivered now, not at ack_wait."""
        fetch, self._last_fetch = self._last_fetch, None
        if fetch is not None:
            await asyncio.wait({fetch}, timeout=1.5)  # the fetch expires after 1 s
            if not fetch.done():
                fetch.cancel()
            elif not fetch.cancelled() and fetch.exception() is None:
                self._held.extend(fetch.result())
        held, self._held = self._held, []
        for msg in held:
            if not getattr(msg, "_ackd", False):
                with contextlib.suppress(Exception):
                    await msg.nak()
        if held:
            with contextlib.suppress(Exception):
                await self.broker.connection.flush(timeout=1)

    async def _send_pull_request(self) -> None:
        """Put the prefetch's pull request on the wire before the batch is applied.

        A batch's transaction may hold the event loop (SQLite runs inline): a request still
        sitting in the client's buffer would only leave afterwards, and the next batch
        would wait a whole round trip instead of arriving meanwhile.
        """
        await asyncio.sleep(0)  # the fetch task runs up to its publish
        with contextlib.suppress(Exception):  # NATS down: the fetch reports it itself
            await self.broker.connection.flush(timeout=1)

    def _consumer_config(self) -> ConsumerConfig:
        # Redelivery is bounded by our own max_deliver (then dead-letter), never by the
        # server silently giving up.
        return ConsumerConfig(
            durable_name=self.consumer,
            name=self.consumer,
            filter_subject=self.subject,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            deliver_policy=self.deliver_policy,
            max_ack_pending=20_000,
        )

    async def _subscribe(self):
        js = self.broker.connection.jetstream()
        config = self._consumer_config()
        # Create or update: a durable made by an older release keeps its old ack_wait
        # otherwise (pull_subscribe only binds to an existing consumer).
        try:
            await js.add_consumer(STREAM, config=config)
        except Exception as exc:
            log.warning("consumer config not updated", consumer=self.consumer, error=repr(exc))
        return await js.pull_subscribe(
            self.subject, durable=self.consumer, stream=STREAM, config=config
        )

    async def _keep_in_progress(self, messages: Sequence[Any]) -> None:
        """Tell JetStream a batch is still being applied, so it is not redelivered meanwhile."""
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            for msg in messages:
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _fetch(self, subscription) -> list[Any]:
        try:
            return await subscription.fetch(self.batch_size, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    async def process(self, messages: Sequence[Any]) -> None:
        """Apply a batch of nats-py JetStream messages; every message ends acked or nacked."""
        parsed: list[tuple[Any, Envelope]] = []
        for msg in messages:
            try:
                parsed.append((msg, Envelope.model_validate_json(msg.data)))
            except ValidationError as exc:
                await self._dead_letter(msg, f"malformed envelope: {exc.errors()[:3]}")
        with contextlib.suppress(Exception):  # the lag as JetStream counted it at delivery
            CONSUMER_PENDING.labels(self.consumer).set(messages[-1].metadata.num_pending)
        if not parsed:
            return
        # Kept in `heartbeat` and cancelled below (ruff's RUF006 misreads the try/finally).
        heartbeat = asyncio.create_task(self._keep_in_progress([m for m, _ in parsed]))  # noqa: RUF006
        try:
            await self._apply_batch(parsed)
        finally:
            heartbeat.cancel()

    async def _apply_batch(self, parsed: list[tuple[Any, Envelope]]) -> None:
        try:
            async with self.db.transaction() as session:
                fresh = await first_deliveries(session, self.consumer, [e.id for _, e in parsed])
                applied = 0
                for msg, envelope in parsed:
                    if envelope.id in fresh:
                        fresh.discard(envelope.id)  # a twin later in this batch is a duplicate
                        token = current_event.set((envelope.id, envelope.type))
                        try:
                            with tracing.consuming(
                                msg.headers, consumer=self.consumer, event_type=envelope.type
                            ):
                                await self.handle(session, envelope)
                        finally:
                            current_event.reset(token)
                        applied += 1
                if self.flush is not None and applied:
                    await self.flush(session)
        except Exception:
            # Something in the batch failed: isolate it by applying messages one at a time.
            for msg, envelope in parsed:
                await self._process_one(msg, envelope)
            return
        for msg, _ in parsed:
            await msg.ack()
        EVENTS_CONSUMED.labels(self.consumer, "applied").inc(applied)
        EVENTS_CONSUMED.labels(self.consumer, "duplicate").inc(len(parsed) - applied)

    async def _apply(self, session: AsyncSession, msg: Any, envelope: Envelope) -> bool:
        """Apply one event unless the inbox has seen it; True if applied."""
        token = current_event.set((envelope.id, envelope.type))
        try:
            if await first_delivery(session, self.consumer, envelope.id):
                with tracing.consuming(
                    msg.headers, consumer=self.consumer, event_type=envelope.type
                ):
                    await self.handle(session, envelope)
                return True
            EVENTS_CONSUMED.labels(self.consumer, "duplicate").inc()
            return False
        finally:
            current_event.reset(token)

    async def _process_one(self, msg: Any, envelope: Envelope) -> None:
        try:
            async with self.db.transaction() as session:
                if await self._apply(session, msg, envelope) and self.flush is not None:
                    await self.flush(session)
        except Exception as exc:
            delivered = msg.metadata.num_delivered
            if schema_not_ready(exc):
                # Not the event's fault: wait for the migration, whatever the count.
                log.warning(
                    "schema not migrated yet; event will be retried",
                    event_id=envelope.id,
                    consumer=self.consumer,
                    retry_in=self.schema_retry_delay,
                    error=repr(exc)[:300],
                )
                await msg.nak(delay=self.schema_retry_delay)
                EVENTS_CONSUMED.labels(self.consumer, "schema_not_ready").inc()
                return
            if delivered >= self.max_deliver:
                log.error(
                    "event exhausted its deliveries",
                    event_id=envelope.id,
                    consumer=self.consumer,
                    deliveries=delivered,
                    exc_info=exc,
                )
                await self._dead_letter(msg, repr(exc))
            else:
                delay = self.backoff[min(delivered, len(self.backoff)) - 1]
                log.warning(
                    "event handler failed; will retry",
                    event_id=envelope.id,
                    consumer=self.consumer,
                    deliveries=delivered,
                    retry_in=delay,
                    error=repr(exc),
                )
                await msg.nak(delay=delay)
                EVENTS_CONSUMED.labels(self.consumer, "retried").inc()
            return
        await msg.ack()
        EVENTS_CONSUMED.labels(self.consumer, "applied").inc()

    async def _dead_letter(self, msg: Any, reason: str) -> None:
        subject = f"{DEAD_LETTER_PREFIX}.{self.consumer}.{msg.subject}"
        seq = msg.metadata.sequence.stream
        headers = {
            "Nats-Msg-Id": f"{self.consumer}:{seq}",
            "Sharitories-Consumer": self.consumer,
            "Sharitories-Original-Subject": msg.subject,
            "Sharitories-Stream-Sequence": str(seq),
            "Sharitories-Error": reason[:1000],
        }
        js = self.broker.connection.jetstream()
        await js.publish(subject, msg.data, headers=headers, timeout=5)
        await msg.ack()  # only after the dead letter is safely stored
        EVENTS_DEAD_LETTERED.labels(self.consumer).inc()


def subscribe_events(
    broker: NatsBroker,
    *,
    db: Database,
    consumer: str,
    subject: str,
    handle: Handler,
    flush: Flush | None = None,
    max_deliver: int = 5,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    batch_size: int = 200,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    ack_wait: float = DEFAULT_ACK_WAIT,
    ready: Ready | None = None,
) -> EventConsumer:
    """A durable consumer named `consumer` on `subject`, applying `handle` to each event
    (then `flush` once per transaction, if given); call `.start()`."""
    return EventConsumer(
        broker=broker,
        db=db,
        consumer=consumer,
        handle=handle,
        flush=flush,
        max_deliver=max_deliver,
        backoff=backoff,
        subject=subject,
        batch_size=batch_size,
        deliver_policy=deliver_policy,
        ack_wait=ack_wait,
        ready=ready,
    )
