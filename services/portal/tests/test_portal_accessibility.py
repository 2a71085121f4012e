"""The accessibility statement (RGAA), linked from every page, and pages that stay whole."""

from __future__ import annotations

from datetime import date

import pytest

from services.portal.config import PortalSettings
from services.portal.pages_impact import BAR_LEFT, BAR_VALUE_ROOM, bars
from services.portal.testkit import log_in, make_account
from services.portal.web import format_day

STATEMENT_LINK = '<a href="/accessibilite" data-testid="accessibility-link">'


async def test_the_statement_says_partially_compliant_what_is_tested_and_where_to_complain(
    portal,
):
    page = await portal.client.get("/accessibilite")
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    text = page.text
    assert "<h1>Déclaration d&#39;accessibilité</h1>" in text
    assert "partiellement conforme" in text and "RGAA" in text and "WCAG 2.1" in text
    assert "aucun audit complet" in text  # why only "partially", honestly
    assert "axe-core" in text and "390 px" in text and "clavier seul" in text
    assert "lecteurs d&#39;écran" in text  # what is not tested
    assert 'href="mailto:accessibilite@valmont.example"' in text
    assert "Défenseur des droits" in text and "Libre réponse 71120" in text
    assert 'href="https://formulaire.defenseurdesdroits.fr/"' in text
    assert format_day(date(2026, 11, 27), "fr") in text

    english = await portal.client.get("/accessibilite", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in english.text
    assert "Accessibility statement" in english.text
    assert "partially compliant" in english.text and "Défenseur des droits" in english.text


async def test_the_town_sets_the_statement_contact_and_date(portal):
    portal.app.state.portal_settings = PortalSettings(
        accessibility_contact="handicap@ville.example",
        accessibility_statement_date=date(2027, 3, 1),
    )
    page = await portal.client.get("/accessibilite")
    assert (
        'href="mailto:handicap@ville.example"' in page.text
        and format_day(date(2027, 3, 1), "fr") in page.text
    )


@pytest.mark.parametrize("path", ["/", "/login", "/signup", "/accessibilite", "/items/not-there"])
async def test_every_page_links_the_statement_from_its_footer(portal, path):
    portal.fake.on("GET", "http://exchange.test/items", [])
    portal.fake.on("GET", "http://crowdfunding.test/campaigns", [])
    portal.fake.on("GET", "http://budget.test/editions", [])
    page = await portal.client.get(path)
    footer = page.text.split('<footer class="site">', 1)[-1]
    assert STATEMENT_LINK + "Accessibilité : partiellement conforme</a>" in footer, path


async def test_the_staff_report_queue_opens(portal):
    # It answered 500: the template's `status` went to the HTTP status.
    await make_account(portal, email="agent@example.org", roles=("staff",))
    await log_in(portal.client, "agent@example.org")
    portal.fake.on("GET", "http://exchange.test/staff/reports", [])
    for status in ("open", "closed"):
        page = await portal.client.get("/staff/reports", params={"status": status})
        assert page.status_code == 200
        assert f'href="/staff/reports?status={status}" aria-current="page"' in page.text


@pytest.mark.parametrize("values", [[0], [1], [3, 150, 7], [10_000, 9_999, 0, None]])
def test_neighbourhood_bars_and_their_values_stay_inside_the_chart(values):
    chart = bars([{"name": f"n{i}", "v": v} for i, v in enumerate(values)], "name", "v")
    assert max(r["w"] for r in chart["rows"]) <= chart["width"] - BAR_LEFT - BAR_VALUE_ROOM
    assert max(values, key=lambda v: v or 0) == 0 or (
        max(r["w"] for r in chart["rows"]) == chart["width"] - BAR_LEFT - BAR_VALUE_ROOM
    )
