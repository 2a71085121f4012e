"""Sessions live in the portal's database: logging out or changing the password ends them
for good, and they expire after idling or after their absolute lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from services.portal import sessions
from services.portal.app import create_app
from services.portal.db import sessions as sessions_table
from services.portal.testkit import csrf_of, log_in, make_account

COOKIE = "sharitories_session"


def second_browser(portal) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=portal.app), base_url="http://portal"
    )


async def logged_in(client: httpx.AsyncClient) -> bool:
    return (await client.get("/account")).status_code == 200


class Clock:
    def __init__(self, monkeypatch) -> None:
        self.at = datetime.now(UTC)
        monkeypatch.setattr(sessions, "now", lambda: self.at)

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


async def test_a_cookie_replayed_after_log_out_opens_nothing(portal):
    await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    stolen = portal.client.cookies.get(COOKIE)
    await portal.client.post("/logout", data={"csrf": await csrf_of(portal.client, "/")})
    assert not await logged_in(portal.client)
    async with second_browser(portal) as thief:
        thief.cookies.set(COOKIE, stolen)
        response = await thief.get("/account")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
    async with portal.runtime.db.transaction() as session:
        assert (await session.execute(select(sessions_table))).all() == []


async def test_the_database_holds_only_a_hash_of_the_session_token(portal):
    account = await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    async with portal.runtime.db.transaction() as session:
        [row] = (await session.execute(select(sessions_table))).all()
    assert row.account_id == account.id
    cookie = portal.client.cookies.get(COOKIE)
    assert row.token_hash not in cookie and len(row.token_hash) == 64


async def test_changing_the_password_ends_every_other_session(portal):
    await make_account(portal, email="ben@example.org")
    async with second_browser(portal) as other_device:
        await log_in(other_device, "ben@example.org")
        await log_in(portal.client, "ben@example.org")
        assert await logged_in(other_device)
        token = await csrf_of(portal.client, "/account")
        wrong = await portal.client.post(
            "/account/password",
            data={"csrf": token, "current_password": "not it at all", "new_password": "x" * 12},
        )
        assert wrong.status_code == 303
        assert await logged_in(other_device)  # nothing changed
        changed = await portal.client.post(
            "/account/password",
            data={
                "csrf": token,
                "current_password": "correct horse battery",
                "new_password": "a brand new passphrase",
            },
        )
        assert changed.status_code == 303
        assert not await logged_in(other_device)
        assert await logged_in(portal.client)  # this browser got a fresh session
    portal.client.cookies.clear()
    await log_in(portal.client, "ben@example.org", "a brand new passphrase")


async def test_an_idle_session_ends(portal, monkeypatch):
    clock = Clock(monkeypatch)
    await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    clock.advance(minutes=29)
    assert await logged_in(portal.client)
    clock.advance(minutes=29)  # 29 minutes after the last request: still alive
    assert await logged_in(portal.client)
    clock.advance(minutes=31)
    assert not await logged_in(portal.client)


async def test_a_busy_session_still_ends_after_its_absolute_lifetime(portal, monkeypatch):
    clock = Clock(monkeypatch)
    await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    for _ in range(7 * 3 + 2):  # a request every 20 minutes for 7 h 40
        clock.advance(minutes=20)
        assert await logged_in(portal.client)
    clock.advance(minutes=20)  # 8 h after the log-in
    assert not await logged_in(portal.client)


async def test_production_sets_secure_cookies_and_hsts(service_factory, production_secrets):
    portal = await service_factory("portal", create_app, env="production")
    await make_account(portal, email="ben@example.org")
    # A Secure cookie comes back only over HTTPS (as behind the city's TLS proxy).
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=portal.app), base_url="https://portal"
    ) as browser:
        token = await csrf_of(browser)
        response = await browser.post(
            "/login",
            data={"email": "ben@example.org", "password": "correct horse battery", "csrf": token},
        )
        assert response.status_code == 303
        assert await logged_in(browser)
    cookie = response.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_development_has_neither_secure_cookies_nor_hsts(portal):
    page = await portal.client.get("/login")
    assert "strict-transport-security" not in page.headers
    assert "secure" not in page.headers["set-cookie"].lower()
    assert page.headers["permissions-policy"].startswith("camera=()")


def test_templates_need_nothing_the_content_security_policy_forbids():
    """CSP: script-src and style-src 'self' only, so no inline script, style or handler."""
    import re
    from pathlib import Path

    from services.portal.app import SECURITY_HEADERS

    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.I
    )
    templates = Path(__file__).parents[1] / "templates"
    offenders = {
        str(path.relative_to(templates)): inline.findall(path.read_text())
        for path in templates.rglob("*.html")
        if inline.findall(path.read_text())
    }
    assert offenders == {}
