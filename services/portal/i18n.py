"""Message catalogues (i18n/<lang>.json) and the `t()` the templates use.

French is the default; English is available. A key missing from a catalogue falls back to
French, then to the key itself (a test checks both catalogues hold the same keys).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES: tuple[str, ...] = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
CATALOGUE_DIR = Path(__file__).parent / "i18n"


@lru_cache
def catalogue(lang: str) -> dict[str, str]:
    return json.loads((CATALOGUE_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def translate(lang: str, key: str, **values: object) -> str:
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**values) if values else text


def pick_language(*, session_lang: str | None, accept_language: str | None) -> str:
    """The session's choice, else the browser's first supported language, else French."""
    if session_lang in LANGUAGES:
        return session_lang
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def format_cents(cents: int | None, lang: str) -> str:
    """1234567 → "12 345,67 €" (fr) or "€12,345.67" (en)."""
    if cents is None:
        return "–"
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    if lang == "en":
        return f"{sign}€{whole:,}.{frac:02d}"
    grouped = f"{whole:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{frac:02d}\u00a0€"


def format_minutes(minutes: int | None, lang: str) -> str:
    if minutes is None:
        return "–"
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(int(minutes)), 60)
    return f"{sign}{hours} h {rest:02d}" if lang == "fr" else f"{sign}{hours}h{rest:02d}"
