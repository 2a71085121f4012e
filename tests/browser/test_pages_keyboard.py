"""Keyboard alone, in Chromium: a resident logs in, borrows an item, backs a campaign and
votes with Tab, Shift+Tab, Enter, Space and typing only (no click, no `fill`). Every control
reached shows a focus ring that keeps 3:1 contrast against what is behind it, and the first
Tab of every page lands on the "skip to content" link.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import PAGE_TIMEOUT_MS
from tests.browser.town import AXE, VOTER, audit

# The ring of the focused element: style, width, and its contrast against the first opaque
# background behind it (the parent's, since the ring is drawn outside the element).
FOCUS_RING_JS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let behind = [255, 255, 255];
  for (let p = el.parentElement; p; p = p.parentElement) {
    const c = rgb(getComputedStyle(p).backgroundColor);
    if (c.length >= 3 && (c.length === 3 || c[3] > 0.5)) { behind = c.slice(0, 3); break; }
  }
  const a = lum(rgb(style.outlineColor)), b = lum(behind);
  return {
    element: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' +
      (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 40) + '"',
    style: style.outlineStyle, width: parseFloat(style.outlineWidth),
    contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
  };
}"""


def check_focus_ring(page) -> None:
    ring = page.evaluate(FOCUS_RING_JS)
    assert ring["style"] != "none" and ring["width"] >= 2, f"no visible focus on {ring}"
    assert ring["contrast"] >= 3, f"focus ring contrast below 3:1 on {ring}"


def tab_to(page, target, *, backwards: bool = False, limit: int = 120) -> int:
    """Press Tab (or Shift+Tab) until `target` has the focus; checks the focus ring of every
    control on the way. Returns the number of key presses."""
    key = "Shift+Tab" if backwards else "Tab"
    handle = target.element_handle()
    for presses in range(1, limit + 1):
        page.keyboard.press(key)
        check_focus_ring(page)
        if page.evaluate("(el) => el === document.activeElement", handle):
            return presses
    raise AssertionError(f"{target} not reached with {limit} × {key}")


def audit_if_axe(page, name: str) -> None:
    """The page a keyboard flow ends on passes the audit too (when axe-core is installed:
    the keyboard checks themselves do not need it)."""
    if AXE.exists():
        problems = audit(page, name)
        assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def keyboard_user(browser, platform, town):
    """A resident who logs in with the keyboard alone."""
    context = browser.new_context(
        base_url=platform.url(), locale="fr-FR", bypass_csp=True,
        viewport={"width": 1280, "height": 900},
    )  # fmt: skip
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login")
    tab_to(page, page.get_by_label("Adresse e-mail"))
    page.keyboard.type(VOTER)
    page.keyboard.press("Tab")
    page.keyboard.type("voisins-de-valmont")
    page.keyboard.press("Enter")
    page.wait_for_url("**/")
    yield page
    context.close()


@pytest.mark.parametrize("path", ["/", "/items", "/budget", "/accessibilite", "/staff"])
def test_the_first_tab_reaches_the_skip_link_which_moves_focus_to_the_content(keyboard_user, path):
    page = keyboard_user
    page.goto(path)
    page.keyboard.press("Tab")
    skip = page.evaluate(
        "() => [document.activeElement.textContent.trim(), document.activeElement.hash]"
    )
    assert skip == ["Aller au contenu", "#main"]
    check_focus_ring(page)
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # The next Tab goes on inside the content, not back to the header.
    page.keyboard.press("Tab")
    assert page.evaluate("() => !!document.activeElement.closest('main')")


def test_borrowing_by_keyboard(keyboard_user, town):
    from playwright.sync_api import expect

    page = keyboard_user
    page.goto(town["item_free"])
    tab_to(page, page.get_by_label("Message au prêteur"))
    page.keyboard.type("Pour découper une étagère, samedi si possible.")
    tab_to(page, page.get_by_role("button", name="Demander le prêt"))
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("loan-state")).to_have_text("Demandé")
    audit_if_axe(page, "keyboard-loan-requested")


def test_pledging_by_keyboard(keyboard_user, town):
    from playwright.sync_api import expect

    page = keyboard_user
    page.goto(town["campaign"])
    amount = page.get_by_label("Montant")
    tab_to(page, amount)
    page.keyboard.press("Control+A")
    page.keyboard.type("15")
    card = page.get_by_label("Carte de paiement")
    tab_to(page, card)
    page.keyboard.press("ArrowDown")
    expect(card).to_have_value("tok_visa")
    page.keyboard.press("ArrowUp")
    expect(card).to_have_value("tok_instant")
    # Back up to check the amount with Shift+Tab, then on to the button.
    tab_to(page, amount, backwards=True)
    expect(amount).to_have_value("15")
    tab_to(page, page.get_by_role("button", name="Contribuer"))
    page.keyboard.press("Space")
    expect(page.get_by_text("elle ne sera prélevée que si la campagne réussit")).to_be_visible()


def test_voting_by_keyboard(keyboard_user, town):
    from playwright.sync_api import expect

    page = keyboard_user
    page.goto(town["voting"])
    tab_to(page, page.get_by_role("link", name=re.compile("^Voter")).first)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/vote/"))
    remaining = page.get_by_test_id("remaining")
    expect(remaining).to_have_text(re.compile(r"^60\s000,00\s€$"))
    trees = page.get_by_label(re.compile("Des arbres"))
    tab_to(page, trees)
    page.keyboard.press("Space")
    expect(trees).to_be_checked()
    expect(remaining).to_have_text(re.compile(r"^40\s000,00\s€$"))  # 60 000 − 20 000
    tab_to(page, page.get_by_role("button", name="Valider mon vote"))
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("ballot-cast")).to_be_visible()
    audit_if_axe(page, "keyboard-ballot-receipt")


def test_the_language_changes_by_keyboard_only_when_asked(browser, platform):
    """Arrowing through the language list changes nothing (WCAG 3.2.2); its button does."""
    from playwright.sync_api import expect

    context = browser.new_context(base_url=platform.url(), locale="fr-FR")
    try:
        page = context.new_page()
        page.goto("/items")
        page.evaluate("() => { window.stillHere = true; }")
        tab_to(page, page.get_by_label("Langue"))
        page.keyboard.press("ArrowDown")
        expect(page.get_by_label("Langue")).to_have_value("en")
        page.keyboard.press("Tab")  # on to the form's own button, in the same page
        expect(page.get_by_role("button", name="Changer")).to_be_focused()
        assert page.evaluate("() => window.stillHere === true")
        assert page.evaluate("() => document.documentElement.lang") == "fr"
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.documentElement.lang === 'en'")
        assert page.url.endswith("/items")
    finally:
        context.close()
