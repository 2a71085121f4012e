"""A small local fake of Stripe's HTTP API: only what the Stripe adapter calls.

Form-encoded requests (`metadata[pledge]=…`), JSON answers shaped like Stripe's, the
`Idempotency-Key` honoured (a replayed key gets the first answer, and nothing happens
twice), card errors as 402 with the intent inside the error, and events signed like
Stripe's for the service's webhook endpoint. Test payment methods (Stripe's names):

- `pm_card_visa`: saved, charged.
- `pm_card_chargeDeclined`: refused when saved (card_declined).
- `pm_card_authenticationRequired`: 3-D Secure when saved (`requires_action`, completed by
  visiting `next_action.redirect_to_url.url`), then charged off-session.
- `pm_card_chargeCustomerFail`: saved, but the charge is declined (card_declined).
- `pm_card_authenticationRequiredOnCharge`: saved, but the off-session charge needs the
  backer (authentication_required).

A SetupIntent created without a payment method waits for the backer's browser:
`POST /v1/setup_intents/{id}/confirm` (what Stripe.js's `confirmSetup` calls with the
publishable key and the client secret) confirms it with one of the cards above.

`lose_next_response(path)` simulates a lost answer: the next call on that path is carried
out, then answered 500 (`Stripe-Should-Retry: true`), so the library retries it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import time
from collections import Counter
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.crowdfunding.payments import sign

_ids = itertools.count(1)


def new(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):06d}"


def parse_form(body: bytes) -> dict:
    """Stripe's nested form encoding (`a[b]=1`, `a[0]=x`) into dicts and lists."""
    result: dict = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    for key, value in list(result.items()):  # payment_method_types[0]=card → list
        if isinstance(value, dict) and value and all(k.isdigit() for k in value):
            result[key] = [value[k] for k in sorted(value, key=int)]
    return result


def truthy(value) -> bool:
    return str(value).lower() == "true"


