"""Money is an integer number of euro cents. Never a float.

The one rounding rule of the platform: when a rate or share produces a fraction of a
cent, it is rounded to the nearest cent, halves away from zero (ROUND_HALF_UP on the
absolute value, as a cashier would). Splits use `allocate`, which hands the leftover
cents to the largest remainders so that the parts always add up to the total exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

Cents = int


def round_cents(value: Decimal | Fraction | int) -> Cents:
    """Round an amount expressed in (fractional) cents with the platform rule."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    sign = -1 if value < 0 else 1
    return sign * int(abs(Decimal(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apply_rate(amount: Cents, rate: Decimal | str) -> Cents:
    """`amount` × `rate` (e.g. Decimal("0.05") for 5 %), rounded with the platform rule."""
    return round_cents(Decimal(amount) * Decimal(rate))


def allocate(total: Cents, weights: Sequence[int]) -> list[Cents]:
    """Split `total` in proportion to `weights`; the parts sum to `total` exactly."""
    if not weights or sum(weights) <= 0:
        raise ValueError("allocate needs positive weights")
    weight_sum = sum(weights)
    exact = [Fraction(total * w, weight_sum) for w in weights]
    parts = [int(x) for x in exact]  # truncates toward zero
    leftover = total - sum(parts)
    step = 1 if leftover >= 0 else -1
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(abs(exact[i] - parts[i])), i))
    for i in by_remainder[: abs(leftover)]:
        parts[i] += step
    return parts


# Spaces people and software put between thousands: space, no-break, narrow no-break, thin.
_GROUP_SPACES = (" ", "\u00a0", "\u202f", "\u2009")
_MAX_DIGITS = 13  # 100 billion euros: more is a typing accident, not a pledge


class AmountUnreadable(ValueError):
    """An amount that cannot be read; `reason` is a stable word for clients to translate."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_amount_cents(text: str) -> Cents:
    """An amount of euros as people type it, French or English, into cents.

    Accepted: "1800", "1 800", "1 800,50 €", "1800.50", "1800,5", "€1,800.50", "1.800,50".
    - Spaces (also no-break ones) group thousands; "€" or "EUR" may stand before or after.
    - With both "," and ".", the last one is the decimal mark and the other groups
      thousands. With one kind used several times, it groups thousands (1.800.000).
    - With one mark used once, it is the decimal mark, followed by one or two digits;
      three digits ("1,800" or "1.800") are refused as ambiguous: 1.8 € or 1 800 €?
    Refused with a ValueError saying why: empty, negative, letters, misplaced groups,
    more precise than a cent.
    """
    raw = text
    text = text.strip()
    for currency in ("€", "EUR", "eur"):
        text = text.removeprefix(currency).removesuffix(currency).strip()
    for space in _GROUP_SPACES:
        text = text.replace(space, "\0")  # a thousands mark, checked below
    if not text:
        raise AmountUnreadable(f"not an amount: {raw!r} is empty", reason="empty")
    if text.startswith("-"):
        raise AmountUnreadable(f"not an amount: {raw!r} is negative", reason="negative")
    if text.startswith("+"):
        text = text[1:]
    if not text or any(c not in "0123456789.,\0" for c in text):
        raise AmountUnreadable(
            f"not an amount: {raw!r} (only digits, spaces, one decimal mark)", reason="characters"
        )
    whole, frac = _split_decimal(text, raw)
    groups = whole.split("\0")
    if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
        raise AmountUnreadable(
            f"not an amount: {raw!r} (thousands go by three digits)", reason="groups"
        )
    whole = "".join(groups)
    if not whole and not frac:
        raise AmountUnreadable(f"not an amount: {raw!r} has no digits", reason="characters")
    if len(whole) > _MAX_DIGITS:
        raise AmountUnreadable(f"not an amount: {raw!r} is too large", reason="too_large")
    if len(frac) > 2:
        if frac[2:].strip("0"):
            raise AmountUnreadable(f"more precise than a cent: {raw!r}", reason="sub_cent")
        frac = frac[:2]
    return int(whole or "0") * 100 + int(frac.ljust(2, "0") or "0")


def _split_decimal(text: str, raw: str) -> tuple[str, str]:
    """(integer part with thousands marks turned into NUL, decimal digits)."""
    marks = [c for c in text if c in ",."]
    if not marks:
        return text, ""
    kinds = set(marks)
    if len(kinds) == 2:
        decimal = marks[-1]
        thousands = "," if decimal == "." else "."
        if text.count(decimal) != 1 or text.rindex(thousands) > text.rindex(decimal):
            raise AmountUnreadable(f"not an amount: {raw!r} (mixed decimal marks)", reason="mixed")
        whole, frac = text.split(decimal)
        return whole.replace(thousands, "\0"), frac
    (mark,) = kinds
    if len(marks) > 1:  # 1.800.000 or 1,800,000: thousands only
        return text.replace(mark, "\0"), ""
    whole, frac = text.split(mark)
    if len(frac) == 3 and whole:
        raise AmountUnreadable(
            f"ambiguous amount: {raw!r} (write 1800 or 1 800 for thousands, 1,80 for cents)",
            reason="ambiguous",
        )
    return whole, frac


def parse_euros(text: str) -> Cents:
    """Parse euros typed by a person into cents (see `parse_amount_cents`)."""
    return parse_amount_cents(text)


def format_euros(cents: Cents) -> str:
    """Format cents as euros with two decimals, e.g. 123456 -> "1234.56 €"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d} €"
