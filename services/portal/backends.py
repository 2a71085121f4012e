"""HTTP calls from the portal to the four services, with a fresh short-lived JWT each time.

The portal never reads a service's database. Each call carries a token minted for the
logged-in account (sub = its pseudonymous id, its roles, neighbourhood, verification).
Problems (RFC 9457) come back as `BackendProblem`; an unreachable service as
`BackendDown`. Pages show both as a clear message, never a 500.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from libs.common.auth import mint_token
from libs.common.settings import Settings
from services.portal.accounts import Account
from services.portal.config import BACKENDS, PortalSettings


@dataclass
class BackendProblem(Exception):
    service: str
    status: int
    title: str
    detail: str
    field: str | None = None
    type: str = ""
    code: str | None = None  # stable, for wording it in the reader's language
    params: dict = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail or self.title

    @property
    def needs_verification(self) -> bool:
        """A 403 because the account is not verified yet (the services say so in the
        problem's type, title or detail)."""
        if self.status == 403 and self.code == "unverified":
            return True
        said = f"{self.type} {self.title} {self.detail}".lower()
        return self.status == 403 and ("verif" in said or "unverified" in said)


@dataclass
class BackendDown(Exception):
    service: str
    reason: str

    def __str__(self) -> str:
        return f"{self.service} unreachable: {self.reason}"


@dataclass(frozen=True)
class Caller:
    """Whom a call is made for: an account, or staff acting at the desk."""

    sub: str
    roles: tuple[str, ...]
    neighbourhood: str | None
    verified: bool
    birthdate: str | None = None  # ISO date, for the services' age rules

    @classmethod
    def of(cls, account: Account) -> Caller:
        return cls(
            sub=account.id,
            roles=account.roles,
            neighbourhood=account.neighbourhood,
            verified=account.verified,
            birthdate=account.birthdate.isoformat() if account.birthdate else None,
        )


class Backends:
    def __init__(
        self,
        settings: Settings,
        portal: PortalSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.portal = portal
        self.urls = {s: portal.base_url(s, settings) for s in BACKENDS}
        self.client = httpx.AsyncClient(timeout=portal.service_timeout, transport=transport)

    def token_for(self, caller: Caller) -> str:
        return mint_token(
            self.settings,
            sub=caller.sub,
            roles=list(caller.roles),
            neighbourhood=caller.neighbourhood,
            verified=caller.verified,
            ttl=timedelta(minutes=self.portal.token_minutes),
            **({"birthdate": caller.birthdate} if caller.birthdate else {}),
        )

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        caller: Caller | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        raw: bool = False,
    ) -> Any:
        headers = {}
        if caller is not None:
            headers["Authorization"] = f"Bearer {self.token_for(caller)}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if params:
            params = {k: v for k, v in params.items() if v not in (None, "")}
        try:
            response = await self.client.request(
                method, self.urls[service] + path, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise BackendDown(service, type(exc).__name__) from exc
        if response.status_code >= 400:
            raise _problem(service, response)
        if raw:
            return response
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.request(service, "GET", path, **kwargs)

    async def post(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.request(service, "POST", path, **kwargs)

    async def close(self) -> None:
        await self.client.aclose()


def _problem(service: str, response: httpx.Response) -> BackendProblem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    field_name = body.get("field")
    detail = body.get("detail") or ""
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        field_name = field_name or first.get("field")
        message = first.get("message") or ""
        if message and message not in detail:
            detail = f"{detail} ({message})" if detail else message
    if isinstance(detail, list):  # FastAPI's default validation body
        detail = "; ".join(str(d.get("msg", d)) for d in detail if isinstance(d, dict))
    return BackendProblem(
        service=service,
        status=response.status_code,
        title=str(body.get("title") or response.reason_phrase),
        detail=str(detail),
        field=field_name,
        type=str(body.get("type") or ""),
        code=str(body["code"]) if body.get("code") else None,
        params=body["params"] if isinstance(body.get("params"), dict) else {},
    )
