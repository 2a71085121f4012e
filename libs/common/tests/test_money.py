from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.common.money import allocate, apply_rate, format_euros, parse_euros, round_cents


def test_half_cent_rounds_away_from_zero():
    assert round_cents(Decimal("2.5")) == 3
    assert round_cents(Decimal("-2.5")) == -3
    assert round_cents(Fraction(5, 2)) == 3
    assert round_cents(Decimal("2.4999")) == 2


def test_commission_of_five_percent():
    assert apply_rate(1_234_567, Decimal("0.05")) == 61_728  # 61728.35
    assert apply_rate(10, "0.05") == 1  # 0.5 cent rounds up
    assert apply_rate(9, "0.05") == 0


def test_parse_and_format_euros():
    assert parse_euros("12") == 1200
    assert parse_euros("12,5") == 1250
    assert parse_euros(" 0.01 ") == 1
    assert format_euros(123456) == "1234.56 €"
    assert format_euros(-5) == "-0.05 €"
    with pytest.raises(ValueError, match="more precise than a cent"):
        parse_euros("1.0001")
    with pytest.raises(ValueError, match="not an amount"):
        parse_euros("douze")


def test_allocate_hands_leftover_cents_to_largest_remainders():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]
    with pytest.raises(ValueError):
        allocate(100, [0, 0])


@given(
    total=st.integers(-(10**9), 10**9),
    weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=20).filter(lambda w: sum(w)),
)
def test_allocate_parts_always_add_up(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, sum(weights))
        assert abs(part - exact) < 1
