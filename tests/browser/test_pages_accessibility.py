"""Every page a resident, a reviewer, a desk clerk or a staff member uses, in Chromium:
axe-core finds no WCAG 2.1 A/AA violation, and nothing runs off the side of the screen at
1,280 px or on a 390 px phone. Screenshots of both widths land in tests/artifacts/.

The pages are those of the small town the `town` fixture builds (tests/browser/conftest.py)
through the portal itself; run `npm ci` first for axe-core.
"""

from __future__ import annotations

import pytest

from tests.browser.town import ADMIN, LENDER, RESIDENT, REVIEWER, STAFF_EMAIL, audit

STAFF = STAFF_EMAIL

# (who, screenshot name, path: a literal or a key of the town's paths)
PAGES = [
    (None, "home", "/"),
    (None, "login", "/login"),
    (None, "signup", "/signup"),
    (None, "signup-done", "/signup/done"),
    (None, "accessibility", "/accessibilite"),
    (None, "items-anonymous", "/items"),
    (None, "campaign-anonymous", "campaign"),
    (None, "results-anonymous", "results"),
    (None, "impact", "/impact"),
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
    (RESIDENT, "campaigns", "/campaigns"),
    (RESIDENT, "campaign", "campaign"),
    (RESIDENT, "campaign-new", "/campaigns/new"),
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
    (STAFF, "staff-desk", "/staff/desk"),
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
                base_url=platform.url(), locale="fr-FR", bypass_csp=True,
                viewport={"width": 1280, "height": 900},
            )  # fmt: skip
            context.set_default_timeout(15_000)
            contexts.append(context)
            pages[who] = context.new_page()
            if who is not None:
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
    assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
    problems = audit(page, name)
    assert not problems, f"{name} ({path}):\n" + "\n".join(problems)
