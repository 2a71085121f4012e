"""A small town to look at, and the checks every page passes.

`town` builds, through the portal as people would, what the pages need to show something:
people, items, a loan, a service, a live campaign with a pledge, a live energy campaign,
a Soup evening, three budget editions.
`audit` runs axe-core (WCAG 2.1 A/AA) on a page and measures it at 1,280 and 390 px.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser import PAGE_TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
STAFF_EMAIL, STAFF_PASSWORD = "agent@valmont.test", "mairie-de-valmont-2026"
PASSWORD = "voisins-de-valmont"


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").last.click()
    page.wait_for_url("**/")


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Structure rules axe files under "best practice" but RGAA asks for (criteria 9.2, 12.6,
# 12.7): content inside landmarks, one main, a skip link that works, a first-level heading.
STRUCTURE_RULES = [
    "region",
    "landmark-one-main",
    "landmark-unique",
    "landmark-no-duplicate-banner",
    "landmark-no-duplicate-contentinfo",
    "landmark-no-duplicate-main",
    "page-has-heading-one",
    "skip-link",
]
WIDTHS = {"desktop": 1280, "phone": 390}

RESIDENT = "yann@valmont.test"  # Faubourg Nord, borrows, pledges, votes
LENDER = "zoe@valmont.test"  # lends, offers a service, holds a campaign
VOTER = "xavier@valmont.test"  # votes by keyboard only
ADMIN = "admin@valmont.test"
REVIEWER = "relecteur@valmont.test"
VOTING, RESULTS, PROPOSING = "Budget des quartiers 2027", "Budget participatif 2025", "Idées 2028"


def _seed_edition(staff, name: str, rule: str, phases: list[str]) -> str:
    """Create an edition and move it through `phases`; returns its only key share."""

    staff.goto("/staff/editions")
    staff.locator("#f-name").fill(name)
    staff.get_by_label("Montant de l'enveloppe ville").fill("60000")
    staff.get_by_label("Règle de dépouillement").select_option(rule)
    staff.get_by_role("button", name="Créer l'édition").click()
    share = staff.get_by_test_id("keyholder-shares").locator("code").first.inner_text()
    for phase in phases:
        _next_phase(staff, name, phase)
    assert re.match(r"\S+", share)
    return share


def _next_phase(staff, name: str, phase: str) -> None:
    from playwright.sync_api import expect

    staff.goto("/staff/editions")
    card = staff.locator(".card", has=staff.get_by_role("link", name=name, exact=True))
    card.get_by_role("button", name=f"Passer à : {phase}").click()
    expect(staff.get_by_text("Phase changée.")).to_be_visible()


def _propose(page, edition: str, title: str, cost: str) -> None:
    from playwright.sync_api import expect

    page.goto("/budget")
    page.get_by_role("link", name=edition, exact=True).click()
    page.get_by_role("link", name="Proposer un projet").click()
    page.get_by_label("Titre").fill(title)
    page.get_by_label("Coût estimé").fill(cost)
    page.get_by_role("button", name="Envoyer ma proposition").click()
    expect(page.get_by_text("Proposition enregistrée. Merci !")).to_be_visible()


async def _energy_campaign(platform) -> str:
    """A live energy campaign held by the lender. The portal has no form to start one (a
    cooperative sets it up with the town hall), so it is made by calling the service as the
    portal does; returns its page."""
    from services.portal import accounts
    from services.portal.backends import Caller

    portal = platform.apps["portal"].state
    async with portal.runtime.db.transaction() as session:
        holder = Caller.of(await accounts.find_by_email(session, email=LENDER))
    reviewer = Caller(sub="town-reviewer", roles=("reviewer",), neighbourhood=None, verified=True)
    made = await portal.backends.post(
        "crowdfunding",
        "/energy-campaigns",
        caller=holder,
        json={
            "title": "Toit solaire du gymnase",
            "description": "Des panneaux sur le gymnase, financés par parts.",
            "neighbourhood": "faubourg",
            "duration_days": 60,
            "technology": "solar_pv",
            "kwp": "36.5",
            "address": "Gymnase, rue du Faubourg",
            "unit_price_cents": 250_00,
            "units": 40,
            "estimated_return_cents_per_unit_year": 12_00,
        },
    )
    cid = made["campaign_id"]
    for step, who in (("submit", holder), ("review", reviewer), ("launch", holder)):
        await portal.backends.post("crowdfunding", f"/campaigns/{cid}/{step}", caller=who, json={})
    return cid


@pytest.fixture(scope="package")
def town(platform, browser, verified_account):
    """People, items, a loan, a service, a live campaign with a pledge, and three budget
    editions (one taking proposals, one in voting, one with published results), built
    through the portal as people would. Returns the paths of the pages they made."""

    from playwright.sync_api import expect

    from services.portal import accounts
    from services.portal.territory import directory

    verified_account(RESIDENT, "8 rue Émile Zola")
    verified_account(LENDER, "3 rue des Tilleuls")
    verified_account(VOTER, "12 rue des Tilleuls")
    verified_account(ADMIN, "1 rue de la République", roles=("staff", "reviewer", "admin"))
    verified_account(REVIEWER, "2 rue de la République", roles=("resident", "reviewer"))

    async def pending_newcomer():
        async with platform.apps["portal"].state.runtime.db.transaction() as session:
            await accounts.sign_up(
                session,
                directory=directory(),
                email="nouvelle@valmont.test",
                display_name="Nouvelle Habitante",
                password=PASSWORD,
                address="5 avenue de la Gare",
                roles=("resident",),
            )

    platform.call(pending_newcomer())
    paths: dict[str, str] = {}
    contexts = [browser.new_context(base_url=platform.url(), locale="fr-FR") for _ in range(3)]
    try:
        for context in contexts:
            context.set_default_timeout(PAGE_TIMEOUT_MS)
        lender, resident, staff = (context.new_page() for context in contexts)
        log_in(lender, LENDER)
        log_in(resident, RESIDENT)
        log_in(staff, "agent@valmont.test", "mairie-de-valmont-2026")

        for key, title in (("item", "Escabeau pliant 5 marches"), ("item_free", "Scie sauteuse")):
            lender.goto("/items/new")
            lender.get_by_label("Titre").fill(title)
            lender.get_by_label("Catégorie").select_option("drill")
            lender.get_by_label("Durée maximale du prêt").fill("7")
            lender.get_by_role("button", name="Mettre en prêt").click()
            expect(lender.get_by_role("heading", name=title)).to_be_visible()
            paths[key] = lender.url.removeprefix(platform.url())

        lender.goto("/services/new")
        lender.get_by_label("Titre").fill("Aide au jardinage le samedi")
        lender.get_by_label("Durée estimée", exact=False).fill("90")
        lender.get_by_role("button", name=re.compile("Publier|Proposer")).click()
        paths["service"] = lender.url.removeprefix(platform.url())

        resident.goto(paths["item"])
        resident.get_by_label("Message au prêteur").fill("Pour repeindre le plafond.")
        resident.get_by_role("button", name="Demander le prêt").click()
        expect(resident.get_by_test_id("loan-state")).to_have_text("Demandé")
        paths["loan"] = resident.url.removeprefix(platform.url())

        resident.goto(paths["item"])
        resident.locator("details").first.locator("summary").click()
        resident.get_by_label("Détails").fill("Une marche est fendue.")
        resident.get_by_role("button", name="Envoyer le signalement").click()
        expect(resident.get_by_text("Signalement transmis à la modération.")).to_be_visible()

        lender.goto("/campaigns/new")
        lender.get_by_label("Titre").fill("Une boîte à livres place du Marché")
        lender.get_by_label("Description").fill("Une cabine recyclée, des livres pour tous.")
        lender.get_by_label("Catégorie").select_option("environment")
        lender.get_by_label("Objectif").fill("800")
        # Longer than the month test_browser_flows jumps ahead to settle its own campaign:
        # the town may be built before that test runs, and its campaign must stay live.
        lender.get_by_label("Durée (jours)").fill("60")
        lender.get_by_role("button", name="Enregistrer le brouillon").click()
        lender.get_by_role("button", name="Soumettre à l'instruction").click()
        expect(lender.get_by_test_id("campaign-state")).to_have_text("En instruction")
        paths["campaign"] = lender.url.removeprefix(platform.url())
        staff.goto("/staff/campaigns")
        staff.get_by_label("Avis motivé").first.fill("Projet utile et bien chiffré.")
        staff.get_by_role("button", name="Instruire").first.click()
        expect(staff.get_by_text("Campagne approuvée.")).to_be_visible()
        lender.goto(paths["campaign"])
        lender.get_by_role("button", name="Lancer la campagne").click()
        expect(lender.get_by_test_id("campaign-state")).to_have_text("En cours")
        resident.goto(paths["campaign"])
        resident.get_by_label("Montant").fill("20")
        resident.get_by_label("Carte de paiement").select_option("tok_instant")
        resident.get_by_role("button", name="Contribuer").click()
        expect(resident.get_by_text("elle ne sera prélevée que si la campagne réussit"))\
            .to_be_visible()  # fmt: skip

        energy = platform.call(_energy_campaign(platform))
        paths["energy_campaign"] = f"/campaigns/{energy}"
        paths["staff_energy"] = f"/staff/energy/{energy}"

        # A Soup evening, opened by staff: its pot and its vote.
        staff.goto("/staff/soup")
        staff.get_by_label("Nom de la soirée").fill("Soupe de printemps")
        staff.get_by_label("Prix d'entrée").fill("8")
        staff.get_by_label("Projets présentés").fill("Grainothèque\nPiano de rue")
        staff.get_by_role("button", name="Ouvrir la soirée").click()
        staff.get_by_role("link", name="Page de la soirée").click()
        expect(staff.get_by_test_id("soup-pot")).to_be_visible()
        paths["soup"] = staff.url.removeprefix(platform.url())

        # Three editions: results published (MES, the longest explanation), voting, proposals.
        shares = {}
        for name, rule in ((RESULTS, "mes"), (VOTING, "greedy")):
            shares[name] = _seed_edition(staff, name, rule, ["Dépôt des propositions"])
            _propose(resident, name, f"Des arbres rue Haute ({name})", "20000")
            _propose(lender, name, f"Un abri vélos à la gare ({name})", "15000")
            _next_phase(staff, name, "Présélection")
            _next_phase(staff, name, "Analyse technique")
        staff.goto("/staff/proposals")
        paths["staff_proposals_pending"] = "/staff/proposals"
        while staff.locator("form.card.pending").count():
            form = staff.locator("form.card.pending").first
            form.get_by_label("Motif").fill("Chiffré par les services techniques.")
            form.get_by_role("button", name="Enregistrer l'analyse").click()
            expect(staff.get_by_text("Analyse enregistrée.")).to_be_visible()
        for name in (RESULTS, VOTING):
            _next_phase(staff, name, "Vote")
        _seed_edition(staff, PROPOSING, "greedy", ["Dépôt des propositions"])

        resident.goto("/budget")
        resident.get_by_role("link", name=RESULTS, exact=True).click()
        paths["results"] = resident.url.removeprefix(platform.url())
        resident.get_by_role("link", name=re.compile("^Voter")).first.click()
        resident.get_by_label(re.compile("Des arbres")).check()
        resident.get_by_role("button", name="Valider mon vote").click()
        expect(resident.get_by_test_id("ballot-cast")).to_be_visible()
        _next_phase(staff, RESULTS, "Résultats")
        staff.goto("/staff/editions")
        card = staff.locator(".card", has=staff.get_by_role("link", name=RESULTS, exact=True))
        card.locator("textarea[name=shares]").fill(shares[RESULTS])
        card.get_by_role("button", name=re.compile("Publier")).click()
        expect(staff.get_by_text(re.compile("Résultats publiés"))).to_be_visible()

        for key, name in (("voting", VOTING), ("proposing", PROPOSING)):
            resident.goto("/budget")
            resident.get_by_role("link", name=name, exact=True).click()
            paths[key] = resident.url.removeprefix(platform.url())
        resident.goto(paths["voting"])
        resident.get_by_role("link", name=re.compile("Des arbres")).click()
        paths["proposal"] = resident.url.removeprefix(platform.url())
        resident.goto(paths["voting"])
        resident.get_by_role("link", name=re.compile("^Voter")).first.click()
        paths["ballot"] = resident.url.removeprefix(platform.url())
        paths["backers"] = paths["campaign"] + "/backers"
        paths["trackers"] = paths["results"] + "/trackers"
        paths["propose"] = paths["proposing"] + "/propose"
    finally:
        for context in contexts:
            context.close()
    return paths


AUDIT_JS = """async ([tags, extra]) => {
  const rules = Object.fromEntries(extra.map((id) => [id, { enabled: true }]));
  const result = await axe.run(document, { runOnly: { type: 'tag', values: tags }, rules,
                                           resultTypes: ['violations'] });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' — ' +
      (n.failureSummary || '').split('\\n').slice(1, 3).join(' ').trim()),
    more: Math.max(0, v.nodes.length - 5),
  }));
}"""

OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const sticksOut = (el) => el.getBoundingClientRect().right > width + 1;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  // The outermost elements that stick out: their parent still fits.
  const culprits = [...document.querySelectorAll('body *')]
    .filter((el) => sticksOut(el) && el.parentElement && !sticksOut(el.parentElement))
    .map((el) => `${name(el)} (right edge ${Math.round(el.getBoundingClientRect().right)} px)`);
  // A chart's labels and values must stay inside its box (an SVG clips what runs past it).
  const clipped = [...document.querySelectorAll('svg text')].filter((text) => {
    const box = text.ownerSVGElement.getBoundingClientRect(), r = text.getBoundingClientRect();
    return r.width && (r.left < box.left - 1 || r.right > box.right + 1);
  }).map((text) => {
    const chart = text.ownerSVGElement.getAttribute('aria-label');
    return `"${text.textContent.trim()}" in ${chart}`;
  });
  return { scroll: document.scrollingElement.scrollWidth, culprits: culprits.slice(0, 5),
           clipped: clipped.slice(0, 5) };
}"""


