"""Message catalogues (i18n/<lang>.json), the `t()` the templates use, and locale formatting.

French is the default; English is available. Tests check that both catalogues hold the same
keys and that every key the templates and pages use exists. Numbers, money, percentages,
dates and durations are written the reader's way by Babel ("6 000,00 €" / "€6,000.00").

A service's problem is worded here from its stable `code` and `params` (never from its
English `detail`): `problem.<code>` in the catalogue, the params formatted by their name.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from libs.common.logs import get_logger
from services.portal.territory import directory

log = get_logger(__name__)
LANGUAGES: tuple[str, ...] = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
CATALOGUE_DIR = Path(__file__).parent / "i18n"
LOCALES = {"fr": "fr_FR", "en": "en_GB"}


@lru_cache
def catalogue(lang: str) -> dict[str, str]:
    return json.loads((CATALOGUE_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def _lang(lang: str) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def translate(lang: str, key: str, **values: object) -> str:
    lang = _lang(lang)
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**values) if values else text


def known(key: str) -> bool:
    return key in catalogue(DEFAULT_LANGUAGE)


def label(lang: str, prefix: str, value: object) -> str:
    """The catalogue's word for `value` in a family of keys (`ccat.` + "culture"); a value
    the catalogue does not know yet (an imported category) is shown as itself, never as a
    raw key, and logged so it can be added."""
    if value is None or value == "":
        return "–"
    key = f"{prefix}.{value}"
    if known(key):
        return translate(lang, key)
    log.warning("no catalogue label", key=key)
    return str(value).replace("_", " ").replace("-", " ")


def pick_language(*, session_lang: str | None, accept_language: str | None) -> str:
    """The session's choice, else the browser's first supported language, else French."""
    if session_lang in LANGUAGES:
        return session_lang
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


# --- locale formatting -------------------------------------------------------------------


def format_number(value: Any, lang: str, *, decimals: int | None = None) -> str:
    """1200 → "1 200" (fr) / "1,200" (en); 380.0 with decimals=1 → "380,0"."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except ArithmeticError:
            return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return str(value)  # not a number after all: shown as the service said it
    if isinstance(value, Decimal) and not value.is_finite():
        return str(value)
    if decimals is None and isinstance(value, float):
        decimals = 1  # a measured or estimated figure (kg, km): one decimal, "380,0"
    pattern = None if decimals is None else "#,##0." + "0" * decimals if decimals else "#,##0"
    return format_decimal(value, format=pattern, locale=LOCALES[_lang(lang)])


def format_percent(value: Any, lang: str, *, decimals: int = 1, ratio: bool = False) -> str:
    """A percentage: 0.2 → "0,2 %" (fr) / "0.2%" (en); with ratio=True, 0.002 → the same."""
    if value is None or value == "":
        return "–"
    number = Decimal(str(value)) * (100 if ratio else 1)
    text = format_decimal(number, format="#,##0." + "#" * decimals, locale=LOCALES[_lang(lang)])
    return f"{text}\u00a0%" if _lang(lang) == "fr" else f"{text}%"


def format_cents(cents: int | None, lang: str) -> str:
    """1234567 → "12 345,67 €" (fr) or "€12,345.67" (en)."""
    if cents is None:
        return "–"
    return format_currency(Decimal(int(cents)) / 100, "EUR", locale=LOCALES[_lang(lang)])


def format_euro_text(value: Any, lang: str) -> str:
    """Euros written as a decimal string by a service ("380.00") → "380,00 €"."""
    if value is None or value == "":
        return "–"
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return format_currency(amount, "EUR", locale=LOCALES[_lang(lang)])


def format_minutes(minutes: int | None, lang: str) -> str:
    """A duration of minutes as hours and minutes: 95 → "1 h 35" (fr) / "1h35" (en)."""
    if minutes is None:
        return "–"
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(int(minutes)), 60)
    hours_text = format_number(hours, lang)
    return f"{sign}{hours_text} h {rest:02d}" if lang == "fr" else f"{sign}{hours_text}h{rest:02d}"


def format_day(value: Any, lang: str) -> str:
    """A calendar day: "5 mars 2026" (fr) / "5 Mar 2026" (en); a moment shows its day."""
    if not value:
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return value
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="medium", locale=LOCALES[_lang(lang)])


# --- a service's problem, in the reader's language ----------------------------------------

# The catalogue family that names a `state`/`status` param, by the code's first part.
_STATE_LABELS = {
    ("loans", "state"): "loanstate",
    ("ratings", "state"): "loanstate",
    ("campaigns", "state"): "cstate",
    ("pledges", "state"): "cstate",
    ("pledges", "status"): "pstate",
    ("rewards", "status"): "pstate",
    ("not_assessable", "status"): "pstatus",
    ("milestone_backwards", "status"): "milestone",
    ("debate", "state"): "debate.state",
}


def format_param(name: str, value: Any, lang: str, *, code: str = "") -> str:
    """One problem parameter, formatted by what its name says it is."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if name.endswith("_cents") and isinstance(value, int):
        return format_cents(value, lang)
    if isinstance(value, int | float | Decimal):
        return format_number(value, lang)
    if isinstance(value, list):
        return ", ".join(format_param(name, v, lang, code=code) for v in value)
    if name in ("due_on", "starts_on") or name.endswith("_day"):
        return format_day(value, lang)
    if name == "fields":
        return label(lang, "field", value)
    if name in ("phase", "target", "allowed"):
        return label(lang, "phase", value)
    if name in ("previous", "milestone"):
        return label(lang, "milestone", value)
    if name == "action":
        return label(lang, "loanaction", value)
    if name == "subject":
        return label(lang, "subject", value)
    if name == "district":
        return directory().name_of(value)
    if name in ("state", "status"):
        return label(lang, _STATE_LABELS.get((code.split(".")[0], name), "status"), value)
    return str(value)


def problem_message(lang: str, *, code: str | None, params: dict | None, status: int) -> str:
    """The catalogue's sentence for a service problem, or a generic one for its status."""
    key = f"problem.{code}" if code else ""
    if key and known(key):
        values = {
            name: format_param(name, value, lang, code=code or "")
            for name, value in (params or {}).items()
        }
        try:
            return translate(lang, key).format(**values)
        except (KeyError, IndexError):  # the service sent fewer params than the text needs
            log.warning("problem params do not fit the catalogue", code=code, params=params)
            return translate(lang, _generic(status))
    log.warning("untranslated problem code", code=code, status=status)
    return translate(lang, _generic(status))


def _generic(status: int) -> str:
    return {
        401: "problem.generic.401",
        403: "problem.generic.403",
        404: "problem.generic.404",
        409: "problem.generic.409",
        422: "problem.generic.422",
    }.get(status, "problem.generic")
