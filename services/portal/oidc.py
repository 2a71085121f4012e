"""Log-in through the city's OpenID Connect provider (authorization-code flow).

Configure PORTAL_OIDC_ISSUER, PORTAL_OIDC_CLIENT_ID, PORTAL_OIDC_CLIENT_SECRET (and
PORTAL_OIDC_REDIRECT_URL behind a proxy); PORTAL_OIDC_ONLY=true switches local passwords
off. The provider's ID token is verified against its JWKS; the account is linked by the
token's `sub`, takes its `roles` (or Keycloak's `realm_access.roles`) and `neighbourhood`
claims, and is verified from the start (the provider checked the identity).
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from libs.common.auth import ROLES
from services.portal.config import PortalSettings


class OidcError(Exception):
    pass


_DISCOVERY: dict[str, dict] = {}


async def discover(client: httpx.AsyncClient, issuer: str) -> dict:
    if issuer not in _DISCOVERY:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await client.get(url)
        response.raise_for_status()
        _DISCOVERY[issuer] = response.json()
    return _DISCOVERY[issuer]


async def exchange_code(
    client: httpx.AsyncClient, portal: PortalSettings, *, code: str, nonce: str, redirect_uri: str
) -> dict[str, Any]:
    """Trade the code for tokens and return the verified ID token's claims."""
    try:
        config = await discover(client, portal.oidc_issuer or "")
        response = await client.post(
            config["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": portal.oidc_client_id,
                "client_secret": portal.oidc_client_secret or "",
            },
        )
        response.raise_for_status()
        id_token = response.json()["id_token"]
        jwks = jwt.PyJWKSet.from_dict((await client.get(config["jwks_uri"])).json())
        kid = jwt.get_unverified_header(id_token).get("kid")
        key = next((k for k in jwks.keys if k.key_id == kid), jwks.keys[0])
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=["RS256", "ES256"],
            audience=portal.oidc_client_id,
            issuer=config.get("issuer", portal.oidc_issuer),
        )
    except (httpx.HTTPError, KeyError, ValueError, jwt.PyJWTError) as exc:
        raise OidcError(str(exc)) from exc
    if claims.get("nonce") != nonce:
        raise OidcError("nonce mismatch")
    return claims


def account_fields(claims: dict[str, Any]) -> dict[str, Any]:
    roles = claims.get("roles") or claims.get("realm_access", {}).get("roles", [])
    return {
        "subject": f"{claims.get('iss', '')}|{claims['sub']}",
        "email": claims.get("email", ""),
        "display_name": claims.get("name") or claims.get("preferred_username") or "",
        "roles": tuple(r for r in roles if r in ROLES) or ("resident",),
        "neighbourhood": claims.get("neighbourhood"),
    }
