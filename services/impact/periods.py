"""Periods: a year, a month, an ISO week, a day, or a participatory-budget edition.

Days are UTC days (an event's `occurred_at` in UTC). A window is inclusive at both ends.

Every day the service stores or answers for lies in EARLIEST_DAY..LATEST_DAY: an event dated
outside is quarantined at ingestion (handlers), and a period outside is refused (ValueError,
answered 422). The bounds are fixed constants, not "today +/- n": a replay years later must
accept and refuse exactly the same events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from libs.common.types import FIRST_YEAR, LAST_YEAR

Kind = Literal["day", "week", "month", "year", "edition", "all"]
KINDS: tuple[str, ...] = ("day", "week", "month", "year", "edition")

_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Window:
    """A labelled, inclusive range of UTC days (or one PB edition)."""

    kind: Kind
    label: str
    start: date
    end: date
    edition: str | None = None

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "label": self.label,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "edition": self.edition,
        }


EARLIEST_DAY = date(2000, 1, 1)  # before any platform of this kind: a typo or a fuzzed date
LATEST_DAY = date(2099, 12, 31)

ALL_TIME = Window("all", "all", EARLIEST_DAY, LATEST_DAY)


def in_bounds(day: date) -> bool:
    """Whether `day` is one the impact service stores and reports on."""
    return EARLIEST_DAY <= day <= LATEST_DAY


def _checked(window: Window) -> Window:
    if not (in_bounds(window.start) and in_bounds(window.end)):
        raise ValueError(
            f"period {window.label!r} is outside {EARLIEST_DAY.year}..{LATEST_DAY.year}"
        )
    return window


def parse_period(text: str) -> Window:
    """'2026', '2026-03', '2026-W10', '2026-03-15', 'edition:<id>' or 'all'; ValueError else.

    Dated periods lie in the years the platform accepts anywhere (2000..2100): year 9999's
    December would overflow `date`, and year 151 is a typo."""
    text = text.strip()
    if text == "all":
        return ALL_TIME
    if text.startswith("edition:") and len(text) > len("edition:"):
        # The days are resolved against the edition's events by the report engine.
        return Window("edition", text, ALL_TIME.start, ALL_TIME.end, edition=text[8:])
    if text[:4].isdigit() and not FIRST_YEAR <= int(text[:4]) <= LAST_YEAR:
        raise ValueError(f"the year must be between {FIRST_YEAR} and {LAST_YEAR}: {text!r}")
    if _YEAR.match(text):
        year = int(text)
        if not EARLIEST_DAY.year <= year <= LATEST_DAY.year:
            raise ValueError(f"year {year} is outside {EARLIEST_DAY.year}..{LATEST_DAY.year}")
        return Window("year", text, date(year, 1, 1), date(year, 12, 31))
    if m := _MONTH.match(text):
        first = date(int(m.group(1)), int(m.group(2)), 1)
        _checked(Window("day", text, first, first))  # before month_window steps past it
        return month_window(first)
    if m := _WEEK.match(text):
        start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        _checked(Window("day", text, start, start))
        return _checked(week_window(start))
    if _DAY.match(text):
        day = date.fromisoformat(text)
        return _checked(Window("day", text, day, day))
    raise ValueError(f"not a period: {text!r} (2026, 2026-03, 2026-W10, 2026-03-15, edition:<id>)")


def month_window(day: date) -> Window:
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return Window("month", start.strftime("%Y-%m"), start, following - timedelta(days=1))


def week_window(day: date) -> Window:
    start = day - timedelta(days=day.weekday())
    year, week, _ = start.isocalendar()
    return Window("week", f"{year}-W{week:02d}", start, start + timedelta(days=6))


def last_buckets(kind: str, start: date, end: date, *, limit: int) -> tuple[list[Window], bool]:
    """The windows of `kind` covering start..end, only the last `limit` of them when there
    are more; and whether some were left out. For a default span read from stored data,
    which must never make a report fail however old its first event is."""
    start, end = max(start, EARLIEST_DAY), min(end, LATEST_DAY)
    if start > end:
        return [], False
    first = {
        "day": lambda: end - timedelta(days=limit - 1),
        "week": lambda: end - timedelta(days=7 * limit - 1),
        "month": lambda: _months_back(end, limit - 1),
        "year": lambda: date(max(end.year - limit + 1, EARLIEST_DAY.year), 1, 1),
    }[kind]()
    if first <= start:
        return buckets(kind, start, end, limit=limit), False
    windows = buckets(kind, first, end, limit=limit + 1)
    return windows[-limit:], True


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return max(date(index // 12, index % 12 + 1, 1), EARLIEST_DAY)


def buckets(kind: str, start: date, end: date, *, limit: int = 400) -> list[Window]:
    """The consecutive windows of `kind` covering start..end (at most `limit` of them)."""
    if start > end:
        raise ValueError("from must not be after to")
    if not (in_bounds(start) and in_bounds(end)):
        raise ValueError(f"days must lie in {EARLIEST_DAY}..{LATEST_DAY}")
    out: list[Window] = []
    cursor = start
    while cursor <= end:
        if kind == "day":
            window = Window("day", cursor.isoformat(), cursor, cursor)
        elif kind == "week":
            window = week_window(cursor)
        elif kind == "month":
            window = month_window(cursor)
        elif kind == "year":
            window = Window(
                "year", str(cursor.year), date(cursor.year, 1, 1), date(cursor.year, 12, 31)
            )
        else:
            raise ValueError(f"cannot bucket by {kind!r}")
        out.append(window)
        if len(out) > limit:
            raise ValueError(f"more than {limit} {kind}s between {start} and {end}")
        cursor = window.end + timedelta(days=1)
    return out
