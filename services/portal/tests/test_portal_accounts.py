"""Accounts: sign-up with address → neighbourhood, argon2 log-in, sessions, verification."""

from __future__ import annotations

import jwt
from sqlalchemy import select

from services.portal import accounts
from services.portal.db import accounts as accounts_table
from services.portal.territory import directory
from services.portal.testkit import csrf_of, log_in, make_account


async def sign_up(client, **fields):
    data = {
        "display_name": "Awa Diallo",
        "email": "awa@example.org",
        "password": "a long enough password",
        "address": "12 bis rue des Tilleuls, 99000 Valmont",
        **fields,
    }
    data["csrf"] = await csrf_of(client, "/signup")
    return await client.post("/signup", data=data)


async def test_sign_up_places_the_resident_in_the_neighbourhood_of_their_street(portal):
    response = await sign_up(portal.client, birthdate="1990-04-02")
    assert response.status_code == 303
    assert response.headers["location"] == "/signup/done"
    async with portal.runtime.db.transaction() as session:
        row = (await session.execute(select(accounts_table))).one()
    assert row.neighbourhood == "faubourg"
    assert row.status == "pending"
    assert row.roles == "resident"
    assert row.birthdate.isoformat() == "1990-04-02"
    assert row.password_hash.startswith("$argon2id$")
    assert "a long enough password" not in row.password_hash
    await log_in(portal.client, "awa@example.org", "a long enough password")
    page = await portal.client.get("/account")
    assert page.status_code == 200
    assert "Faubourg Nord" in page.text
    assert 'data-testid="account-status">En attente' in page.text


async def test_an_address_outside_the_city_is_refused_naming_the_field(portal):
    response = await sign_up(portal.client, address="1 Downing Street")
    assert response.status_code == 422
    assert 'id="f-address-error"' in response.text
    assert 'aria-invalid="true"' in response.text


async def test_sign_up_answers_alike_whether_or_not_the_email_has_an_account(portal):
    first = await sign_up(portal.client)
    portal.client.cookies.clear()
    again = await sign_up(portal.client, email="AWA@example.org", password="another password!")
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"] == "/signup/done"
    assert ("set-cookie" in first.headers) == ("set-cookie" in again.headers)
    done = await portal.client.get("/signup/done")
    assert 'data-testid="signup-done"' in done.text
    async with portal.runtime.db.transaction() as session:
        [row] = (await session.execute(select(accounts_table))).all()
    assert accounts.HASHER.verify(row.password_hash, "a long enough password")


async def test_an_organisation_signs_up_logs_in_and_gets_its_role_in_tokens(portal):
    await sign_up(
        portal.client,
        email="contact@cycles.example",
        display_name="Cycles du Plateau",
        kind="organisation",
    )
    async with portal.runtime.db.transaction() as session:
        row = (await session.execute(select(accounts_table))).one()
    assert row.roles == "organisation" and row.birthdate is None
    await log_in(portal.client, "contact@cycles.example", "a long enough password")
    page = await portal.client.get("/account")
    assert "Organisation" in page.text


async def test_an_impossible_birthdate_is_refused_naming_the_field(portal):
    for bad in ("1850-01-01", "2999-01-01", "02/04/1990"):
        response = await sign_up(portal.client, birthdate=bad)
        assert response.status_code == 422
        assert 'id="f-birthdate-error"' in response.text


async def test_short_password_is_refused(portal):
    response = await sign_up(portal.client, password="short")
    assert response.status_code == 422
    assert 'id="f-password-error"' in response.text


async def test_log_in_with_the_right_password_opens_a_session(portal):
    await make_account(portal, email="ben@example.org")
    response = await log_in(portal.client, "ben@example.org")
    assert response.headers["location"] == "/account"
    assert "ben@example.org" in (await portal.client.get("/account")).text


