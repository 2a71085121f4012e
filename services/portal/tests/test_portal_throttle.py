"""Log-in throttling per account and per address: free first failures, then a growing
wait answered 429 with Retry-After; shared by replicas through the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.portal import throttle
from services.portal.app import create_app
from services.portal.testkit import csrf_of, make_account

RIGHT = "correct horse battery"


class Clock:
    def __init__(self, monkeypatch) -> None:
        self.at = datetime.now(UTC)
        monkeypatch.setattr(throttle, "now", lambda: self.at)

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    token = await csrf_of(client)
    return await client.post("/login", data={"email": email, "password": password, "csrf": token})


@pytest.mark.parametrize(
    ("failures", "seconds"), [(0, 0), (4, 0), (5, 1), (6, 2), (9, 16), (14, 512), (15, 900)]
)
def test_the_wait_doubles_after_the_free_failures_up_to_fifteen_minutes(failures, seconds):
    assert throttle.wait_after(failures, free=5) == timedelta(seconds=seconds)
    assert throttle.wait_after(10_000, free=5) == timedelta(minutes=15)


async def test_after_five_failures_even_the_right_password_waits(portal, monkeypatch):
    clock = Clock(monkeypatch)
    await make_account(portal, email="ben@example.org")
    for _ in range(5):
        assert (await attempt(portal.client, "ben@example.org", "wrong guess!")).status_code == 401
    refused = await attempt(portal.client, "ben@example.org", RIGHT)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert 'data-testid="login-error"' in refused.text and "1 s" in refused.text
    clock.advance(seconds=1)
    assert (await attempt(portal.client, "ben@example.org", "wrong again")).status_code == 401
    refused = await attempt(portal.client, "ben@example.org", RIGHT)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    script = await portal.client.post(
        "/login",
        data={"email": "ben@example.org", "password": RIGHT, "csrf": await csrf_of(portal.client)},
        headers={"Accept": "application/problem+json"},
    )
    assert script.status_code == 429 and script.headers["retry-after"] == "2"
    assert script.headers["content-type"] == "application/problem+json"
    assert script.json()["retry_after"] == 2 and script.json()["status"] == 429
    clock.advance(seconds=2)
    assert (await attempt(portal.client, "ben@example.org", RIGHT)).status_code == 303
    # Success forgot the account's failures: five free ones again.
    portal.client.cookies.clear()
    for _ in range(5):
        assert (await attempt(portal.client, "ben@example.org", "wrong guess!")).status_code == 401
    assert (await attempt(portal.client, "ben@example.org", RIGHT)).status_code == 429


async def test_an_unknown_email_is_throttled_exactly_like_a_known_one(portal, monkeypatch):
    Clock(monkeypatch)
    await make_account(portal, email="ben@example.org")
    answers = {}
    for email in ("ben@example.org", "nobody@example.org"):
        statuses = [
            (await attempt(portal.client, email, "wrong guess!")).status_code for _ in range(6)
        ]
        last = await attempt(portal.client, email, "wrong guess!")
        answers[email] = (statuses, last.status_code, last.headers.get("retry-after"))
    assert answers["ben@example.org"] == answers["nobody@example.org"]
    assert answers["nobody@example.org"] == ([401] * 5 + [429], 429, "1")


async def test_one_address_guessing_many_accounts_is_slowed_down(portal, monkeypatch):
    Clock(monkeypatch)
    await make_account(portal, email="ben@example.org")
    for n in range(throttle.ADDRESS_FREE):
        response = await attempt(portal.client, f"user{n}@example.org", "wrong guess!")
        assert response.status_code == 401
    refused = await attempt(portal.client, "ben@example.org", RIGHT)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1


async def test_a_second_replica_sees_the_same_wait(portal, service_factory, monkeypatch):
    Clock(monkeypatch)
    await make_account(portal, email="ben@example.org")
    for _ in range(5):
        await attempt(portal.client, "ben@example.org", "wrong guess!")
    replica = await service_factory("portal", create_app)  # same database, another app
    assert replica.app is not portal.app
    refused = await attempt(replica.client, "ben@example.org", RIGHT)
    assert refused.status_code == 429


async def test_failures_are_forgotten_an_hour_after_the_last_one(portal, monkeypatch):
    from sqlalchemy import select

    from services.portal.db import login_failures

    clock = Clock(monkeypatch)
    await make_account(portal, email="ben@example.org")
    for _ in range(5):
        await attempt(portal.client, "ben@example.org", "wrong guess!")
    clock.advance(minutes=61)
    # The wait is over and the count starts again: five free failures.
    for _ in range(5):
        assert (await attempt(portal.client, "ben@example.org", "wrong guess!")).status_code == 401
    clock.advance(minutes=61)
    await attempt(portal.client, "someone@example.org", "wrong guess!")
    async with portal.runtime.db.transaction() as session:
        keys = {row.key for row in (await session.execute(select(login_failures))).all()}
    assert keys == {"account:someone@example.org", "address:127.0.0.1"}
