"""Unverified accounts browse and list, the portal says why the rest waits; birthdates go
from sign-up or staff into the tokens the portal mints."""

from __future__ import annotations

import jwt

from services.portal import accounts
from services.portal.testkit import csrf_of, log_in, make_account

VERIFICATION_REQUIRED = {
    "type": "https://sharitories.org/problems/verification-required",
    "title": "Verification required",
    "status": 403,
    "detail": "Only verified members may transfer credits.",
}


def claims_of(request) -> dict:
    return jwt.decode(
        request.headers["authorization"].split()[1], options={"verify_signature": False}
    )


async def test_an_unverified_account_is_told_why_it_cannot_give_credits(portal):
    await make_account(portal, email="new@example.org", status=accounts.PENDING)
    await make_account(portal, email="friend@example.org")
    portal.fake.on("POST", "http://exchange.test/transfers", VERIFICATION_REQUIRED, status=403)
    account = {"balance": 0, "debit_limit": 1200, "entries": []}
    portal.fake.on("GET", "http://exchange.test/accounts/me", account)
    await log_in(portal.client, "new@example.org")
    token = await csrf_of(portal.client, "/account")
    response = await portal.client.post(
        "/credits/transfer",
        data={"csrf": token, "to_email": "friend@example.org", "minutes": "30"},
        follow_redirects=True,
    )
    assert "demande un compte vérifié" in response.text
    assert "Only verified members" not in response.text  # the friendly text, not the raw one
    [transfer] = [c for c in portal.fake.calls if c.url.path == "/transfers"]
    assert claims_of(transfer)["verified"] is False


async def test_pages_show_a_notice_while_the_account_is_unverified(portal):
    await make_account(portal, email="new@example.org", status=accounts.PENDING)
    await log_in(portal.client, "new@example.org")
    page = await portal.client.get("/account")
    assert 'data-testid="unverified-notice"' in page.text
    assert "voter, contribuer à une cagnotte" in page.text
    portal.client.cookies.clear()
    await make_account(portal, email="ok@example.org")
    await log_in(portal.client, "ok@example.org")
    assert 'data-testid="unverified-notice"' not in (await portal.client.get("/account")).text


async def test_staff_record_the_birthdate_at_verification_and_tokens_carry_it(portal):
    pending = await make_account(portal, email="cleo@example.org", status=accounts.PENDING)
    await make_account(portal, email="agent@example.org", roles=("staff",))
    portal.fake.on("PATCH", "http://exchange.test/members/me", {"id": pending.id})
    await log_in(portal.client, "agent@example.org")
    token = await csrf_of(portal.client, "/staff/residents")
    bad = await portal.client.post(
        f"/staff/residents/{pending.id}/decide",
        data={"decision": "verify", "birthdate": "3024-01-01", "csrf": token},
        follow_redirects=True,
    )
    assert "1900" in bad.text  # refused, still pending
    response = await portal.client.post(
        f"/staff/residents/{pending.id}/decide",
        data={"decision": "verify", "birthdate": "2008-06-30", "csrf": token},
    )
    assert response.status_code == 303
    profiles = [claims_of(c) for c in portal.fake.calls if c.url.path == "/members/me"]
    [claims] = [c for c in profiles if c["sub"] == pending.id]
    assert claims["verified"] is True
    assert claims["birthdate"] == "2008-06-30"


async def test_tokens_have_no_birthdate_claim_when_none_is_known(portal):
    me = await make_account(portal, email="ben@example.org")
    portal.fake.on("PATCH", "http://exchange.test/members/me", {"id": me.id})
    await log_in(portal.client, "ben@example.org")
    [profile] = [c for c in portal.fake.calls if c.url.path == "/members/me"]
    assert "birthdate" not in claims_of(profile)