async def test_wrong_password_and_unknown_email_fail_alike(portal):
    await make_account(portal, email="ben@example.org")
    token = await csrf_of(portal.client)
    wrong = await portal.client.post(
        "/login", data={"email": "ben@example.org", "password": "nope nope nope", "csrf": token}
    )
    unknown = await portal.client.post(
        "/login", data={"email": "nobody@example.org", "password": "nope nope", "csrf": token}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (await portal.client.get("/account")).status_code == 303


async def test_log_out_ends_the_session(portal):
    await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    await portal.client.post("/logout", data={"csrf": await csrf_of(portal.client, "/")})
    response = await portal.client.get("/loans")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/loans")


async def test_a_form_without_its_csrf_token_is_refused(portal):
    await make_account(portal, email="ben@example.org")
    response = await portal.client.post(
        "/login", data={"email": "ben@example.org", "password": "correct horse battery"}
    )
    assert response.status_code == 403


async def test_a_tampered_session_cookie_is_ignored(portal):
    account = await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    cookie = portal.client.cookies.get("sharitories_session")
    portal.client.cookies.clear()
    payload, _, signature = cookie.partition(".")
    portal.client.cookies.set("sharitories_session", payload + "." + signature[::-1])
    page = await portal.client.get("/account")
    assert page.status_code == 303
    assert account.id


async def test_log_in_does_not_follow_an_open_redirect(portal):
    await make_account(portal, email="ben@example.org")
    token = await csrf_of(portal.client)
    response = await portal.client.post(
        "/login",
        data={
            "email": "ben@example.org",
            "password": "correct horse battery",
            "csrf": token,
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"


async def test_staff_verify_a_pending_resident_from_the_queue(portal):
    pending = await make_account(portal, email="cleo@example.org", status=accounts.PENDING)
    await make_account(portal, email="agent@example.org", roles=("staff",))
    portal.fake.on("PATCH", "http://exchange.test/members/me", {"id": pending.id})
    await log_in(portal.client, "agent@example.org")
    queue = await portal.client.get("/staff/residents")
    assert "cleo@example.org" in queue.text
    token = await csrf_of(portal.client, "/staff/residents")
    response = await portal.client.post(
        f"/staff/residents/{pending.id}/decide", data={"decision": "verify", "csrf": token}
    )
    assert response.status_code == 303
    async with portal.runtime.db.transaction() as session:
        decided = await accounts.get_account(session, account_id=pending.id)
    assert decided.verified
    assert "cleo@example.org" not in (await portal.client.get("/staff/residents")).text
    # The exchange got the resident's profile with a token minted for the resident.
    profiles = [
        jwt.decode(c.headers["authorization"].split()[1], options={"verify_signature": False})
        for c in portal.fake.calls
        if c.url.path == "/members/me"
    ]
    [claims] = [c for c in profiles if c["sub"] == pending.id]
    assert claims["verified"] is True
    again = await portal.client.post(
        f"/staff/residents/{pending.id}/decide", data={"decision": "verify", "csrf": token}
    )
    assert again.status_code == 303  # back to the queue with "already decided"


async def test_a_resident_cannot_open_the_staff_pages(portal):
    await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    for path in ("/staff", "/staff/residents", "/staff/desk", "/staff/editions"):
        assert (await portal.client.get(path)).status_code == 403, path


async def test_a_reviewer_sees_review_queues_but_not_verification(portal):
    await make_account(portal, email="rev@example.org", roles=("reviewer",))
    portal.fake.on("GET", "http://crowdfunding.test/campaigns", [])
    portal.fake.on("GET", "http://crowdfunding.test/match-pools", [])
    await log_in(portal.client, "rev@example.org")
    assert (await portal.client.get("/staff")).status_code == 200
    assert (await portal.client.get("/staff/campaigns")).status_code == 200
    assert (await portal.client.get("/staff/residents")).status_code == 403


def test_street_directory_reads_numbers_suffixes_accents_and_city():
    streets = directory()
    assert streets.neighbourhood_of("3, Place de l'hotel de ville") == "centre"
    assert streets.neighbourhood_of("5 Rue Emile Zola 99000 Valmont") is None
    assert streets.neighbourhood_of("5 Rue Émile Zola, 99000 Valmont") == "faubourg"
    assert streets.neighbourhood_of("7 ter avenue de la gare") == "gare"
    assert streets.neighbourhood_of("rue inconnue") is None
