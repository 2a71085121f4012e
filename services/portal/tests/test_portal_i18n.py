"""The catalogues: same keys in French and English, every key a template uses exists."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from services.portal import i18n as portal_i18n
from services.portal.i18n import (
    catalogue,
    format_cents,
    format_day,
    format_euro_text,
    format_minutes,
    format_number,
    format_percent,
    pick_language,
    problem_message,
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


# --- Babel formatting ----------------------------------------------------------------------


def test_numbers_percentages_money_dates_and_durations_follow_the_locale():
    assert format_number(380.0, "fr") == "380,0" and format_number(380.0, "en") == "380.0"
    assert format_number(12.5, "fr") == "12,5"
    assert format_number(1200, "fr") == "1\u202f200" and format_number(1200, "en") == "1,200"
    assert format_number("0.123457", "fr") == "0,123"
    assert format_number(None, "fr") == "–" and format_number("n/a", "fr") == "n/a"
    assert format_percent(0.2, "fr") == "0,2\u00a0%" and format_percent(0.2, "en") == "0.2%"
    assert format_percent("0.075", "fr", decimals=2, ratio=True) == "7,5\u00a0%"
    assert format_cents(600000, "fr") == "6\u202f000,00\u00a0€"
    assert format_cents(600000, "en") == "€6,000.00"
    assert format_euro_text("380.00", "fr") == "380,00\u00a0€"
    assert format_day(date(2026, 3, 5), "fr") == "5 mars 2026"
    assert format_day("2026-03-05T10:00:00Z", "en") == "5 Mar 2026"
    assert format_minutes(75_000, "fr") == "1\u202f250 h 00"
    assert format_minutes(-95, "en") == "-1h35"


# --- problems worded from their code --------------------------------------------------------


def test_a_problem_is_worded_from_its_code_and_params_in_each_language():
    params = {"limit_minutes": 1200, "balance_minutes": -75, "minutes": 1200}
    fr = problem_message("fr", code="credits.debit_limit", params=params, status=409)
    en = problem_message("en", code="credits.debit_limit", params=params, status=409)
    assert "1\u202f200 minutes" in fr and "-75 minutes" in fr and "limite de découvert" in fr
    assert "1,200 minutes" in en and "debit limit" in en
    reward = problem_message("fr", code="rewards.below_minimum", params={"min_cents": 4000},
                             status=422)  # fmt: skip
    assert reward.endswith("40,00\u00a0€.") and "cents" not in reward
    loan = {"state": "requested", "action": "pick_up"}
    state = problem_message("fr", code="loans.wrong_state", params=loan, status=409)
    assert "« Demandé »" in state and "retirer l'objet" in state
    when = {"phase": "voting", "allowed": ["proposals"]}
    phase = problem_message("en", code="wrong_phase", params=when, status=409)
    assert "“Voting”" in phase and "Proposals" in phase


def test_an_unknown_code_or_missing_params_give_a_generic_sentence_for_the_status():
    assert problem_message("fr", code="no.such", params={}, status=404) == translate(
        "fr", "problem.generic.404"
    )
    assert problem_message("en", code=None, params={}, status=500) == translate(
        "en", "problem.generic"
    )
    # A service that sends fewer params than the sentence needs: still a sentence, no crash.
    assert problem_message("fr", code="credits.debit_limit", params={}, status=409) == translate(
        "fr", "problem.generic.409"
    )


# --- catalogue completeness -----------------------------------------------------------------

PORTAL = TEMPLATES.parent
SERVICES = PORTAL.parent
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
PY_KEY = re.compile(r"""translate\(\s*[a-z_().]+,\s*['"]([a-z_.0-9-]+)['"]""")
KEY_ARG = re.compile(r"""(?:message_key|key)=['"]([a-z_.0-9-]+)['"]""")
LABEL_FAMILY = re.compile(r"""\|label\(['"]([a-z_.]+)['"]\)""")
CODE = re.compile(r"""code=['"]([a-z_.]+)['"]""")
REFUSAL = re.compile(r"""Refusal\(\s*['"]([a-z_]+)['"]""")


def test_both_languages_fill_the_same_placeholders():
    fr, en = catalogue("fr"), catalogue("en")
    differ = {
        key: (sorted(set(PLACEHOLDER.findall(fr[key]))), sorted(set(PLACEHOLDER.findall(en[key]))))
        for key in fr
        if set(PLACEHOLDER.findall(fr[key])) != set(PLACEHOLDER.findall(en.get(key, "")))
    }
    assert differ == {}
    assert all(text.strip() for text in (*fr.values(), *en.values()))


def test_every_key_the_pages_use_in_code_is_in_the_catalogues():
    used = set()
    for path in [*PORTAL.glob("*.py"), *PORTAL.glob("debate/*.py")]:
        source = path.read_text()
        used |= set(PY_KEY.findall(source)) | set(KEY_ARG.findall(source))
    assert len(used) > 20
    assert sorted(used - set(catalogue("fr"))) == []


def test_every_label_family_the_templates_use_exists():
    families = {
        family
        for path in TEMPLATES.rglob("*.html")
        for family in LABEL_FAMILY.findall(path.read_text())
    }
    assert {"phase", "ccat", "cstate", "loanstate", "rulename"} <= families
    keys = set(catalogue("fr"))
    assert sorted(f for f in families if not any(k.startswith(f + ".") for k in keys)) == []


def test_every_problem_code_a_service_raises_has_a_sentence_in_both_languages():
    codes = set()
    for service in ("exchange", "crowdfunding", "budget", "portal"):
        for path in [*(SERVICES / service).glob("*.py"), *(SERVICES / service).glob("debate/*.py")]:
            if path.name == "stripe_provider.py":  # the payment provider's own states
                continue
            source = path.read_text()
            codes |= set(CODE.findall(source)) | set(REFUSAL.findall(source))
    assert {"credits.debit_limit", "ballot_not_on_paper", "accounts.already_decided"} <= codes
    for lang in ("fr", "en"):
        missing = sorted(c for c in codes if f"problem.{c}" not in catalogue(lang))
        assert missing == [], lang


def test_a_validation_problem_names_its_fields_in_the_readers_words():
    params = {"fields": ["amount_cents", "mystery_field"]}
    assert problem_message("fr", code="invalid", params=params, status=422) == (
        "Valeur refusée : montant, mystery field. Vérifiez le formulaire."
    )


def test_an_unknown_problem_code_is_logged_so_that_it_gets_a_sentence(monkeypatch):
    # A stand-in for the module's logger: structlog caches loggers on first use, so
    # capture_logs() would miss this one once any earlier test has logged through it.
    logs: list[dict] = []

    class Log:
        def warning(self, event: str, **fields) -> None:
            logs.append({"event": event, **fields})

    monkeypatch.setattr(portal_i18n, "log", Log())
    problem_message("fr", code="brand.new", params={}, status=409)
    assert {"event": "untranslated problem code", "code": "brand.new"}.items() <= logs[-1].items()
