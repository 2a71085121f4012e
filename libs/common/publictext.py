"""Free text and ids that travel in events: no personal data (DESIGN.md, "Data").

Events are read by every service, kept in the stream for replay and copied into the
impact projections: a name, an e-mail address or a phone number that slips into a title or
a note stays there. Two annotated types, used by the contracts (libs/common/contracts) and by
the request bodies that feed them, so a bad value is answered 422 at the HTTP edge naming the
field instead of failing when the event is built:

- `PublicText`: a title, a name, a note that will be public. Refuses e-mail addresses and
  phone numbers (9 to 15 digits, with the usual separators, optionally after + or 00).
- `PseudonymousId`: an id that stands for a person. Refuses anything e-mail-like or
  phone-like, and whitespace (an id is a token, not a sentence).

The checks are deliberately simple patterns: they catch the common accident (an organiser
typing their e-mail into a title, a desk clerk typing a phone number as an author id), not
a determined attempt to smuggle data out (spelled-out digits, "name at domain").
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# 9 to 15 digits, with spaces, dots, dashes, slashes or brackets between them; not inside a
# longer word or number (so "2026-03-15", a UUID or an amount of a few digits pass).
_PHONE = re.compile(r"(?<![\w.\-])(?:\+|00)?\(?\d(?:[\s.\-/()]{0,2}\d){8,14}(?![\w])")
_ID_SHAPE = re.compile(r"\S+")


def personal_data_in(text: str) -> str | None:
    """What personal data `text` holds ("an e-mail address", "a phone number"), or None."""
    if _EMAIL.search(text):
        return "an e-mail address"
    if _PHONE.search(text):
        return "a phone number"
    return None


def _public(text: str) -> str:
    found = personal_data_in(text)
    if found:
        raise ValueError(f"must not contain personal data ({found}): it would be published")
    return text


def pseudonymous_id(value: str) -> str:
    """`value` when it is one token that is not an e-mail address or a phone number."""
    if "@" in value or _EMAIL.search(value):
        raise ValueError("must be a pseudonymous id, not an e-mail address")
    if not _ID_SHAPE.fullmatch(value):
        raise ValueError("must be a pseudonymous id (one token, no spaces)")
    if _PHONE.fullmatch(value):
        raise ValueError("must be a pseudonymous id, not a phone number")
    return value


PublicText = Annotated[str, AfterValidator(_public)]
PseudonymousId = Annotated[str, AfterValidator(pseudonymous_id)]
