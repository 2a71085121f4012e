"""Strict input types for the HTTP edge, shared by every service's request models.

FastAPI validates a parsed JSON body in pydantic's lax Python mode: `"100"` becomes 100,
`false` becomes 0, `0` becomes 1970-01-01 and `"0151-10-01"` is a fine date. At the edge
that is how bad data gets in (a year-151 date once reached the impact report). These
types accept exactly one JSON shape each and answer 422 naming the field otherwise:

- `Cents`, `Minutes`: a JSON integer (not a string, float or boolean), never negative;
  narrow them further at the use site (`Cents = Field(gt=0)`).
- `StrictFlag`: a JSON boolean (not 0/1, not "true").
- `CivicDate`, `CivicDateTime`: an ISO 8601 string (never a number) in the years
  2000..2100 — a platform that opened in the 2020s has no business dates outside them.
- `Birthdate`: an ISO date string in 1900..2100 (people are older than the platform).

Query and path parameters arrive as text, so only the date types suit them (their bounds
apply there too); the integer and boolean types are for JSON bodies.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Strict

FIRST_YEAR, LAST_YEAR = 2000, 2100
FIRST_BIRTH_YEAR = 1900
MAX_CENTS = 10**11  # one billion euros: far above any municipal budget
MAX_MINUTES = 10**7  # about nineteen years of work


def _within(low: int, high: int):
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


# The outer bounds are validators, not `Field(ge=..., le=...)`: pydantic lets a type's own
# constraints silently override a use site's `Field(gt=0, le=...)`; validators always run.
Cents = Annotated[int, Strict(), AfterValidator(_within(0, MAX_CENTS))]
Minutes = Annotated[int, Strict(), AfterValidator(_within(0, MAX_MINUTES))]
StrictFlag = Annotated[bool, Strict()]


def _iso_text(value: Any) -> Any:
    # Dates and datetimes already parsed (Python callers, defaults) pass; from JSON only a
    # string may become one: numbers would be read as Unix timestamps.
    if isinstance(value, date | str):
        return value
    raise ValueError("must be an ISO 8601 string, e.g. 2026-05-01")


def _years(first: int, last: int):
    def check(value: date) -> date:
        if not first <= value.year <= last:
            raise ValueError(f"the year must be between {first} and {last}")
        return value

    return check


CivicDate = Annotated[
    date,
    BeforeValidator(_iso_text),
    AfterValidator(_years(FIRST_YEAR, LAST_YEAR)),
]
CivicDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_text),
    AfterValidator(_years(FIRST_YEAR, LAST_YEAR)),
]
Birthdate = Annotated[
    date,
    BeforeValidator(_iso_text),
    AfterValidator(_years(FIRST_BIRTH_YEAR, LAST_YEAR)),
]
