"""The payment port, its webhook signatures, and the built-in sandbox provider.

A provider does four things, each keyed by an idempotency key so that a retried call
returns the first answer and never moves money twice: `authorise` (a hold on the card, or
for Stripe a card saved for later), `capture` (take the money), `void` (drop the hold or
forget the saved card) and `refund` (give captured money back). It tells us what happened
later through signed webhooks, which `parse_webhook` verifies, and lists the holds it
keeps open (`open_holds`) so that the ledger can be reconciled with it. The Stripe adapter
(`stripe_provider.py`) implements this Protocol in one file.

Webhook signature (the sandbox's, Stripe's scheme): header
`Sharitories-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
refused when older than five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from sqlalchemy import insert, select, update

from libs.common.clock import clock
from libs.common.db import Database
from libs.common.ids import new_id
from services.crowdfunding.db import sandbox_operations, sandbox_payments, sandbox_webhooks

PaymentStatus = Literal[
    "pending", "action_required", "authorised", "failed", "captured", "voided", "refunded"
]
SIGNATURE_HEADER = "sharitories-signature"
SIGNATURE_TOLERANCE_SECONDS = 300


class ProviderUnavailable(Exception):
    """The provider did not answer; the call may be retried with the same key."""


class InvalidSignature(Exception):
    """A webhook whose signature does not verify: it is ignored."""


@dataclass(frozen=True)
class PaymentResult:
    payment_id: str
    status: PaymentStatus
    failure: str | None = None
    # Stripe keeps the card for later: the customer and payment method to charge.
    customer_id: str | None = None
    method_id: str | None = None
    # action_required: where the backer authenticates (3-D Secure), or the secret that
    # Stripe.js needs to show the step in the page.
    next_action_url: str | None = None
    client_secret: str | None = None
    # capture: the provider's id of the charge (Stripe: the PaymentIntent), for refunds.
    charge_id: str | None = None


@dataclass(frozen=True)
class Payment:
    """What the ledger knows of a pledge's payment, handed back to the provider."""

    payment_id: str
    reference: str  # our pledge id
    amount_cents: int
    customer_id: str | None = None
    method_id: str | None = None
    charge_id: str | None = None


@dataclass(frozen=True)
class Hold:
    """Money the provider could still take: an authorisation, or a card saved for us."""

    payment_id: str
    reference: str
    amount_cents: int
    method_id: str | None = None  # Stripe: the saved card to forget


@dataclass(frozen=True)
class WebhookEvent:
    """A provider's notification, once its signature has been verified."""

    id: str
    type: str  # payment.authorised | payment.failed | payment.captured | ...
    payment_id: str
    reference: str  # our pledge id
    status: PaymentStatus
    # Stripe: the card the backer saved in the browser (Stripe.js), known only from here.
    method_id: str | None = None


class PaymentProvider(Protocol):
    name: str
    # True when the backer types the card into the provider's own form in the browser
    # (Stripe Elements): `authorise` is then called without a card token and answers
    # `action_required` with the client secret that form needs.
    collects_card_in_browser: bool

    async def authorise(
        self, *, idempotency_key: str, amount_cents: int, card_token: str | None, reference: str
    ) -> PaymentResult: ...

    async def capture(self, *, idempotency_key: str, payment: Payment) -> PaymentResult: ...

    async def void(self, *, idempotency_key: str, payment: Payment) -> PaymentResult: ...

    async def refund(self, *, idempotency_key: str, payment: Payment) -> PaymentResult: ...

    async def open_holds(self) -> list[Hold]: ...

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> WebhookEvent: ...


def idempotency_key(pledge_id: str, operation: str) -> str:
    """One key per pledge and operation: a retried call is answered, never repeated."""
    return f"{pledge_id}:{operation}"


# --- signatures -------------------------------------------------------------------------


