"""End to end in headless Chromium: residents, staff and the city use the portal, which
calls the four real services (SQLite, a real nats-server, the outbox and the impact
projections in between). Screenshots of the main pages land in tests/artifacts/.

The scenarios share one platform with the other browser modules, which run after this one
(file order) and name their own people and projects; they run in order; the last one reads,
on the impact dashboard, the loan and the ballot the first ones produced.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

STAFF = ("agent@valmont.test", "mairie-de-valmont-2026")
DONE: dict[str, bool] = {}


def test_a_resident_signs_up_is_verified_borrows_a_drill_and_returns_it(
    platform, new_page, verified_account, login, shot
):
    from playwright.sync_api import expect

    # A neighbour in the same street lends a drill through the portal.
    verified_account("lucie@valmont.test", "3 rue des Tilleuls")
    lender = new_page()
    login(lender, "lucie@valmont.test")
    lender.goto("/items/new")
    lender.get_by_label("Titre").fill("Perceuse à percussion Bosch")
    lender.get_by_label("Catégorie").select_option("drill")
    lender.get_by_label("Durée maximale du prêt").fill("7")
    lender.get_by_label("Retrait").fill("Le soir après 18 h")
    lender.get_by_role("button", name="Mettre en prêt").click()
    expect(lender.get_by_role("heading", name="Perceuse à percussion Bosch")).to_be_visible()

    # A newcomer signs up: the address places her in the Faubourg.
    resident = new_page()
    resident.goto("/")
    shot(resident, "home")
    resident.goto("/signup")
    resident.get_by_label("Nom").fill("Awa Diallo")
    resident.get_by_label("Adresse e-mail").fill("awa@valmont.test")
    resident.get_by_label("Mot de passe").fill("un mot de passe solide")
    resident.get_by_label("Adresse", exact=False).last.fill("8 rue Émile Zola")
    shot(resident, "signup")
    resident.get_by_role("button", name="Créer mon compte").click()
    expect(resident.get_by_test_id("signup-done")).to_be_visible()
    login(resident, "awa@valmont.test", "un mot de passe solide")
    resident.goto("/account")
    expect(resident.get_by_test_id("account-status")).to_have_text("En attente")
    expect(resident.get_by_text("Faubourg Nord")).to_be_visible()

    # Staff verify her from the queue.
    staff = new_page()
    login(staff, *STAFF)
    staff.goto("/staff/residents")
    row = staff.locator("tr[data-email='awa@valmont.test']")
    expect(row).to_be_visible()
    shot(staff, "staff-verification-queue")
    row.get_by_role("button", name="Vérifier").click()
    expect(staff.get_by_text("Compte de Awa Diallo vérifié.")).to_be_visible()
    resident.goto("/account")
    expect(resident.get_by_test_id("account-status")).to_have_text("Vérifié")

    # She finds the drill near her, asks for it, the lender accepts and hands it over.
    resident.goto("/items")
    resident.get_by_label("Rechercher").first.fill("perceuse")
    resident.get_by_role("button", name="Rechercher").click()
    resident.get_by_role("link", name="Perceuse à percussion Bosch").click()
    shot(resident, "item")
    resident.get_by_label("Message au prêteur").fill("Pour fixer des étagères, merci !")
    resident.get_by_role("button", name="Demander le prêt").click()
    expect(resident.get_by_test_id("loan-state")).to_have_text("Demandé")
    loan_url = resident.url

    lender.goto("/loans")
    lender.get_by_role("link", name="Perceuse à percussion Bosch").click()
    lender.get_by_role("button", name="Accepter").click()
    expect(lender.get_by_test_id("loan-state")).to_have_text("Accepté")
    lender.get_by_role("button", name="L'objet a été remis").click()
    expect(lender.get_by_test_id("loan-state")).to_have_text("En cours")

    resident.goto(loan_url)
    expect(resident.get_by_test_id("loan-state")).to_have_text("En cours")
    expect(resident.get_by_text("3 rue des Tilleuls")).to_be_visible()  # lender's address

    # She brings it back; the lender checks it in.
    lender.get_by_label("État au retour").select_option("good")
    lender.get_by_role("button", name="Enregistrer le retour").last.click()
    expect(lender.get_by_test_id("loan-state")).to_have_text("Rendu")
    resident.goto(loan_url)
    expect(resident.get_by_test_id("loan-state")).to_have_text("Rendu")
    shot(resident, "loan-returned")
    resident.goto("/loans")
    shot(resident, "my-loans")
    DONE["loan"] = True


def test_a_resident_backs_a_campaign_that_then_succeeds(
    platform, new_page, verified_account, login, shot, monkeypatch
):
    from playwright.sync_api import expect

    from libs.common.clock import clock as platform_clock

    # An association of the Gare district drafts a campaign and submits it.
    verified_account("jardin@valmont.test", "5 avenue de la Gare")
    holder = new_page()
    login(holder, "jardin@valmont.test")
    holder.goto("/campaigns/new")
    holder.get_by_label("Titre").fill("Un jardin partagé derrière la gare")
    holder.get_by_label("Description").fill("Bacs, outils et compost pour tout le quartier.")
    holder.get_by_label("Catégorie").select_option("environment")
    holder.get_by_label("Objectif").fill("150")
    holder.get_by_label("Durée (jours)").fill("30")
    holder.get_by_role("button", name="Enregistrer le brouillon").click()
    holder.get_by_role("button", name="Soumettre à l'instruction").click()
    expect(holder.get_by_test_id("campaign-state")).to_have_text("En instruction")
    campaign_url = holder.url

    # A reviewer checks it against the published criteria; the holder launches it.
    staff = new_page()
    login(staff, *STAFF)
    staff.goto("/staff/campaigns")
    shot(staff, "staff-campaign-queue")
    staff.get_by_label("Avis motivé").first.fill("Projet cohérent, budget réaliste.")
    staff.get_by_role("button", name="Instruire").first.click()
    expect(staff.get_by_text("Campagne approuvée.")).to_be_visible()
    holder.goto(campaign_url)
    holder.get_by_role("button", name="Lancer la campagne").click()
    expect(holder.get_by_test_id("campaign-state")).to_have_text("En cours")

    # A resident backs the whole goal with a (sandbox) card.
    verified_account("marc@valmont.test", "2 rue Pierre Sémard")
    backer = new_page()
    login(backer, "marc@valmont.test")
    backer.goto("/campaigns")
    backer.get_by_role("link", name="Un jardin partagé derrière la gare").click()
    backer.get_by_label("Montant").fill("150")
    backer.get_by_label("Carte de paiement").select_option("tok_instant")
    shot(backer, "campaign")
    backer.get_by_role("button", name="Contribuer").click()
    expect(backer.get_by_text("elle ne sera prélevée que si la campagne réussit")).to_be_visible()

    # Thirty days later, staff settle the ended campaigns: it succeeds.
    later = platform_clock.now() + timedelta(days=31)
    monkeypatch.setattr(platform_clock, "now", lambda: later)
    staff.goto("/staff/campaigns")
    staff.get_by_role("button", name="Clôturer maintenant").click()
    # The shared town's Soup pot (a few hours long) is due too when the town was built first.
    expect(staff.get_by_text(re.compile(r"^[12] campagne\(s\) clôturée\(s\)\.$"))).to_be_visible()
    backer.goto(campaign_url)
    expect(backer.get_by_test_id("campaign-state")).to_have_text("Réussie")
    outcome = backer.get_by_test_id("campaign-outcome")
    expect(outcome).to_contain_text("150,00")
    shot(backer, "campaign-succeeded")
    DONE["campaign"] = True


def test_a_resident_votes_in_the_participatory_budget(
    platform, new_page, verified_account, login, shot
):
    from playwright.sync_api import expect

    staff = new_page()
    login(staff, *STAFF)
    staff.goto("/staff/editions")
    staff.locator("#f-name").fill("Budget participatif 2026")
    staff.get_by_label("Montant de l'enveloppe ville").fill("60000")
    staff.get_by_label("Type de bulletin").select_option("knapsack")
    staff.get_by_label("Règle de dépouillement").select_option("greedy")
    staff.get_by_role("button", name="Créer l'édition").click()
    # The edition's private key exists only as the keyholders' shares, shown this once.
    shares = staff.get_by_test_id("keyholder-shares").locator("code")
    expect(shares.first).not_to_be_empty()
    shot(staff, "edition-keyholder-shares")

    def next_phase(name: str) -> None:
        staff.goto("/staff/editions")
        staff.get_by_role("button", name=f"Passer à : {name}").first.click()
        expect(staff.get_by_text("Phase changée.")).to_be_visible()

    next_phase("Dépôt des propositions")

    # Residents propose projects online.
    verified_account("ines@valmont.test", "1 rue des Vignes")
    author = new_page()
    login(author, "ines@valmont.test")
    author.goto("/budget")
    author.get_by_role("link", name="Budget participatif 2026").click()
    projects = [
        ("Des bancs sur la place du Marché", "12000"),
        ("Une piste cyclable rue Haute", "45000"),
        ("Des nichoirs dans les écoles", "3000"),
    ]
    for title, cost in projects:
        author.get_by_role("link", name="Proposer un projet").click()
        author.get_by_label("Titre").fill(title)
        author.get_by_label("Coût estimé").fill(cost)
        author.get_by_role("button", name="Envoyer ma proposition").click()
        expect(author.get_by_text("Proposition enregistrée. Merci !")).to_be_visible()

    next_phase("Présélection")
    next_phase("Analyse technique")
    staff.goto("/staff/proposals")
    shot(staff, "staff-proposal-queue")
    for _ in projects:
        form = staff.locator("form.card.pending").first
        form.get_by_label("Motif").fill("Chiffré par les services techniques.")
        form.get_by_role("button", name="Enregistrer l'analyse").click()
        expect(staff.get_by_text("Analyse enregistrée.")).to_be_visible()
    expect(staff.locator("form.card.pending")).to_have_count(0)
    next_phase("Vote")

    # A verified resident votes: the ballot shows what is left as she picks.
    verified_account("rose@valmont.test", "4 rue du Moulin")
    voter = new_page()
    login(voter, "rose@valmont.test")
    voter.goto("/budget")
    voter.get_by_role("link", name="Budget participatif 2026").click()
    voter.get_by_role("link", name=re.compile("^Voter")).first.click()
    remaining = voter.get_by_test_id("remaining")
    expect(remaining).to_have_text(re.compile(r"^60\s000,00\s€$"))
    voter.get_by_label(re.compile("Une piste cyclable")).check()
    expect(remaining).to_have_text(re.compile(r"^15\s000,00\s€$"))  # 60 000 − 45 000
    voter.get_by_label(re.compile("Des bancs")).check()
    expect(remaining).to_have_text(re.compile(r"^3\s000,00\s€$"))  # 15 000 − 12 000
    shot(voter, "ballot")
    voter.get_by_role("button", name="Valider mon vote").click()
    expect(voter.get_by_test_id("ballot-cast")).to_be_visible()
    expect(voter.get_by_test_id("receipt")).not_to_be_empty()
    shot(voter, "ballot-receipt")
    voter.goto("/budget")
    voter.get_by_role("link", name="Budget participatif 2026").click()
    expect(voter.get_by_text(re.compile("Vous avez voté"))).to_be_visible()
    DONE["vote"] = True


def test_the_impact_dashboard_shows_the_new_loan_and_vote(platform, new_page, shot):
    from playwright.sync_api import expect

    if not (DONE.get("loan") and DONE.get("vote")):
        pytest.skip("needs the loan and vote scenarios of this module to have run first")
    page = new_page()
    # This module's edition: the shared browser town has editions of its own on the page.
    ours = (
        page.get_by_test_id("editions-table")
        .locator("tr", has_text="Budget participatif 2026")
        .get_by_test_id("ballots")
    )
    # The impact service builds its figures from the events: give the relays a moment.
    for _ in range(50):
        page.goto("/impact")
        loans = page.locator("[data-indicator='exchange.loans_by_category'] .value")
        if loans.inner_text().strip() == "1" and ours.count() and ours.inner_text().strip() == "1":
            break
        page.wait_for_timeout(200)
    expect(page.locator("[data-indicator='exchange.loans_by_category'] .value")).to_have_text("1")
    faubourg = page.locator("tr[data-neighbourhood='faubourg']")
    expect(faubourg.locator("td").nth(2)).to_have_text("1")  # the loan, in the borrower's
    expect(ours).to_have_text("1")
    shot(page, "impact-dashboard")
    csv = page.request.get("/impact/report.csv")
    assert csv.ok and "text/csv" in csv.headers["content-type"]
    html = page.request.get("/impact/report.html")
    assert html.ok and "<html" in html.text().lower()


def test_the_portal_speaks_english_when_asked(platform, new_page, shot):
    from playwright.sync_api import expect

    page = new_page(locale="fr-FR")
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.get_by_label("Langue").select_option("en")
    page.get_by_role("button", name="Changer").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Items", exact=True)).to_be_visible()
    shot(page, "home-en")
