"""The debate in Chromium: a resident comments a proposal, a neighbour replies and reports
it, staff hide it from the moderation queue with a reason, and the author reads that reason
where the comment was. Each page on the way passes the accessibility audit (axe-core,
1,280 and 390 px)."""

from __future__ import annotations

import pytest

from tests.browser import PAGE_TIMEOUT_MS
from tests.browser.town import LENDER, RESIDENT, STAFF_EMAIL, STAFF_PASSWORD, audit, log_in


@pytest.fixture
def people(browser, platform):
    contexts, pages = [], []
    for who, password in ((RESIDENT, None), (LENDER, None), (STAFF_EMAIL, STAFF_PASSWORD)):
        context = browser.new_context(base_url=platform.url(), locale="fr-FR", bypass_csp=True,
                                      viewport={"width": 1280, "height": 900})  # fmt: skip
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        log_in(page, who, password) if password else log_in(page, who)
        pages.append(page)
    yield pages
    for context in contexts:
        context.close()


def test_comment_reply_report_hide_and_the_author_reads_why(people, town):
    from playwright.sync_api import expect

    author, neighbour, staff = people
    author.goto(town["proposal"])
    author.locator("#f-comment-body").fill("Des arbres, oui, mais des essences locales.")
    author.get_by_role("button", name="Publier le commentaire").click()
    expect(author.get_by_text("Votre commentaire est publié.")).to_be_visible()
    comment = author.get_by_test_id("comment").filter(has_text="essences locales")
    expect(comment).to_be_visible()

    neighbour.goto(town["proposal"])
    mine = neighbour.get_by_test_id("comment").filter(has_text="essences locales")
    neighbour.get_by_text("Répondre", exact=True).first.click()
    neighbour.get_by_label("Votre réponse").first.fill("Des tilleuls, comme avant !")
    neighbour.get_by_role("button", name="Publier la réponse").first.click()
    reply = neighbour.get_by_test_id("comment-body").filter(has_text="Des tilleuls")
    expect(reply).to_have_text("Des tilleuls, comme avant !")
    mine.get_by_text("Signaler", exact=True).click()
    mine.get_by_label("Motif du signalement").select_option("off_topic")
    mine.get_by_role("button", name="Envoyer le signalement").click()
    expect(neighbour.get_by_text("la modération examinera ce commentaire")).to_be_visible()
    problems = audit(neighbour, "proposal-debate")
    assert not problems, "\n".join(problems)

    staff.goto("/staff")
    staff.get_by_role("link", name="Modération du débat").click()
    expect(staff.get_by_test_id("reported-comment")).to_contain_text("essences locales")
    problems = audit(staff, "staff-moderation-queue")
    assert not problems, "\n".join(problems)
    staff.get_by_role("link", name="Examiner et décider").first.click()
    staff.get_by_label("Motif").select_option("off_topic")
    staff.locator("#f-hide-note").fill("Merci de rester sur le projet.")
    staff.get_by_role("button", name="Masquer", exact=True).click()
    expect(staff.get_by_test_id("comment-state")).to_have_text("Masqué")
    expect(staff.get_by_test_id("moderation-history")).to_contain_text("Hors sujet")
    problems = audit(staff, "staff-moderation-comment")
    assert not problems, "\n".join(problems)

    author.goto(town["proposal"])
    expect(author.get_by_test_id("comment-moderated")).to_contain_text(
        "Masqué par la modération : Hors sujet. Merci de rester sur le projet."
    )
    problems = audit(author, "proposal-debate-author")
    assert not problems, "\n".join(problems)
    neighbour.goto(town["proposal"])
    expect(neighbour.get_by_test_id("comment-placeholder")).to_have_text(
        "Commentaire masqué par la modération."
    )
    expect(neighbour.get_by_test_id("debate")).not_to_contain_text("essences locales")
