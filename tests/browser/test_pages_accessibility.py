"""Every page a resident, a reviewer, a desk clerk or a staff member uses, in Chromium:
axe-core finds no WCAG 2.1 A/AA violation, and nothing runs off the side of the screen at
1,280 px or on a 390 px phone. Screenshots of both widths land in tests/artifacts/.

The pages are those of the small town the `town` fixture builds (tests/browser/conftest.py)
through the portal itself; run `npm ci` first for axe-core.
"""

from __future__ import annotations

import pytest

from tests.browser import PAGE_TIMEOUT_MS
from tests.browser.town import ADMIN, LENDER, RESIDENT, REVIEWER, STAFF_EMAIL, audit

STAFF = STAFF_EMAIL

# (who: an e-mail, None for a visitor, "en" for an English-speaking visitor; screenshot
#  name; path: a literal or a key of the town's paths)
PAGES = [
    (None, "home", "/"),
    (None, "login", "/login"),
    (None, "signup", "/signup"),
    (None, "signup-done", "/signup/done"),
    (None, "accessibility", "/accessibilite"),
    (None, "items-anonymous", "/items"),
    (None, "campaign-anonymous", "campaign"),
    (None, "campaign-energy-anonymous", "energy_campaign"),
    (None, "soup-anonymous", "soup"),
    (None, "results-anonymous", "results"),
    (None, "impact", "/impact"),
    (None, "error-not-found", "/items/not-there"),
    ("en", "home-en", "/"),
    ("en", "accessibility-en", "/accessibilite"),
    ("en", "results-en", "results"),
    ("en", "impact-en", "/impact"),
    (RESIDENT, "home-resident", "/"),
    (RESIDENT, "items", "/items"),
    (RESIDENT, "item", "item_free"),
    (RESIDENT, "item-new", "/items/new"),
    (RESIDENT, "loans", "/loans"),
    (RESIDENT, "loan", "loan"),
    (RESIDENT, "services", "/services"),
    (RESIDENT, "service", "service"),
    (RESIDENT, "service-new", "/services/new"),
    (RESIDENT, "credits", "/credits"),
    (RESIDENT, "carpools", "/carpools"),
    (RESIDENT, "carpool-new", "/carpools/new"),
    (RESIDENT, "trips", "/trips"),
    (RESIDENT, "campaigns", "/campaigns"),
    (RESIDENT, "campaign", "campaign"),
    (RESIDENT, "campaign-new", "/campaigns/new"),
    (RESIDENT, "campaign-energy", "energy_campaign"),
    (RESIDENT, "soup", "soup"),
    (RESIDENT, "my-pledges", "/my-pledges"),
    (RESIDENT, "budget", "/budget"),
    (RESIDENT, "edition-voting", "voting"),
    (RESIDENT, "edition-proposals", "proposing"),
    (RESIDENT, "propose", "propose"),
    (RESIDENT, "proposal", "proposal"),
    (RESIDENT, "ballot", "ballot"),
    (RESIDENT, "results", "results"),
    (RESIDENT, "trackers", "trackers"),
    (RESIDENT, "receipt-lookup", "/budget-receipt"),
    (RESIDENT, "impact-resident", "/impact"),
    (RESIDENT, "account", "/account"),
    (LENDER, "loans-lender", "/loans"),
    (LENDER, "loan-lender", "loan"),
    (LENDER, "campaign-holder", "campaign"),
    (LENDER, "backers", "backers"),
    (REVIEWER, "staff-reviewer", "/staff"),
    (REVIEWER, "staff-campaigns-reviewer", "/staff/campaigns"),
    (REVIEWER, "staff-proposals-reviewer", "/staff/proposals"),
    (STAFF, "staff", "/staff"),
    (STAFF, "staff-residents", "/staff/residents"),
    (STAFF, "staff-campaigns", "/staff/campaigns"),
    (STAFF, "staff-proposals", "/staff/proposals"),
    (STAFF, "staff-editions", "/staff/editions"),
    (STAFF, "staff-match-pools", "/staff/match-pools"),
    (STAFF, "staff-reports", "/staff/reports"),
    (STAFF, "staff-moderation", "/staff/moderation"),
    (STAFF, "staff-desk", "/staff/desk"),
    (STAFF, "staff-energy", "staff_energy"),
    (STAFF, "staff-soup", "/staff/soup"),
    (STAFF, "soup-staff", "soup"),
    (ADMIN, "staff-roles", "/staff/roles"),
]


