"""Issue 16 through the real consumer: debate contributions (hidden comments stop counting,
restored ones count again, whatever order the events arrive in; authors are the people of
the suppression pass) and citizen energy (the latest figure of a month wins; kWh and CO2e
with the catalogue's grid factor). Each report is read again after new events: a report
snapshot never outlives the events that change it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from libs.common.contracts import crowdfunding as cf
from libs.common.contracts import debate as dt
from libs.common.events import make_event
from services.impact.config import get_impact_settings
from services.impact.tests.test_impact_service import impact, publish, until_applied
from tests.impact_scenario import _where, at

__all__ = ["impact"]


def comment(kind, comment_id: str, author: str, nbhd: str, when, **extra):
    return make_event(
        kind(
            comment_id=comment_id,
            author_id=author,
            subject_kind="proposal",
            subject_id="P1",
            neighbourhood=nbhd,
            **extra,
        ),
        aggregate_id=comment_id,
        territory=_where(nbhd),
        occurred_at=when,
    )


def energy(record: str, campaign: str, nbhd: str, month: int, wh: int, when):
    return make_event(
        cf.EnergyProductionRecorded(
            record_id=record, campaign_id=campaign, neighbourhood=nbhd,
            month=date(2026, month, 1), wh=wh,
        ),
        aggregate_id=campaign,
        territory=_where(nbhd),
        occurred_at=when,
    )  # fmt: skip


async def get(service, path: str = "/report", **params) -> dict:
    response = await service.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def send(service, events: list, before: int) -> int:
    for envelope in events:
        await publish(service, envelope)
    await until_applied(service, before + len(events))
    return before + len(events)


async def test_contributions_count_visible_comments_by_neighbourhood(impact, monkeypatch):
    posted = [
        comment(dt.CommentPosted, "c1", "a", "centre", at(3, 2), in_reply_to=None),
        comment(dt.CommentPosted, "c2", "b", "centre", at(3, 3), in_reply_to=None),
        comment(dt.CommentPosted, "c3", "a", "centre", at(3, 4), in_reply_to="c1"),
        comment(dt.CommentPosted, "c4", "d", "gare", at(3, 5), in_reply_to=None),
    ]
    n = await send(impact, posted, 0)
    rep = await get(impact, period="2026")
    entry = rep["indicators"]["participation.contributions"]
    assert entry["value"] == 4 and entry["suppressed"] is False
    assert rep["indicators"]["participation.active_members"]["value"] == 3  # a, b, d

    # c2 hidden; c4 hidden then restored, the restoring delivered first.
    moderation = [
        comment(dt.CommentHidden, "c2", "b", "centre", at(4, 1), reason_code="insult"),
        comment(dt.CommentRestored, "c4", "d", "gare", at(4, 3)),
        comment(dt.CommentHidden, "c4", "d", "gare", at(4, 2), reason_code="spam"),
    ]
    n = await send(impact, moderation, n)
    rep = await get(impact, period="2026")
    entry = rep["indicators"]["participation.contributions"]
    assert entry["value"] == 3  # c1, c3 (author a) and c4
    cells = {c["neighbourhood"]: c for c in entry["cells"]}
    assert (cells["centre"]["value"], cells["centre"]["contributors"]) == (2, 1)
    assert (cells["gare"]["value"], cells["gare"]["contributors"]) == (1, 1)
    series = await get(
        impact, "/indicators/participation.contributions", period="month",
        **{"from": "2026-03-01", "to": "2026-04-30"},
    )  # fmt: skip
    assert [p["value"] for p in series["series"]] == [3, 0]

    # With k = 2 each neighbourhood's single author is too few: both cells and the
    # neighbourhood's own report hide the count; the city's total (2 authors) stays.
    monkeypatch.setenv("IMPACT_MIN_CELL", "2")
    get_impact_settings.cache_clear()
    rep = await get(impact, period="2026")
    entry = rep["indicators"]["participation.contributions"]
    assert entry["value"] == 3
    assert all(c["suppressed"] and c["value"] is None for c in entry["cells"])
    centre = await get(impact, period="2026", neighbourhood="centre")
    assert centre["indicators"]["participation.contributions"]["value"] is None


async def test_energy_keeps_the_latest_figure_of_each_month(impact):
    n = await send(impact, [energy("r1", "K1", "centre", 3, 100_000, at(4, 1))], 0)
    rep = await get(impact, period="2026")
    assert rep["indicators"]["environment.energy_produced"]["value"] == 100.0

    later = [
        energy("r3", "K1", "centre", 3, 150_000, at(4, 5)),  # replaces r1 (and r2 below)
        energy("r2", "K1", "centre", 3, 120_000, at(4, 3)),
        energy("r4", "K2", "gare", 3, 50_000, at(4, 2)),
        energy("r5", "K1", "centre", 4, 200_000, at(5, 1)),
    ]
    n = await send(impact, later, n)
    rep = await get(impact, period="2026")
    produced = rep["indicators"]["environment.energy_produced"]
    assert produced["value"] == 400.0
    assert {c["neighbourhood"]: c["value"] for c in produced["cells"]} == {
        "centre": 350.0,
        "gare": 50.0,
    }
    co2e = rep["indicators"]["environment.co2e_avoided_by_energy"]
    assert Decimal(co2e["value"]["exact"]["central"]) == Decimal("31.6")  # 400 x 0.079
    assert rep["catalogue"]["version"] == "v2"

    march = await get(impact, period="2026-03")
    assert march["indicators"]["environment.energy_produced"]["value"] == 200.0
    week = await get(impact, period="2026-W10")  # no whole month in a week
    assert week["indicators"]["environment.energy_produced"]["value"] == 0.0
    centre = await get(impact, period="2026", neighbourhood="centre")
    assert centre["indicators"]["environment.energy_produced"]["value"] == 350.0

    v1 = await get(impact, period="2026", catalogue="v1")
    assert v1["indicators"]["environment.energy_produced"]["value"] == 400.0
    assert v1["indicators"]["environment.co2e_avoided_by_energy"]["value"] is None
    series = await get(
        impact, "/indicators/environment.energy_produced", period="month",
        **{"from": "2026-02-01", "to": "2026-04-30"},
    )  # fmt: skip
    assert [p["value"] for p in series["series"]] == [0.0, 200.0, 200.0]
