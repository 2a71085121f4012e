"""Tokens: HS256 in development, RS256 from an identity provider's JWKS in production."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from libs.common.auth import CurrentPrincipal, TokenVerifier, mint_token, require_roles
from libs.common.problems import Unauthorized
from libs.common.settings import Settings
from libs.common.web import install_problem_handlers


def settings(**kw) -> Settings:
    return Settings(env="test", **kw)


def test_dev_token_round_trip_carries_roles_and_neighbourhood():
    s = settings()
    token = mint_token(s, sub="m-42", roles=["resident"], neighbourhood="gare")
    principal = TokenVerifier(s).verify(token)
    assert principal.sub == "m-42"
    assert principal.roles == {"resident"}
    assert principal.neighbourhood == "gare"
    assert principal.verified


@pytest.mark.parametrize("sub", ["dora.martin@example.org", "06 12 34 56 78", "two words"])
def test_a_token_whose_subject_is_not_pseudonymous_is_refused(sub):
    # The subject becomes an event's actor: it must never carry an e-mail or a phone.
    s = settings()
    with pytest.raises(Unauthorized, match="pseudonymous"):
        TokenVerifier(s).verify(mint_token(s, sub=sub, roles=["resident"]))


def test_a_remembered_token_still_expires_and_a_tampered_copy_is_still_refused():
    s = settings()
    verifier = TokenVerifier(s)
    token = mint_token(s, sub="m", roles=["staff"], ttl=timedelta(seconds=1))
    assert verifier.verify(token).sub == "m"
    assert verifier.verify(token).sub == "m"  # answered from memory
    with pytest.raises(Unauthorized):
        verifier.verify(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    time.sleep(1.1)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)


def test_tampered_expired_and_foreign_tokens_are_refused():
    s = settings()
    verifier = TokenVerifier(s)
    token = mint_token(s, sub="m", roles=["staff"])
    with pytest.raises(Unauthorized):
        verifier.verify(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(mint_token(s, sub="m", roles=["staff"], ttl=timedelta(seconds=-1)))
    other = settings(jwt_secret="another-secret-of-sufficient-length-1234")
    with pytest.raises(Unauthorized):
        verifier.verify(mint_token(other, sub="m", roles=["staff"]))
    with pytest.raises(ValueError, match="unknown roles"):
        mint_token(s, sub="m", roles=["mayor"])


@pytest.fixture
def jwks_server():
    """A local OIDC-style JWKS endpoint serving one RSA public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="city-key-1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield key, f"http://127.0.0.1:{server.server_port}/jwks.json"
    server.shutdown()


ISSUER, AUDIENCE = "https://id.valmont.example/realms/city", "sharitories"


def rs256(key, **claims) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": "kc-user-1",
        "exp": now + timedelta(minutes=5),
        "iat": now,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "realm_access": {"roles": ["reviewer", "offline_access"]},
        "neighbourhood": "port",
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "city-key-1"})


def test_rs256_token_verified_against_the_providers_jwks(jwks_server):
    key, url = jwks_server
    verifier = TokenVerifier(settings(jwt_jwks_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE))
    principal = verifier.verify(rs256(key))
    assert principal.sub == "kc-user-1"
    assert principal.roles == {"reviewer"}
    hs = mint_token(settings(), sub="x", roles=["admin"])
    with pytest.raises(Unauthorized):
        verifier.verify(hs)  # an HS256 dev token is worthless in production


def test_jwks_mode_checks_the_issuer_and_the_audience_of_every_token(jwks_server):
    key, url = jwks_server
    verifier = TokenVerifier(settings(jwt_jwks_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE))
    refused = {
        "another realm": rs256(key, iss="https://id.valmont.example/realms/other"),
        "no issuer": rs256(key, iss=None),
        "another client": rs256(key, aud="parking-app"),
        "no audience": rs256(key, aud=None),
    }
    for case, token in refused.items():
        with pytest.raises(Unauthorized):
            verifier.verify(token)
            pytest.fail(case)
    assert verifier.verify(rs256(key, aud=["parking-app", AUDIENCE])).sub == "kc-user-1"


def test_jwks_mode_cannot_run_without_an_issuer_and_an_audience(jwks_server):
    _, url = jwks_server
    with pytest.raises(ValueError, match="JWT_AUDIENCE"):
        TokenVerifier(settings(jwt_jwks_url=url, jwt_issuer=ISSUER))


def test_hs256_checks_the_issuer_and_the_audience_when_one_is_configured():
    plain = settings()
    verifier = TokenVerifier(plain)
    assert verifier.verify(mint_token(plain, sub="m", roles=["resident"])).sub == "m"
    with pytest.raises(Unauthorized, match="issuer"):
        verifier.verify(mint_token(plain, sub="m", roles=["staff"], iss="someone-else"))
    no_issuer = {"sub": "m", "roles": ["staff"], "exp": datetime.now(UTC) + timedelta(minutes=5)}
    with pytest.raises(Unauthorized, match="iss"):
        verifier.verify(jwt.encode(no_issuer, plain.jwt_secret, algorithm="HS256"))
    # No audience configured: a token addressed to an audience is not for us.
    with pytest.raises(Unauthorized, match=r"(?i)audience"):
        verifier.verify(mint_token(plain, sub="m", roles=["staff"], aud="other-app"))

    scoped = settings(jwt_audience="valmont-services")
    scoped_verifier = TokenVerifier(scoped)
    assert scoped_verifier.verify(mint_token(scoped, sub="m", roles=["resident"])).sub == "m"
    with pytest.raises(Unauthorized, match=r"(?i)audience"):
        scoped_verifier.verify(mint_token(plain, sub="m", roles=["staff"], aud="other-app"))
    with pytest.raises(Unauthorized, match="aud"):
        scoped_verifier.verify(mint_token(plain, sub="m", roles=["staff"]))


def test_roles_are_enforced_with_problem_json():
    s = settings()
    app = FastAPI()
    install_problem_handlers(app)
    app.state.runtime = type("R", (), {"verifier": TokenVerifier(s)})()

    @app.get("/me")
    def me(principal: CurrentPrincipal):
        return {"sub": principal.sub}

    @app.post("/phases", dependencies=[Depends(require_roles("staff"))])
    def open_phase():
        return {"ok": True}

    client = TestClient(app)
    anonymous = client.get("/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    resident = {"Authorization": "Bearer " + mint_token(s, sub="r", roles=["resident"])}
    assert client.get("/me", headers=resident).json() == {"sub": "r"}
    refused = client.post("/phases", headers=resident)
    assert refused.status_code == 403
    assert "staff" in refused.json()["detail"]
    admin = {"Authorization": "Bearer " + mint_token(s, sub="a", roles=["admin"])}
    assert client.post("/phases", headers=admin).status_code == 200
