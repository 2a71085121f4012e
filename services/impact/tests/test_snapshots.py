"""Report snapshots through the real consumer: a warm call is served from the kept bytes
(checked against the projection's version on the event loop, before any build), those
bytes are the ones a fresh build gives, and any new event makes the next call build again."""

from __future__ import annotations

import pytest

from libs.common.contracts import debate as dt
from services.impact import api, snapshots
from services.impact.tests.test_debate_energy import comment, send
from services.impact.tests.test_impact_service import impact
from tests.impact_scenario import at

__all__ = ["impact"]

CALLS = [
    ("/report", {"period": "2026"}),
    ("/report", {"period": "2026", "format": "csv"}),
    ("/report", {"period": "2026", "neighbourhood": "centre"}),
    # no `from`: the series' periods come from the stored span, read before the check
    ("/indicators/participation.contributions", {"period": "month"}),
    (
        "/indicators/participation.contributions",
        {"period": "week", "from": "2026-03-02", "to": "2026-03-15", "neighbourhood": "centre"},
    ),
]


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """The name of every report or series build, in order."""
    seen: list[str] = []
    for name in ("build_report", "indicator_series_data"):
        real = getattr(api, name)

        async def counted(*args, _real=real, _name=name, **kwargs):
            seen.append(_name)
            return await _real(*args, **kwargs)

        monkeypatch.setattr(api, name, counted)
    return seen


async def bodies(service) -> list[bytes]:
    out = []
    for path, params in CALLS:
        response = await service.client.get(path, params=params)
        assert response.status_code == 200, response.text
        out.append(response.content)
    return out


async def fresh(service, monkeypatch) -> list[bytes]:
    monkeypatch.setattr(snapshots, "ENABLED", False)
    try:
        return await bodies(service)
    finally:
        monkeypatch.setattr(snapshots, "ENABLED", True)


async def test_warm_calls_are_the_kept_bytes_until_an_event_changes_them(
    impact, builds, monkeypatch
):
    posted = [
        comment(dt.CommentPosted, "c1", "a", "centre", at(3, 2), in_reply_to=None),
        comment(dt.CommentPosted, "c2", "b", "gare", at(3, 3), in_reply_to=None),
    ]
    n = await send(impact, posted, 0)
    first = await bodies(impact)
    built = len(builds)
    assert built == 4  # two reports (the CSV renders the kept data) and two series
    assert await bodies(impact) == first  # warm: the same bytes, nothing built
    assert len(builds) == built
    assert await fresh(impact, monkeypatch) == first  # what a fresh build gives, to the byte

    # Same month, same periods: only the projection's version tells the snapshots are stale.
    later = comment(dt.CommentPosted, "c3", "a", "centre", at(3, 9), in_reply_to=None)
    await send(impact, [later], n)
    builds.clear()
    second = await bodies(impact)
    assert len(builds) == 4
    assert all(a != b for a, b in zip(first, second, strict=True))
    assert await bodies(impact) == second and len(builds) == 4
    assert await fresh(impact, monkeypatch) == second
