"""The printable impact report fits a phone (390 px) and a laptop (1,280 px): no table, chart,
hash or URL runs past the page (issue 17). Rendered by Debian's chromium; skipped without it."""

from __future__ import annotations

import copy

import pytest

from services.impact.render import report_html
from services.impact.tests.test_impact_service import impact, publish, until_applied
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from tests.impact_scenario import hand_computed_scenario

__all__ = ["impact"]

A4_TEXT_WIDTH = round((210 - 24) / 25.4 * 96)
# The widest thing on the page against the window: what the reader would scroll sideways.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName + ' ' + Math.round(e.getBoundingClientRect().right));
  return {width, scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 5)};
}"""


def stretched(report: dict) -> dict:
    """The real report with the longest words a city could give it."""
    report = copy.deepcopy(report)
    for row in report.get("neighbourhoods", [])[:1]:
        row["name"] = "Quartier-de-la-Gare-Saint-Jean-et-des-Anciens-Abattoirs-Municipaux"
    report["editions"] = [
        {**e, "edition": "0b6f5c1e-8a3d-4f27-9c1a-5e2d7b3f9a10-" * 2, "name": None}
        for e in report.get("editions", [])
    ]
    return report


@pytest.fixture
async def chromium():
    if chromium_path() is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright (python) is not installed")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_the_report_never_overflows_at_390_and_1280_px(impact, chromium, lang):
    events = hand_computed_scenario()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))
    report = (await impact.client.get("/report", params={"period": "all"})).json()
    assert report["neighbourhoods"] and report["editions"] and report["factors"]
    for source in (report, stretched(report)):
        page_html = report_html(source, lang=lang)
        # A phone, a laptop, and the printed A4 page (210 mm less 2 x 12 mm margins at 96 dpi).
        for width, media in ((390, "screen"), (1280, "screen"), (A4_TEXT_WIDTH, "print")):
            page = await chromium.new_page(viewport={"width": width, "height": 900})
            try:
                await page.emulate_media(media=media)
                await page.set_content(page_html)
                measured = await page.evaluate(OVERFLOW)
            finally:
                await page.close()
            assert measured["scroll"] <= measured["width"], (width, measured)
            assert measured["wide"] == [], (width, measured)