def sign(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(body: bytes, header: str | None, secret: str, *, now: float | None = None) -> None:
    if not header:
        raise InvalidSignature("no signature header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("malformed signature header") from exc
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise InvalidSignature("signature timestamp outside the tolerance")
    expected = sign(body, secret, timestamp=timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise InvalidSignature("signature mismatch")


# --- the sandbox -----------------------------------------------------------------------

# Card tokens that trigger failures, like a PSP's test cards.
DECLINE = "tok_decline"  # declined, asynchronously (webhook payment.failed)
DECLINE_NOW = "tok_decline_now"  # declined in the authorise answer
INSTANT = "tok_instant"  # authorised in the answer (no 3-D Secure step)
REQUIRES_ACTION = "tok_requires_action"  # the answer asks for 3-D Secure; webhook authorises
CAPTURE_FAILS = "tok_capture_fails"  # authorised, but the capture is refused
UNAVAILABLE = "tok_unavailable"  # the provider times out on authorise
DECLINED_AMOUNT_CENTS = 666_66  # any pledge of exactly this amount is declined


class SandboxProvider:
    """A PSP that lives in the service's database: persisted, idempotent, asynchronous.

    Authorisations are confirmed later by a signed webhook (as with 3-D Secure), which
    `dispatch_webhooks` delivers (the app's background loop in dev, tests by hand).
    """

    name = "sandbox"
    collects_card_in_browser = False

    def __init__(self, db: Database, secret: str) -> None:
        self.db = db
        self.secret = secret

    async def authorise(
        self, *, idempotency_key: str, amount_cents: int, card_token: str, reference: str
    ) -> PaymentResult:
        if card_token == UNAVAILABLE:
            raise ProviderUnavailable("sandbox: simulated timeout")
        async with self.db.transaction() as session:
            known = await self._known(session, idempotency_key)
            if known:
                return known
            payment_id = "pay_" + new_id().replace("-", "")
            # Anything but a test card token ("not-a-card") is refused at once, as a PSP would.
            not_a_card = not card_token.startswith("tok_")
            declined = (
                card_token in (DECLINE, DECLINE_NOW)
                or amount_cents == DECLINED_AMOUNT_CENTS
                or not_a_card
            )
            if card_token == INSTANT:
                status: PaymentStatus = "authorised"
            elif card_token == DECLINE_NOW or not_a_card:
                status = "failed"
            elif card_token == REQUIRES_ACTION:
                status = "action_required"
            else:
                status = "pending"
            await session.execute(
                insert(sandbox_payments).values(
                    id=payment_id,
                    reference=reference,
                    amount_cents=amount_cents,
                    card_token=card_token,
                    status="failed" if declined else "authorised",
                    created_at=clock.now(),
                )
            )
            failure = ("not a card" if not_a_card else "card declined") if declined else None
            await self._remember(session, idempotency_key, "authorise", payment_id, status, failure)
            # The outcome is always announced by webhook, even when the answer gave it.
            final: PaymentStatus = "failed" if declined else "authorised"
            await self._announce(session, payment_id, reference, final)
            return PaymentResult(payment_id, status, failure)

    async def capture(self, *, idempotency_key: str, payment: Payment) -> PaymentResult:
        result = await self._move(idempotency_key, payment.payment_id, "capture")
        if result.status == "captured":  # the sandbox captures the authorisation itself
            return PaymentResult(result.payment_id, "captured", charge_id=result.payment_id)
        return result

    async def void(self, *, idempotency_key: str, payment: Payment) -> PaymentResult:
        return await self._move(idempotency_key, payment.payment_id, "void")

    async def refund(self, *, idempotency_key: str, payment: Payment) -> PaymentResult:
        return await self._move(idempotency_key, payment.charge_id or payment.payment_id, "refund")

    async def open_holds(self) -> list[Hold]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(sandbox_payments).where(sandbox_payments.c.status == "authorised")
            )
            return [Hold(r.id, r.reference, r.amount_cents) for r in rows.all()]

    async def _move(self, key: str, payment_id: str, operation: str) -> PaymentResult:
        async with self.db.transaction() as session:
            known = await self._known(session, key)
            if known:
                return known
            payment = (
                await session.execute(
                    select(sandbox_payments).where(sandbox_payments.c.id == payment_id)
                )
            ).one_or_none()
            if payment is None:
                return PaymentResult(payment_id, "failed", "no such payment")
            status, failure, values = _apply(operation, payment)
            if values:
                await session.execute(
                    update(sandbox_payments)
                    .where(sandbox_payments.c.id == payment_id)
                    .values(**values)
                )
                await self._announce(session, payment_id, payment.reference, status)
            await self._remember(session, key, operation, payment_id, status, failure)
            return PaymentResult(payment_id, status, failure)

    async def _known(self, session, key: str) -> PaymentResult | None:
        row = (
            await session.execute(
                select(sandbox_operations).where(sandbox_operations.c.idempotency_key == key)
            )
        ).one_or_none()
        return PaymentResult(row.payment_id, row.status, row.failure) if row else None

    async def _remember(self, session, key, operation, payment_id, status, failure) -> None:
        await session.execute(
            insert(sandbox_operations).values(
                idempotency_key=key,
                operation=operation,
                payment_id=payment_id,
                status=status,
                failure=failure,
                created_at=clock.now(),
            )
        )

    async def _announce(self, session, payment_id: str, reference: str, status: str) -> None:
        event_id = "evt_" + new_id().replace("-", "")
        body = {
            "id": event_id,
            "type": f"payment.{status}",
            "data": {"payment_id": payment_id, "reference": reference, "status": status},
        }
        await session.execute(
            insert(sandbox_webhooks).values(
                event_id=event_id,
                payment_id=payment_id,
                body=json.dumps(body, separators=(",", ":")),
                created_at=clock.now(),
            )
        )

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        verify(body, headers.get(SIGNATURE_HEADER), self.secret)
        try:
            doc = json.loads(body)
            data = doc["data"]
            return WebhookEvent(
                id=str(doc["id"]),
                type=str(doc["type"]),
                payment_id=str(data["payment_id"]),
                reference=str(data["reference"]),
                status=data["status"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSignature("signed but malformed webhook body") from exc

    async def signed_webhooks(self, *, undelivered_only: bool = True) -> list[dict]:
        """The webhooks the sandbox has to send, signed now: `{id, body, headers}`."""
        async with self.db.transaction() as session:
            query = select(sandbox_webhooks).order_by(sandbox_webhooks.c.seq)
            if undelivered_only:
                query = query.where(sandbox_webhooks.c.delivered_at.is_(None))
            rows = (await session.execute(query)).all()
        return [
            {
                "id": r.event_id,
                "body": r.body,
                "headers": {SIGNATURE_HEADER: sign(r.body.encode(), self.secret)},
            }
            for r in rows
        ]

    async def dispatch_webhooks(
        self, deliver: Callable[[bytes, Mapping[str, str]], Awaitable[object]]
    ) -> int:
        """Deliver every pending webhook once (a failed delivery stays pending)."""
        sent = 0
        for hook in await self.signed_webhooks():
            await deliver(hook["body"].encode(), hook["headers"])
            async with self.db.transaction() as session:
                await session.execute(
                    update(sandbox_webhooks)
                    .where(sandbox_webhooks.c.event_id == hook["id"])
                    .values(delivered_at=clock.now())
                )
            sent += 1
        return sent


def _apply(operation: str, payment) -> tuple[PaymentStatus, str | None, dict]:
    """A sandbox payment's state machine: (answer status, failure, column updates)."""
    status = payment.status
    if operation == "capture":
        if status == "captured":
            return "captured", None, {}
        if status != "authorised":
            return "failed", f"cannot capture a {status} payment", {}
        if payment.card_token == CAPTURE_FAILS:
            return "failed", "capture refused by the issuer", {"status": "failed"}
        return "captured", None, {"status": "captured", "captured_cents": payment.amount_cents}
    if operation == "void":
        if status == "voided":
            return "voided", None, {}
        if status in ("authorised", "pending", "failed"):
            return "voided", None, {"status": "voided"}
        return "failed", f"cannot void a {status} payment", {}
    if operation == "refund":
        if status == "refunded":
            return "refunded", None, {}
        if status != "captured":
            return "failed", f"cannot refund a {status} payment", {}
        return "refunded", None, {"status": "refunded", "refunded_cents": payment.amount_cents}
    raise ValueError(operation)
