"""The portal's impact pages against the real impact service (issue 17): the report downloads
(HTML in the reader's language, CSV, JSON), money saved on the dashboard, bars inside their
box. Only the budget service (edition names) is a fake here."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest

from services.impact.catalogue import CURRENT_VERSION
from services.impact.render import CSV_COLUMNS
from services.impact.tests.test_impact_service import impact, publish, until_applied
from services.portal.app import create_app
from services.portal.backends import Backends
from services.portal.config import PortalSettings
from services.portal.testkit import FakeServices
from tests.impact_scenario import hand_computed_scenario

__all__ = ["impact"]
VALUE_ROOM = 40  # drawing units: "< 5" or "1 234" at the chart's 13 px text


class ToImpact(httpx.AsyncBaseTransport):
    """impact.test answers from the impact app itself; every other service from a fake."""

    def __init__(self, impact_app, fake: FakeServices) -> None:
        self.impact = httpx.ASGITransport(app=impact_app)
        self.fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "impact.test":
            return await self.impact.handle_async_request(request)
        return self.fake.handle(request)


@pytest.fixture
async def portal(service_factory, impact):
    events = hand_computed_scenario()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))
    service = await service_factory("portal", create_app)
    fake = FakeServices()
    fake.on("GET", "http://budget.test/editions", [])
    await service.app.state.backends.close()
    service.app.state.backends = Backends(
        service.settings,
        PortalSettings(
            exchange_url="http://exchange.test",
            crowdfunding_url="http://crowdfunding.test",
            budget_url="http://budget.test",
            impact_url="http://impact.test",
        ),
        transport=ToImpact(impact.app, fake),
    )
    yield service
    await service.app.state.backends.close()


async def test_the_json_report_downloads_from_the_portal(portal):
    response = await portal.client.get("/impact/report.json", params={"period": "2026"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == (
        'attachment; filename="sharitories-impact-2026.json"'
    )
    report = response.json()
    assert report["period"]["label"] == "2026" and report["catalogue"]["version"] == CURRENT_VERSION
    assert all(f["datasets"] for f in report["factors"])


async def test_the_csv_download_carries_factors_and_sources(portal):
    response = await portal.client.get("/impact/report.csv", params={"period": "2026"})
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    header = next(csv.reader(io.StringIO(response.text)))
    assert tuple(header) == CSV_COLUMNS


@pytest.mark.parametrize(("accept", "lang"), [("en-GB,en;q=0.9", "en"), ("fr-FR", "fr")])
async def test_the_html_report_speaks_the_readers_language(portal, accept, lang):
    response = await portal.client.get(
        "/impact/report.html", params={"period": "2026"}, headers={"Accept-Language": accept}
    )
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in response.text
    assert response.headers["content-language"] == lang
    policy = response.headers["content-security-policy"]
    assert "style-src 'sha256-" in policy and "unsafe-inline" not in policy
    assert (await portal.client.get("/impact/report.pdf")).status_code == 404


async def test_the_dashboard_shows_money_saved_and_keeps_bars_in_their_box(portal):
    page = await portal.client.get("/impact", params={"period": "2026"})
    assert page.status_code == 200
    saved = re.search(
        r'data-indicator="money.saved_by_borrowers">\s*<span class="value">([^<]+)<', page.text
    )
    assert saved and saved.group(1) == "67,50\u00a0€"
    assert '<option value="2026" selected>' in page.text  # the year asked for, not all time
    assert 'href="/impact/report.json?period=2026"' in page.text
    bars = re.findall(
        r'<svg class="chart[^"]*" viewBox="0 0 (\d+) \d+"(.*?)</svg>', page.text, flags=re.S
    )
    horizontal = [(w, body) for w, body in bars if '<rect class="bar" ' in body]
    assert len(horizontal) == 2  # loans and active members per neighbourhood
    for width, body in horizontal:
        rects = re.findall(r'<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', body)
        values = re.findall(r'</rect>\s*<text x="([\d.]+)"', body)
        assert rects and len(values) == len(rects)
        for (x, w), at in zip(rects, values, strict=True):
            # the bar ends inside the box, and its value starts after it with room to be read
            assert float(x) + float(w) < float(at) <= int(width) - VALUE_ROOM
