"""The Stripe adapter of the payment port, for all-or-nothing campaigns.

A campaign lasts 20–90 days; a card hold lasts about seven. So a pledge does not hold
money: it SAVES the card (a SetupIntent for off-session use, on a customer of its own),
and the money is taken only if the campaign succeeds, off-session (a PaymentIntent with
`confirm=true, off_session=true`). In the port's words:

- `authorise` → customer + SetupIntent (confirm=true, usage=off_session). `succeeded` is
  "authorised"; `requires_action` is "action_required" (3-D Secure: the backer follows
  `next_action_url`, or Stripe.js uses `client_secret`); a card error is "failed".
  Without a card token (the production path: the card number must never reach us), the
  SetupIntent is created unconfirmed and answered "action_required" with its client
  secret: the portal's card page mounts Stripe's Payment Element and confirms it in the
  browser (`stripe.confirmSetup`, 3-D Secure included); the `setup_intent.succeeded` or
  `setup_intent.setup_failed` webhook then says what happened, with the saved card's id.
- `capture` → PaymentIntent (confirm=true, off_session=true). Succeeded: "captured", and the
  card is forgotten (payment method detached). A decline or a bank that wants the backer
  back (authentication_required) is "failed" and the PaymentIntent is cancelled.
- `void` → cancel the SetupIntent if it is still waiting, else detach the saved card.
- `refund` → a refund of the PaymentIntent.
- `open_holds` → succeeded SetupIntents of ours whose card is still attached.

Every call carries an idempotency key derived from the pledge id and the operation
(`<pledge>:<operation>[:<step>]`): the library retries network failures with the same
key, and so do our own retries (settlement, reconcile), so Stripe answers a retried call
with its first answer. Webhooks are verified with `stripe.Webhook.construct_event`.
Calls go to STRIPE_API_BASE (tests point it at a local fake of the HTTP API).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import stripe

from services.crowdfunding.payments import (
    Hold,
    InvalidSignature,
    Payment,
    PaymentResult,
    PaymentStatus,
    ProviderUnavailable,
    WebhookEvent,
)

CURRENCY = "eur"
PLATFORM_TAG = "sharitories"  # metadata that marks our objects in a shared Stripe account

_SETUP_STATUSES: dict[str, PaymentStatus] = {
    "succeeded": "authorised",
    "requires_action": "action_required",
    "processing": "pending",
    "requires_confirmation": "pending",
    "requires_payment_method": "failed",
    "canceled": "voided",
}

# Webhook types and what they say of the pledge's payment.
_EVENT_STATUSES: dict[str, PaymentStatus] = {
    "setup_intent.succeeded": "authorised",
    "setup_intent.requires_action": "action_required",
    "setup_intent.setup_failed": "failed",
    "setup_intent.canceled": "voided",
    "payment_intent.succeeded": "captured",
    "payment_intent.canceled": "voided",
    "charge.refunded": "refunded",
}


class StripeProvider:
    name = "stripe"
    collects_card_in_browser = True

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str,
        return_url: str,
        max_network_retries: int = 2,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.return_url = return_url
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            http_client=stripe.HTTPXClient(),
            max_network_retries=max_network_retries,
        )

    async def _call(self, method, params: dict, key: str):
        """One Stripe call with its idempotency key. Card and request errors are answers;
        anything else (network, rate limit, Stripe down, a wrong key) is "unavailable":
        the caller may retry with the same key, and nothing was taken."""
        try:
            return await method(params=params, options={"idempotency_key": key})
        except (stripe.CardError, stripe.InvalidRequestError):
            raise
        except stripe.StripeError as exc:
            raise ProviderUnavailable(f"stripe: {exc.user_message or exc}") from exc

    # --- the port --------------------------------------------------------------------

    async def authorise(
        self, *, idempotency_key: str, amount_cents: int, card_token: str | None, reference: str
    ) -> PaymentResult:
        metadata = {"pledge": reference, "platform": PLATFORM_TAG}
        customer = await self._call(
            self.client.v1.customers.create_async,
            {"metadata": metadata},
            f"{idempotency_key}:customer",
        )
        if card_token is None:
            return await self._setup_in_browser(
                idempotency_key, amount_cents, metadata, customer.id
            )
        try:
            intent = await self._call(
                self.client.v1.setup_intents.create_async,
                {
                    "customer": customer.id,
                    "payment_method": card_token,
                    "payment_method_types": ["card"],
                    "usage": "off_session",
                    "confirm": True,
                    "return_url": self.return_url,
                    "metadata": {**metadata, "amount_cents": str(amount_cents)},
                },
                f"{idempotency_key}:setup",
            )
        except (stripe.CardError, stripe.InvalidRequestError) as exc:
            # A refused card, or a token that is no card at all: declined, nothing held.
            failed = _error_object(exc, "setup_intent")
            return PaymentResult(
                failed.get("id", ""), "failed", _failure(exc), customer_id=customer.id
            )
        return _setup_result(intent, customer.id)

    async def capture(self, *, idempotency_key: str, payment: Payment) -> PaymentResult:
        if not (payment.customer_id and payment.method_id):
            return PaymentResult(payment.payment_id, "failed", "no saved card to charge")
        try:
            intent = await self._call(
                self.client.v1.payment_intents.create_async,
                {
                    "amount": payment.amount_cents,
                    "currency": CURRENCY,
                    "customer": payment.customer_id,
                    "payment_method": payment.method_id,
                    "off_session": True,
                    "confirm": True,
                    "metadata": {"pledge": payment.reference, "platform": PLATFORM_TAG},
                },
                idempotency_key,
            )
        except (stripe.CardError, stripe.InvalidRequestError) as exc:
            # Declined, authentication required, or the saved card is gone: nothing taken.
            failed = _error_object(exc, "payment_intent")
            if failed.get("id"):
                await self._cancel_intent(failed["id"], f"{idempotency_key}:cancel")
            failure = _failure(exc)
        else:
            if intent.status == "succeeded":
                await self._forget_card(payment.method_id, f"{idempotency_key}:detach")
                return PaymentResult(payment.payment_id, "captured", charge_id=intent.id)
            # requires_action off-session: the bank wants the backer, who is not here.
            await self._cancel_intent(intent.id, f"{idempotency_key}:cancel")
            failure = f"the bank asked for authentication ({intent.status})"
        # Nothing was taken and nothing will be: the saved card is forgotten too.
        await self._forget_card(payment.method_id, f"{idempotency_key}:detach")
        return PaymentResult(payment.payment_id, "failed", failure)

    async def void(self, *, idempotency_key: str, payment: Payment) -> PaymentResult:
        if payment.payment_id:
            try:
                await self._cancel_setup(payment.payment_id, idempotency_key)
                return PaymentResult(payment.payment_id, "voided")
            except stripe.InvalidRequestError:
                pass  # already succeeded (or cancelled): the saved card is what remains
        if payment.method_id:
            await self._forget_card(payment.method_id, f"{idempotency_key}:detach")
        return PaymentResult(payment.payment_id, "voided")

    async def refund(self, *, idempotency_key: str, payment: Payment) -> PaymentResult:
        if not payment.charge_id:
            return PaymentResult(payment.payment_id, "failed", "nothing was charged")
        try:
            refund = await self._call(
                self.client.v1.refunds.create_async,
                {"payment_intent": payment.charge_id, "metadata": {"pledge": payment.reference}},
                idempotency_key,
            )
        except stripe.InvalidRequestError as exc:
            return PaymentResult(payment.payment_id, "failed", _failure(exc))
        status: PaymentStatus = (
            "refunded" if refund.status in ("succeeded", "pending") else "failed"
        )
        return PaymentResult(payment.payment_id, status, charge_id=payment.charge_id)

    async def open_holds(self) -> list[Hold]:
        holds = []
        try:
            page = await self.client.v1.setup_intents.list_async(
                params={"limit": 100, "expand": ["data.payment_method"]}
            )
            async for intent in page.auto_paging_iter():
                metadata = intent.to_dict().get("metadata") or {}
                if intent.status != "succeeded" or metadata.get("platform") != PLATFORM_TAG:
                    continue
                method = intent.payment_method
                if isinstance(method, str):  # not expanded
                    method = await self.client.v1.payment_methods.retrieve_async(method)
                if method.customer:  # still attached: we could charge it
                    holds.append(
                        Hold(
                            intent.id,
                            metadata["pledge"],
                            int(metadata.get("amount_cents", 0)),
                            method_id=method.id,
                        )
                    )
        except stripe.APIConnectionError as exc:
            raise ProviderUnavailable(f"stripe: {exc}") from exc
        return holds

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        try:
            event = stripe.Webhook.construct_event(
                body, headers.get("stripe-signature"), self.webhook_secret
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature(str(exc.user_message or exc)) from exc
        except ValueError as exc:
            raise InvalidSignature("signed but malformed webhook body") from exc
        doc = json.loads(body)
        obj = doc.get("data", {}).get("object", {})
        status = _EVENT_STATUSES.get(event.type, "pending")
        payment_id = obj.get("id", "")
        if obj.get("object") == "charge":
            payment_id = obj.get("payment_intent") or payment_id
        method = obj.get("payment_method") if obj.get("object") == "setup_intent" else None
        if isinstance(method, dict):  # expanded
            method = method.get("id")
        return WebhookEvent(
            id=event.id,
            type=event.type,
            payment_id=str(payment_id),
            reference=str((obj.get("metadata") or {}).get("pledge", "")),
            status=status,
            method_id=str(method) if method else None,
        )

    # --- steps -------------------------------------------------------------------------

    async def _setup_in_browser(
        self, key: str, amount_cents: int, metadata: dict, customer_id: str
    ) -> PaymentResult:
        """An unconfirmed SetupIntent: the backer's browser confirms it with Stripe.js and
        the client secret (no return_url here: Stripe takes it only with confirm=true; the
        page passes it to `confirmSetup`)."""
        intent = await self._call(
            self.client.v1.setup_intents.create_async,
            {
                "customer": customer_id,
                "payment_method_types": ["card"],
                "usage": "off_session",
                "metadata": {**metadata, "amount_cents": str(amount_cents)},
            },
            f"{key}:setup",
        )
        return PaymentResult(
            intent.id,
            "action_required",
            customer_id=customer_id,
            client_secret=intent.client_secret,
        )

    async def _cancel_setup(self, setup_id: str, key: str) -> None:
        await self._call(
            lambda params, options: self.client.v1.setup_intents.cancel_async(
                setup_id, params, options
            ),
            {},
            f"{key}:cancel",
        )

    async def _cancel_intent(self, intent_id: str, key: str) -> None:
        try:
            await self._call(
                lambda params, options: self.client.v1.payment_intents.cancel_async(
                    intent_id, params, options
                ),
                {},
                key,
            )
        except stripe.InvalidRequestError:
            pass  # already cancelled, or never needed it

    async def _forget_card(self, method_id: str, key: str) -> None:
        """Detach the saved card: it can no longer be charged (and we keep no card)."""
        try:
            await self._call(
                lambda params, options: self.client.v1.payment_methods.detach_async(
                    method_id, params, options
                ),
                {},
                key,
            )
        except stripe.InvalidRequestError:
            pass  # already detached


def _setup_result(stripe_intent: Any, customer_id: str) -> PaymentResult:
    intent = stripe_intent.to_dict()
    status = _SETUP_STATUSES.get(intent["status"], "pending")
    next_action = intent.get("next_action") or {}
    redirect = next_action.get("redirect_to_url") or {}
    last_error = intent.get("last_setup_error") or {}
    return PaymentResult(
        payment_id=intent["id"],
        status=status,
        failure=last_error.get("message") if status == "failed" else None,
        customer_id=customer_id,
        method_id=intent.get("payment_method"),
        next_action_url=redirect.get("url") if status == "action_required" else None,
        client_secret=intent.get("client_secret") if status == "action_required" else None,
    )


def _error_object(exc: stripe.StripeError, kind: str) -> dict:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    return (body.get("error") or {}).get(kind) or {}


def _failure(exc: stripe.StripeError) -> str:
    code = exc.code or "error"
    return f"{code}: {exc.user_message or 'refused by the bank'}"[:200]
