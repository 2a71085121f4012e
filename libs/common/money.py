"""Money is an integer number of euro cents. Never a float.

The one rounding rule of the platform: when a rate or share produces a fraction of a
cent, it is rounded to the nearest cent, halves away from zero (ROUND_HALF_UP on the
absolute value, as a cashier would). Splits use `allocate`, which hands the leftover
cents to the largest remainders so that the parts always add up to the total exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
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


def parse_euros(text: str) -> Cents:
    """Parse "12", "12.5" or "12,50" euros into cents; refuse sub-cent precision."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"more precise than a cent: {text!r}")
    return int(cents)


def format_euros(cents: Cents) -> str:
    """Format cents as euros with two decimals, e.g. 123456 -> "1234.56 €"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d} €"