class FakeStripe:
    def __init__(self, webhook_secret: str) -> None:
        self.webhook_secret = webhook_secret
        self.customers: dict[str, dict] = {}
        self.methods: dict[str, dict] = {}
        self.setup_intents: dict[str, dict] = {}
        self.payment_intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.events: list[dict] = []
        self.replies: dict[str, tuple[int, dict]] = {}  # idempotency key → first answer
        self.keys_seen: Counter[str] = Counter()
        self.lost: set[str] = set()
        self.list_calls = 0
        self.method_reads = 0
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/v1/customers", self.create_customer, methods=["POST"]),
                Route("/v1/setup_intents", self.create_setup_intent, methods=["POST"]),
                Route("/v1/setup_intents", self.list_setup_intents, methods=["GET"]),
                Route("/v1/setup_intents/{id}/cancel", self.cancel_setup_intent, methods=["POST"]),
                Route(
                    "/v1/setup_intents/{id}/confirm", self.confirm_setup_intent, methods=["POST"]
                ),
                Route("/v1/payment_intents", self.create_payment_intent, methods=["POST"]),
                Route(
                    "/v1/payment_intents/{id}/cancel", self.cancel_payment_intent, methods=["POST"]
                ),
                Route("/v1/payment_methods/{id}", self.get_method, methods=["GET"]),
                Route("/v1/payment_methods/{id}/detach", self.detach_method, methods=["POST"]),
                Route("/v1/refunds", self.create_refund, methods=["POST"]),
                Route("/fake/3ds/{id}", self.complete_action, methods=["GET"]),
            ]
        )

    # --- harness -----------------------------------------------------------------------

    async def start(self) -> FakeStripe:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(10):
            while not self.server.started:
                await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task

    def lose_next_response(self, path: str) -> None:
        self.lost.add(path)

    async def confirm_in_browser(self, client_secret: str, card: str) -> dict:
        """What Stripe.js does when the backer submits the Payment Element: confirm the
        SetupIntent with the card typed (here one of the test cards), by client secret."""
        intent_id = client_secret.split("_secret_")[0]
        async with httpx.AsyncClient(base_url=self.url) as browser:
            r = await browser.post(
                f"/v1/setup_intents/{intent_id}/confirm",
                data={"client_secret": client_secret, "payment_method": card},
            )
        return r.json()

    def signed_events(self, *, types: tuple[str, ...] = ()) -> list[tuple[bytes, dict]]:
        out = []
        for event in self.events:
            if types and event["type"] not in types:
                continue
            body = json.dumps(event).encode()
            out.append((body, {"stripe-signature": sign(body, self.webhook_secret)}))
        return out

    def _event(self, type_: str, obj: dict) -> None:
        self.events.append(
            {
                "id": new("evt"),
                "object": "event",
                "type": type_,
                "api_version": "2024-06-20",
                "created": int(time.time()),
                "livemode": False,
                "data": {"object": dict(obj)},
            }
        )

    # --- plumbing ------------------------------------------------------------------------

    async def _idempotent(self, request: Request, handler) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method == "POST" and key:
            self.keys_seen[key] += 1
            if key in self.replies:
                status, body = self.replies[key]
                return JSONResponse(body, status, headers={"idempotent-replayed": "true"})
        params = parse_form(await request.body()) if request.method == "POST" else {}
        status, body = handler(params)
        if request.method == "POST" and key:
            self.replies[key] = (status, body)
        if request.url.path in self.lost:
            self.lost.discard(request.url.path)
            return JSONResponse(
                {"error": {"type": "api_error", "message": "lost"}},
                500,
                headers={"stripe-should-retry": "true"},
            )
        return JSONResponse(body, status)

    @staticmethod
    def _invalid(message: str, code: str = "resource_missing") -> tuple[int, dict]:
        return 400, {"error": {"type": "invalid_request_error", "code": code, "message": message}}

    @staticmethod
    def _card_error(code: str, message: str, **objects) -> tuple[int, dict]:
        error = {"type": "card_error", "code": code, "message": message, **objects}
        if code == "card_declined":
            error["decline_code"] = "generic_decline"
        return 402, {"error": error}

    # --- customers and saved cards -------------------------------------------------------

    async def create_customer(self, request: Request) -> Response:
        def handle(params):
            customer = {"id": new("cus"), "object": "customer", "metadata": {}, **params}
            self.customers[customer["id"]] = customer
            return 200, customer

        return await self._idempotent(request, handle)

    async def get_method(self, request: Request) -> Response:
        self.method_reads += 1
        method = self.methods.get(request.path_params["id"])
        if method is None:
            status, body = self._invalid("No such PaymentMethod")
            return JSONResponse(body, status)
        return JSONResponse(method)

    async def detach_method(self, request: Request) -> Response:
        method_id = request.path_params["id"]

        def handle(params):
            method = self.methods.get(method_id)
            if method is None or method["customer"] is None:
                return self._invalid("The payment method is not attached to a customer.")
            method["customer"] = None
            return 200, method

        return await self._idempotent(request, handle)

    # --- setup intents -------------------------------------------------------------------

    async def create_setup_intent(self, request: Request) -> Response:
        def handle(params):
            token = params.get("payment_method")
            if token is None and not truthy(params.get("confirm")):
                if "return_url" in params:  # as Stripe: return_url only with confirm=true
                    return self._invalid("return_url requires confirm", "parameter_invalid")
                intent = self._new_setup_intent(params, None)
                intent["status"] = "requires_payment_method"
                return 200, intent
            token = token or ""
            if not token.startswith("pm_card_"):
                return self._invalid(f"No such PaymentMethod: '{token}'")
            intent = self._new_setup_intent(params, token)
            if not truthy(params.get("confirm")):
                return 200, intent
            return self._confirm(intent, token, params.get("return_url"))

        return await self._idempotent(request, handle)

    def _new_setup_intent(self, params: dict, token: str | None) -> dict:
        intent = {
            "id": new("seti"),
            "object": "setup_intent",
            "customer": params.get("customer"),
            "payment_method": self._new_method(token, params.get("customer")) if token else None,
            "usage": params.get("usage", "off_session"),
            "metadata": params.get("metadata", {}),
            "client_secret": None,
            "next_action": None,
            "last_setup_error": None,
            "status": "requires_confirmation",
        }
        intent["client_secret"] = f"{intent['id']}_secret_fake"
        self.setup_intents[intent["id"]] = intent
        return intent

    def _new_method(self, token: str, customer: str | None) -> str:
        method = {
            "id": new("pm"),
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "behaviour": token,
        }
        self.methods[method["id"]] = method
        return method["id"]

    async def confirm_setup_intent(self, request: Request) -> Response:
        """The backer's browser confirms the SetupIntent (Stripe.js, publishable key)."""
        intent_id = request.path_params["id"]

        def handle(params):
            intent = self.setup_intents.get(intent_id)
            if intent is None or params.get("client_secret") != intent["client_secret"]:
                return self._invalid("No such setup_intent")
            if intent["status"] != "requires_payment_method":
                return self._invalid(
                    f"This SetupIntent has a status of {intent['status']}.",
                    code="setup_intent_unexpected_state",
                )
            token = params.get("payment_method", "")
            if not token.startswith("pm_card_"):
                return self._invalid(f"No such PaymentMethod: '{token}'")
            intent["payment_method"] = self._new_method(token, intent["customer"])
            intent["last_setup_error"] = None
            return self._confirm(intent, token, params.get("return_url"))

        return await self._idempotent(request, handle)

    def _confirm(self, intent: dict, token: str, return_url: str | None) -> tuple[int, dict]:
        method = self.methods[intent["payment_method"]]
        if token == "pm_card_chargeDeclined":
            method["customer"] = None
            intent["status"] = "requires_payment_method"
            intent["last_setup_error"] = {
                "code": "card_declined",
                "message": "Your card was declined.",
            }
            self._event("setup_intent.setup_failed", intent)
            return self._card_error("card_declined", "Your card was declined.", setup_intent=intent)
        if token == "pm_card_authenticationRequired":
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": f"{self.url}/fake/3ds/{intent['id']}",
                    "return_url": return_url,
                },
            }
            self._event("setup_intent.requires_action", intent)
            return 200, intent
        intent["status"] = "succeeded"
        self._event("setup_intent.succeeded", intent)
        return 200, intent

    async def list_setup_intents(self, request: Request) -> Response:
        data = list(self.setup_intents.values())
        self.list_calls += 1
        if "data.payment_method" in request.query_params.values():  # expand[0]=…
            data = [
                {**i, "payment_method": self.methods.get(i["payment_method"] or "")} for i in data
            ]
        return JSONResponse(
            {"object": "list", "url": "/v1/setup_intents", "has_more": False, "data": data}
        )

    async def cancel_setup_intent(self, request: Request) -> Response:
        intent_id = request.path_params["id"]

        def handle(params):
            intent = self.setup_intents.get(intent_id)
            if intent is None:
                return self._invalid("No such setup_intent")
            if intent["status"] in ("succeeded", "canceled"):
                return self._invalid(
                    f"You cannot cancel this SetupIntent because it has a status of "
                    f"{intent['status']}.",
                    code="setup_intent_unexpected_state",
                )
            intent["status"] = "canceled"
            intent["next_action"] = None
            if intent["payment_method"]:
                self.methods[intent["payment_method"]]["customer"] = None
            self._event("setup_intent.canceled", intent)
            return 200, intent

        return await self._idempotent(request, handle)

    async def complete_action(self, request: Request) -> Response:
        """The backer passes 3-D Secure on the bank's page."""
        intent = self.setup_intents[request.path_params["id"]]
        if intent["status"] == "requires_action":
            intent["status"] = "succeeded"
            intent["next_action"] = None
            self._event("setup_intent.succeeded", intent)
        return JSONResponse({"status": intent["status"]})

    # --- payment intents and refunds -------------------------------------------------------

    async def create_payment_intent(self, request: Request) -> Response:
        def handle(params):
            method = self.methods.get(params.get("payment_method", ""))
            if method is None or method["customer"] != params.get("customer"):
                return self._invalid("The payment method is not attached to this customer.")
            intent = {
                "id": new("pi"),
                "object": "payment_intent",
                "amount": int(params["amount"]),
                "currency": params["currency"],
                "customer": params["customer"],
                "payment_method": method["id"],
                "metadata": params.get("metadata", {}),
                "status": "requires_confirmation",
                "amount_received": 0,
            }
            self.payment_intents[intent["id"]] = intent
            if not truthy(params.get("confirm")):
                return 200, intent
            behaviour = method["behaviour"]
            if behaviour == "pm_card_chargeCustomerFail":
                intent["status"] = "requires_payment_method"
                self._event("payment_intent.payment_failed", intent)
                return self._card_error(
                    "card_declined", "Your card was declined.", payment_intent=intent
                )
            if behaviour == "pm_card_authenticationRequiredOnCharge" and truthy(
                params.get("off_session")
            ):
                intent["status"] = "requires_payment_method"
                self._event("payment_intent.payment_failed", intent)
                return self._card_error(
                    "authentication_required",
                    "This payment requires authentication.",
                    payment_intent=intent,
                )
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            self._event("payment_intent.succeeded", intent)
            return 200, intent

        return await self._idempotent(request, handle)

    async def cancel_payment_intent(self, request: Request) -> Response:
        intent_id = request.path_params["id"]

        def handle(params):
            intent = self.payment_intents.get(intent_id)
            if intent is None:
                return self._invalid("No such payment_intent")
            if intent["status"] in ("succeeded", "canceled"):
                return self._invalid(
                    "You cannot cancel this PaymentIntent.",
                    code="payment_intent_unexpected_state",
                )
            intent["status"] = "canceled"
            self._event("payment_intent.canceled", intent)
            return 200, intent

        return await self._idempotent(request, handle)

    async def create_refund(self, request: Request) -> Response:
        def handle(params):
            intent = self.payment_intents.get(params.get("payment_intent", ""))
            if intent is None or intent["status"] != "succeeded":
                return self._invalid("This PaymentIntent has nothing to refund.")
            if intent.get("refunded"):
                return self._invalid("Charge has already been refunded.", "charge_already_refunded")
            intent["refunded"] = True
            refund = {
                "id": new("re"),
                "object": "refund",
                "amount": intent["amount"],
                "payment_intent": intent["id"],
                "metadata": params.get("metadata", {}),
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            self._event(
                "charge.refunded",
                {
                    "id": new("ch"),
                    "object": "charge",
                    "payment_intent": intent["id"],
                    "metadata": intent["metadata"],
                    "refunded": True,
                },
            )
            return 200, refund

        return await self._idempotent(request, handle)

    # --- what the tests read ---------------------------------------------------------------

    def attached_cards(self) -> list[dict]:
        return [m for m in self.methods.values() if m["customer"] is not None]

    def charged_cents(self) -> int:
        return sum(
            i["amount_received"]
            for i in self.payment_intents.values()
            if i["status"] == "succeeded" and not i.get("refunded")
        )