DUPLICATE_IDS_JS = """() => {
  const seen = new Map();
  document.querySelectorAll('[id]').forEach((el) => seen.set(el.id, (seen.get(el.id) || 0) + 1));
  return [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id} (${n}×)`);
}"""


def audit(page, name: str) -> list[str]:
    """At 1,280 px, then at 390 px: axe-core (WCAG 2.1 A/AA and the structure rules) on the
    page as it is, and nothing wider than the window; a full-page screenshot of each width
    lands in tests/artifacts/. Returns what is wrong, one readable line per problem (empty
    when all is well)."""
    problems: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # What <details> folds away is checked too (axe skips hidden content).
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    # Unique ids (RGAA 8.2): a label's `for` or an aria reference names one element.
    duplicates = page.evaluate(DUPLICATE_IDS_JS)
    if duplicates:
        problems.append(f"duplicate ids: {', '.join(duplicates)}")
    page.add_script_tag(path=str(AXE))
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        # At 390 px the tables reflow into cards: their semantics are checked again there.
        for v in page.evaluate(AUDIT_JS, [WCAG_TAGS, STRUCTURE_RULES]):
            problems.append(f"{label}: axe {v['id']} ({v['impact']}): {v['help']}")
            problems += [f"    at {node}" for node in v["nodes"]]
            if v["more"]:
                problems.append(f"    … and {v['more']} more")
        measured = page.evaluate(OVERFLOW_JS)
        if measured["scroll"] > width:
            problems.append(
                f"{label}: page is {measured['scroll']} px wide in a {width} px window; "
                f"too wide: {', '.join(measured['culprits']) or '?'}"
            )
        if measured["clipped"]:
            problems.append(f"{label}: chart text cut off: {', '.join(measured['clipped'])}")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    return problems


@pytest.fixture(scope="package")
def axe_ready():
    if not AXE.exists():
        pytest.skip(
            "axe-core is not installed: run `npm ci` at the repository root (.ci/run does it)"
        )
    return AXE
