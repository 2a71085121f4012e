"""Phases by the calendar: voting opens and closes at the edition's dates, staff extend it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from libs.common.clock import clock
from services.budget.app import create_app
from services.budget.tests.support import Desk

START = date(2030, 3, 1)
END = date(2030, 3, 14)


@pytest.fixture
async def calendar(service_factory, monkeypatch):
    """A service whose calendar the test moves (`calendar.today = …`)."""
    service = await service_factory("budget", create_app)

    class Clock:
        today = START - timedelta(days=20)

    # Noon UTC is the same day in the territory's zone (Europe/Paris).
    monkeypatch.setattr(clock, "now", lambda: datetime.combine(Clock.today, time(12), UTC))
    desk = Desk(service)
    await desk.edition(phase_dates={"voting": {"start": START.isoformat(), "end": END.isoformat()}})
    await desk.phase("proposals")
    pid = await desk.propose("Benches")
    await desk.phase("pre_selection")
    await desk.phase("assessment")
    await desk.assess(pid, 10_00)
    return desk, Clock, pid


async def phase_of(desk) -> str:
    return (await desk.client.get(f"/editions/{desk.ed['id']}")).json()["phase"]


async def test_voting_opens_and_closes_at_the_edition_dates(calendar):
    desk, clock, pid = calendar
    assert await phase_of(desk) == "assessment"
    assert (await desk.vote("early", [pid])).status_code == 409
    clock.today = START
    assert await phase_of(desk) == "voting"  # nobody clicked
    assert (await desk.vote("first-day", [pid])).status_code == 201
    clock.today = END
    assert (await desk.vote("last-day", [pid])).status_code == 201
    clock.today = END + timedelta(days=1)
    assert await phase_of(desk) == "results"
    r = await desk.vote("late", [pid])  # the paper is cached; the write still checks the date
    assert r.status_code == 409 and "results" in r.json()["detail"]
    result = await desk.publish()
    assert result["envelopes"][0]["ballots"] == 2


async def test_staff_extend_voting_and_the_extension_is_recorded(calendar):
    desk, clock, pid = calendar
    clock.today = END + timedelta(days=1)
    assert await phase_of(desk) == "results"
    body = {"until": (END + timedelta(days=3)).isoformat(), "reason": "storm closed the town hall"}
    url = f"/editions/{desk.ed['id']}/voting/extension"
    r = await desk.client.post(url, json=body, headers=desk.service.auth("x"))
    assert r.status_code == 403
    r = await desk.client.post(url, json=body, headers=desk.staff)
    assert r.status_code == 201, r.text
    assert r.json()["phase"] == "voting"
    assert r.json()["voting_window"] == {
        "first_day": START.isoformat(),
        "last_day": body["until"],
        "extended": True,
    }
    assert (await desk.vote("extended", [pid])).status_code == 201
    r = await desk.client.post(url, json={**body, "until": END.isoformat()}, headers=desk.staff)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.until"
    clock.today = END + timedelta(days=4)
    assert await phase_of(desk) == "results"
    await desk.publish()
    r = await desk.client.post(
        url, json={**body, "until": (END + timedelta(days=9)).isoformat()}, headers=desk.staff
    )
    assert r.status_code == 409  # counted: too late


async def test_min_age_editions_use_the_token_birthdate(service_factory):
    service = await service_factory("budget", create_app)
    desk = Desk(service)
    await desk.edition(min_age=16)
    (pid,) = await desk.to_voting({"a": 10_00})
    r = await desk.vote("no-birthdate", [pid])
    assert r.status_code == 403 and r.json()["code"] == "birthdate_missing"
    assert "date of birth" in r.json()["detail"]
    young = (date.today() - timedelta(days=15 * 366)).isoformat()
    r = await desk.vote("young", [pid], birthdate=young)
    assert r.status_code == 403 and r.json()["code"] == "too_young"
    assert (await desk.vote("adult", [pid], birthdate="1990-05-17")).status_code == 201
