"""`parse_amount_cents`: amounts as residents type them, French or English."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.common.money import parse_amount_cents, parse_euros
from services.portal.i18n import format_cents

cents = st.integers(0, 10**12)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1 800", 180_000),
        ("1 800,50 €", 180_050),
        ("1800.50", 180_050),
        ("1800,5", 180_050),
        ("6\u202f000,00\u00a0€", 600_000),
        ("€1,800.50", 180_050),
        ("1.800,50", 180_050),
        ("1.800.000", 180_000_000),
        ("EUR 12", 1_200),
        ("0,05", 5),
        ("12.5000", 1_250),
    ],
)
def test_amounts_typed_the_french_or_english_way(typed, expected):
    assert parse_amount_cents(typed) == expected
    assert parse_euros(typed) == expected  # every form of the portal uses it


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("  € ", "empty"),
        ("-5", "negative"),
        ("douze", "only digits"),
        ("1e3", "only digits"),
        ("1,800", "ambiguous"),
        ("1.800", "ambiguous"),
        ("1 80", "by three"),
        ("18 00,50", "by three"),
        ("1.800,50.5", "mixed"),
        ("1,0001", "more precise than a cent"),
        ("1" * 20, "too large"),
    ],
)
def test_refusals_say_why(typed, reason):
    with pytest.raises(ValueError, match=reason):
        parse_amount_cents(typed)


@given(cents)
def test_what_the_portal_writes_it_reads_back(amount):
    assert parse_amount_cents(format_cents(amount, "fr")) == amount
    assert parse_amount_cents(format_cents(amount, "en")) == amount


@given(cents, st.sampled_from([" ", "\u00a0", "\u202f", ""]), st.sampled_from([",", "."]))
def test_grouped_or_plain_with_either_decimal_mark(amount, space, mark):
    whole, frac = divmod(amount, 100)
    grouped = f"{whole:,}".replace(",", space) if space else str(whole)
    assert parse_amount_cents(f"{grouped}{mark}{frac:02d}") == amount
    if frac % 10 == 0:
        assert parse_amount_cents(f"{grouped}{mark}{frac // 10}") == amount
    if frac == 0:
        assert parse_amount_cents(f"{grouped} €") == amount


@given(st.text(max_size=30))
def test_any_text_is_an_amount_or_a_value_error(text):
    try:
        value = parse_amount_cents(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert isinstance(value, int) and value >= 0
