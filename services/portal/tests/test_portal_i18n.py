"""The catalogues: same keys in French and English, every key a template uses exists."""

from __future__ import annotations

import re
from pathlib import Path

from services.portal.i18n import (
    catalogue,
    format_cents,
    format_minutes,
    pick_language,
    translate,
)
from services.portal.testkit import csrf_of

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC_KEY = re.compile(r"""\bt\(['"]([a-z_.0-9-]+)['"]\s*[,)]""")


def test_french_and_english_catalogues_hold_the_same_keys():
    assert set(catalogue("fr")) == set(catalogue("en"))


def test_every_key_used_in_a_template_is_in_the_catalogues():
    used = {
        key for path in TEMPLATES.rglob("*.html") for key in STATIC_KEY.findall(path.read_text())
    }
    assert len(used) > 200
    missing = sorted(used - set(catalogue("fr")))
    assert missing == []


def test_templates_hold_no_untranslated_sentences():
    # Text between tags must come from t(): a run of 3+ letters words outside {{ }} is a leak.
    leak = re.compile(r">\s*([A-Za-zÀ-ÿ]{3,}(?:\s+[A-Za-zÀ-ÿ]{3,}){2,})\s*<")
    offenders = {
        path.name: leak.findall(path.read_text())
        for path in TEMPLATES.rglob("*.html")
        if leak.findall(path.read_text())
    }
    assert offenders == {}


def test_language_choice_session_then_browser_then_french():
    assert pick_language(session_lang="en", accept_language="fr-FR") == "en"
    assert pick_language(session_lang=None, accept_language="de-DE,en;q=0.8") == "en"
    assert pick_language(session_lang=None, accept_language="de-DE") == "fr"
    assert pick_language(session_lang="xx", accept_language=None) == "fr"


def test_money_and_time_are_written_the_local_way():
    assert format_cents(1234567, "fr") == "12\u202f345,67\u00a0€"
    assert format_cents(1234567, "en") == "€12,345.67"
    assert format_cents(-5, "fr") == "-0,05\u00a0€"
    assert format_minutes(95, "fr") == "1 h 35"
    assert translate("en", "budget.supports", n=3) == "3 support(s)"
    assert translate("en", "no.such.key") == "no.such.key"


async def test_pages_are_french_by_default_and_english_on_request(portal):
    portal.fake.on("GET", "http://exchange.test/items", [])
    portal.fake.on("GET", "http://crowdfunding.test/campaigns", [])
    portal.fake.on("GET", "http://budget.test/editions", [])
    home = await portal.client.get("/")
    assert '<html lang="fr">' in home.text and "Objets à emprunter" in home.text
    token = await csrf_of(portal.client, "/")
    await portal.client.post("/lang", data={"lang": "en", "next": "/", "csrf": token})
    home = await portal.client.get("/")
    assert '<html lang="en">' in home.text and "Items to borrow" in home.text
    browser_en = await portal.client.get("/", headers={"Accept-Language": "en-GB"})
    assert '<html lang="en">' in browser_en.text