@pytest.fixture(scope="module")
def pages_of(browser, platform, town, axe_ready):
    """One logged-in page per person, reused across this module's checks."""
    from tests.browser.town import PASSWORD, STAFF_PASSWORD, log_in

    contexts, pages = [], {}

    def page_of(who: str | None):
        if who not in pages:
            context = browser.new_context(
                base_url=platform.url(), locale="en-GB" if who == "en" else "fr-FR",
                bypass_csp=True,
                viewport={"width": 1280, "height": 900},
            )  # fmt: skip
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            contexts.append(context)
            pages[who] = context.new_page()
            if who not in (None, "en"):
                log_in(pages[who], who, STAFF_PASSWORD if who == STAFF_EMAIL else PASSWORD)
        return pages[who]

    yield page_of
    for context in contexts:
        context.close()


@pytest.mark.parametrize(("who", "name", "where"), PAGES, ids=[p[1] for p in PAGES])
def test_page_has_no_wcag_violation_and_fits_a_phone(pages_of, town, who, name, where):
    page = pages_of(who)
    path = where if where.startswith("/") else town[where]
    response = page.goto(path)
    expected = 404 if name.startswith("error-") else 200
    assert response is not None and response.status == expected, f"{path}: HTTP {response}"
    problems = audit(page, name)
    assert not problems, f"{name} ({path}):\n" + "\n".join(problems)


BROKEN_PAGE = """<!doctype html><html lang="fr"><head><title>Cassée</title></head><body>
<p>Hors de tout repère</p>
<main><h1>Page cassée</h1>
  <details><summary>Plus</summary><input type="text" name="sans-etiquette"></details>
  <span id="deux-fois"></span><span id="deux-fois"></span>
  <p style="color:#bbb;background:#fff">Texte trop pâle</p>
  <div style="width:600px">Trop large pour un téléphone</div>
  <svg viewBox="0 0 100 20" width="100" aria-label="graphique"><text x="90" y="15">1234</text></svg>
</main></body></html>"""


def test_the_audit_finds_each_kind_of_fault(browser, axe_ready):
    """The checks above can fail: a page with one fault of each kind shows them all."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_content(BROKEN_PAGE)
        problems = "\n".join(audit(page, "broken-page"))
    finally:
        context.close()
    for expected in (
        "desktop: axe label ",  # a field without a label, even folded away (WCAG 4.1.2)
        "duplicate ids: deux-fois (2×)",  # RGAA 8.2
        "phone: axe color-contrast ",  # 1.4.3
        "desktop: axe region ",  # text outside the landmarks
        "phone: page is 6",  # 600 px in a 390 px window
        'chart text cut off: "1234" in graphique',
    ):
        assert expected in problems, f"{expected!r} not found in:\n{problems}"
    assert "desktop: page is" not in problems


def test_the_keyholders_shares_page_too(pages_of):
    """Shown once, right after an edition is created: long shares must wrap on a phone."""
    from playwright.sync_api import expect

    page = pages_of(STAFF)
    page.goto("/staff/editions")
    page.locator("#f-name").fill("Budget des écoles 2027")
    page.get_by_label("Montant de l'enveloppe ville").fill("20000")
    page.get_by_label("Détenteurs de clé", exact=False).fill("Maire, Adjointe aux finances, DGS")
    page.get_by_label("Parts nécessaires pour ouvrir").fill("2")
    page.get_by_role("button", name="Créer l'édition").click()
    expect(page.get_by_test_id("keyholder-shares").locator("code")).to_have_count(3)
    problems = audit(page, "staff-edition-keys")
    assert not problems, "\n".join(problems)


def test_a_form_with_errors_says_which_field_and_why(pages_of):
    """Errors are tied to their fields (aria-invalid, aria-describedby) and the page with
    them passes the same audit."""
    page = pages_of(None)
    page.goto("/signup")
    page.get_by_label("Adresse e-mail").fill("pas-une-adresse")
    page.get_by_role("button", name="Créer mon compte").click()
    page.wait_for_selector("[aria-invalid=true]")
    invalid = page.evaluate(
        """() => [...document.querySelectorAll('[aria-invalid=true]')].map((el) => [
             el.name,
             el.getAttribute('aria-describedby').split(' ')
               .map((id) => document.getElementById(id)?.textContent.trim() || '?').join(' | ')])"""
    )
    [(name, why)] = invalid
    assert name == "email" and why not in ("", "?") and "adresse e-mail" in why, invalid
    problems = audit(page, "signup-errors")
    assert not problems, "\n".join(problems)
