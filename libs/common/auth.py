"""Bearer JWT verification, shared by every service.

Development: HS256 with `JWT_SECRET`. Production: RS256 tokens from an OIDC provider,
verified against its JWKS (`JWT_JWKS_URL`: Keycloak, FranceConnect…). Claims: `sub`
(pseudonymous member id), `roles`, `neighbourhood`, and optionally `verified`, `kind`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request

from libs.common.problems import Forbidden, Unauthorized, VerificationRequired
from libs.common.publictext import pseudonymous_id
from libs.common.settings import Settings
from libs.common.taxonomy import MemberKind

Role = Literal["resident", "organisation", "reviewer", "staff", "admin"]
ROLES: tuple[str, ...] = ("resident", "organisation", "reviewer", "staff", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a member id, their roles and their neighbourhood."""

    sub: str
    roles: frozenset[str] = field(default_factory=frozenset)
    neighbourhood: str | None = None
    verified: bool = False
    birthdate: str | None = None  # ISO date, when the identity provider gives it

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles)) or "admin" in self.roles

    @property
    def is_staff(self) -> bool:
        return self.has("staff")

    @property
    def kind(self) -> MemberKind:
        """The kind of member the caller acts as: staff (admins too) first, then
        organisation, else resident."""
        if self.roles & {"staff", "admin"}:
            return "staff"
        if "organisation" in self.roles:
            return "organisation"
        return "resident"


def mint_token(
    settings: Settings,
    *,
    sub: str,
    roles: list[str] | tuple[str, ...],
    neighbourhood: str | None = None,
    verified: bool = True,
    ttl: timedelta = timedelta(hours=12),
    **claims,
) -> str:
    """An HS256 token signed with the local secret (dev, tests, the portal)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    now = datetime.now(UTC)
    payload = {
        "sub": sub,
        "roles": list(roles),
        "neighbourhood": neighbourhood,
        "verified": verified,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + ttl,
        **claims,
    }
    if settings.jwt_audience:
        payload["aud"] = settings.jwt_audience
    return jwt.encode(payload, settings.jwt_secret, algorithm="HS256")


class TokenVerifier:
    """Verifies bearer tokens with the configured key material."""

    CACHE_SIZE = 10_000

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.jwt_jwks_url and not (settings.jwt_audience and settings.jwt_issuer):
            # A provider signs tokens for many clients: without both checks any of them,
            # minted for another application, would be accepted here.
            raise ValueError("JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE set")
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        # A token's signature and claims do not change: a client sending the same token
        # again is answered from here until the token expires. Decoding costs more than a
        # typical request's own work (far more with RS256).
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires = self._decode(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()  # cheap and bounded; busy clients re-verify once
        self._verified[token] = (principal, expires)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        # The issuer is always checked, and so is the audience: with JWT_AUDIENCE unset, a
        # token naming an audience was meant for someone else and is refused too.
        options = {"require": ["sub", "exp", "iss"], "verify_aud": True}
        try:
            if self._jwks:
                key, algorithms = self._jwks.get_signing_key_from_jwt(token).key, ["RS256"]
            else:
                key, algorithms = self.settings.jwt_secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                options=options,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Invalid token: {exc}") from exc
        try:
            # The subject travels in events as the actor: never an e-mail or a phone number.
            sub = pseudonymous_id(str(claims["sub"]))
        except ValueError as exc:
            raise Unauthorized(f"Invalid token: the subject {exc}") from exc
        roles = claims.get("roles") or claims.get("realm_access", {}).get("roles", [])
        principal = Principal(
            sub=sub,
            roles=frozenset(r for r in roles if r in ROLES),
            neighbourhood=claims.get("neighbourhood"),
            verified=bool(claims.get("verified", False)),
            birthdate=claims.get("birthdate"),
        )
        return principal, float(claims["exp"])


# Dependencies are `async def` although they never await: FastAPI runs a plain `def`
# dependency on its thread pool, a GIL hand-off per request that costs more than the work.


def _bearer_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send a bearer token in the Authorization header.")
    return request.app.state.runtime.verifier.verify(token)


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller, or 401."""
    return _bearer_principal(request)


async def optional_principal(request: Request) -> Principal | None:
    if not request.headers.get("authorization"):
        return None
    return _bearer_principal(request)


def require_roles(*roles: str):
    """FastAPI dependency factory: the caller must hold one of `roles` (admin always may)."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(f"This action needs one of the roles: {', '.join(roles)}.")
        return principal

    return check


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
# One meaning each (admin always passes, as in `require_roles`):
Staff = Annotated[Principal, Depends(require_roles("staff"))]
Reviewer = Annotated[Principal, Depends(require_roles("reviewer"))]
ReviewerOrStaff = Annotated[Principal, Depends(require_roles("reviewer", "staff"))]
# Who may hold a campaign or a pledge: a member of any kind, never a reviewer alone.
Holder = Annotated[Principal, Depends(require_roles("resident", "organisation", "staff"))]


def require_verified(principal: Principal) -> Principal:
    """An unverified account may browse and list, but not move credits, money or votes:
    a fresh sign-up could otherwise spend its overdraft at once, again with every new
    account. Staff and admins acting at the desk are never blocked."""
    if not principal.verified and not principal.is_staff:
        raise VerificationRequired(
            "Your account is not verified yet: staff verify it once they have checked your "
            "identity and address (at the town hall or online). Until then you can browse "
            "and list, but not spend, pledge or vote."
        )
    return principal


async def verified_member(principal: CurrentPrincipal) -> Principal:
    """FastAPI dependency: the caller, verified (or staff), or 403 verification-required."""
    return require_verified(principal)


VerifiedMember = Annotated[Principal, Depends(verified_member)]
