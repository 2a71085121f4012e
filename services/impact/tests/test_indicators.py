"""Impact indicators: hand-computed formulas, ordered ranges, versioned factors, privacy."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from services.impact import disclosure as dc
from services.impact.catalogue import FACTORS_DIR, ITEM_CATEGORIES, Range, load_catalogue
from services.impact.indicators import (
    INDICATORS,
    CentsRange,
    campaign_success_rate,
    car_km_avoided_by_carpool,
    carpool_passenger_km,
    co2e_avoided_by_carpool,
    co2e_avoided_by_energy,
    co2e_avoided_by_loans,
    co2e_avoided_by_repairs,
    factor_keys_of,
    idle_items,
    median,
    money_saved_by_borrowers,
    pb_delivery_rate,
    pb_envelope_leftover,
    pb_turnout,
    present_estimate,
    present_percent,
    present_range,
    repair_avoided_per_item,
    share,
    total,
    waste_avoided_by_loans,
    waste_avoided_by_repairs,
)

D = Decimal


@pytest.fixture(scope="module")
def v1():
    return load_catalogue("v1")


def _catalogue_with(directory, key, value, low, high):
    """v1 with one factor changed, written as catalogue-v2.csv in `directory` and loaded."""
    text = (FACTORS_DIR / "catalogue-v1.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    for row in rows:
        if row["key"] == key:
            row.update(value=value, low=low, high=high)
    with (directory / "catalogue-v2.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return load_catalogue("v2", path=directory)


def _is_ordered(r: Range | CentsRange) -> bool:
    return r.low <= r.central <= r.high


# --- environment ---------------------------------------------------------------------------------


def test_ten_drill_loans_and_two_tent_loans_avoid_hand_computed_co2e(v1):
    # drill 26.65 (no range); tent 4 kg x 27.09 = 108.36 (2 .. 6 kg); substitution .25 (.1 .. .5)
    result = co2e_avoided_by_loans({"drill": 10, "tent": 2}, v1)
    assert result.central == (10 * D("26.65") + 2 * D("108.36")) * D("0.25")  # 120.805
    assert result.low == (10 * D("26.65") + 2 * D("54.18")) * D("0.10")  # 37.486
    assert result.high == (10 * D("26.65") + 2 * D("162.54")) * D("0.50")  # 295.79


def test_no_loans_avoid_nothing(v1):
    assert co2e_avoided_by_loans({}, v1) == Range.zero()


def test_an_unknown_category_counts_as_other(v1):
    assert co2e_avoided_by_loans({"kayak": 3}, v1) == co2e_avoided_by_loans({"other": 3}, v1)


def test_a_negative_count_is_refused(v1):
    with pytest.raises(ValueError):
        co2e_avoided_by_loans({"drill": -1}, v1)


def test_every_category_gives_an_ordered_estimate(v1):
    for category in ITEM_CATEGORIES:
        assert _is_ordered(co2e_avoided_by_loans({category: 7}, v1)), category
        assert _is_ordered(waste_avoided_by_loans({category: 7}, v1)), category
        assert _is_ordered(money_saved_by_borrowers({category: 7}, v1)), category
        assert _is_ordered(co2e_avoided_by_repairs({category: 7}, v1)), category


def test_carpool_passenger_km_become_avoided_car_km_and_co2e(v1):
    # 1,000 passenger-km x 80 % would have driven alone x 0.14225 kgCO2e per vehicle-km
    assert car_km_avoided_by_carpool(1000, v1).central == D("800")
    result = co2e_avoided_by_carpool(1000, v1)
    assert result.central == D("113.8")
    assert result.low == 1000 * D("0.70") * D("0.06737")
    assert result.high == 1000 * D("0.90") * D("0.16971")


def test_passenger_km_from_float_route_km_stay_exact():
    assert carpool_passenger_km([(12.3, 2), (D("7.5"), 1), (4, 3)]) == D("44.1")


def test_a_repaired_bike_displaces_half_a_new_bike(v1):
    per_item = repair_avoided_per_item("bike", v1)
    assert per_item.central == D("58")  # 116 x 0.5
    assert per_item.high == D("74.8")  # 149.6 x 0.5
    assert co2e_avoided_by_repairs({"bike": 3}, v1).central == D("174")


def test_waste_avoided_by_loans_and_repairs(v1):
    # 4 lawn-mower loans x 25 kg x 0.25; a repaired lawn mower keeps its full 25 kg out of the bin
    assert waste_avoided_by_loans({"lawn_mower": 4}, v1).central == D("25")
    assert waste_avoided_by_repairs({"lawn_mower": 1}, v1).central == D("25")


def test_total_adds_bound_by_bound(v1):
    loans = co2e_avoided_by_loans({"drill": 10}, v1)
    carpool = co2e_avoided_by_carpool(1000, v1)
    combined = total([loans, carpool])
    assert combined.central == loans.central + carpool.central
    assert combined.low == loans.low + carpool.low


# --- money ---------------------------------------------------------------------------------------


def test_money_saved_is_hand_computed_integer_cents(v1):
    # 10 drills x 60 EUR + 2 tents x 150 EUR = 900 EUR; x 0.25 = 225 EUR
    saved = money_saved_by_borrowers({"drill": 10, "tent": 2}, v1)
    # low: (10 x 40 + 2 x 60 EUR) x 0.10 = 52 EUR; high: (10 x 120 + 2 x 300 EUR) x 0.50 = 900 EUR
    assert saved == CentsRange(low=5200, central=22500, high=90000)
    assert all(isinstance(v, int) for v in (saved.low, saved.central, saved.high))


def test_money_saved_for_one_book(v1):
    # 1500 cents x 0.25 = 375; low 800 x 0.10 = 80; high 2500 x 0.50 = 1250
    assert money_saved_by_borrowers({"books": 1}, v1) == CentsRange(80, 375, 1250)


def test_money_saved_rounds_fractional_cents_once_half_up(tmp_path, v1):
    # 3 books x 1500 cents x 0.333 = 1498.5 cents -> 1499 (rounded once, on the total)
    v2 = _catalogue_with(tmp_path, "loan.purchase_substitution", "0.333", "0.333", "0.333")
    assert money_saved_by_borrowers({"books": 3}, v2).central == 1499


def test_envelope_leftover_may_be_negative_when_overspent():
    assert pb_envelope_leftover(9_500_000, 9_000_000) == 500_000
    assert pb_envelope_leftover(9_500_000, 9_600_000) == -100_000


# --- a new catalogue version changes the numbers ------------------------------------------------


def test_a_new_catalogue_version_changes_the_numbers(tmp_path, v1):
    v2 = _catalogue_with(tmp_path, "loan.purchase_substitution", "0.40", "0.20", "0.60")
    loans = {"drill": 10}
    assert co2e_avoided_by_loans(loans, v1).central == D("66.625")  # 266.5 x 0.25
    assert co2e_avoided_by_loans(loans, v2).central == D("106.6")  # 266.5 x 0.40
    assert money_saved_by_borrowers(loans, v2).central == 24000
    assert co2e_avoided_by_carpool(100, v2) == co2e_avoided_by_carpool(100, v1)


# --- rates and medians ---------------------------------------------------------------------------


def test_shares_are_exact_and_none_without_a_denominator():
    assert pb_turnout(1100, 22000) == D("0.05")
    assert campaign_success_rate(30, 100) == D("0.3")
    assert pb_delivery_rate(0, 0) is None
    assert share(0, 5) == 0
    with pytest.raises(ValueError):
        share(6, 5)


def test_median_of_odd_even_and_empty():
    assert median([5, 1, 3]) == 3
    assert median([4, 1, 3, 2]) == D("2.5")
    assert median([]) is None


def test_idle_items_are_listed_but_never_lent():
    assert idle_items(["a", "b", "c"], ["b", "b", "z"]) == 2


# --- privacy -------------------------------------------------------------------------------------


def one_way_suppressed(cells: dict, k: int = 5) -> set:
    table = dc.one_way("t", {r: (v, v) for r, v in cells.items()}, (sum(cells.values()),) * 2)
    dc.protect([table], k)
    return {r for r, c in table.suppressed if c == dc.ONE}


def test_cells_under_five_contributors_are_suppressed_and_a_true_zero_is_not():
    assert one_way_suppressed({"N1": 12, "N2": 3, "N3": 4, "N4": 0}) == {"N2", "N3"}


def test_a_lone_small_cell_takes_the_next_smallest_with_it():
    assert one_way_suppressed({"repair": 2, "carpool": 40, "gardening": 9}) == {
        "repair",
        "gardening",
    }
    assert one_way_suppressed({"repair": 2, "carpool": 40}, k=3) == {"repair", "carpool"}


def test_bridges_are_the_edges_on_no_cycle():
    square = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert dc.bridges(square) == []
    assert dc.bridges([*square, ("c", "y")]) == [("c", "y")]
    assert dc.bridges([("a", "x")]) == [("a", "x")]


def test_a_small_cell_of_a_two_way_table_sits_on_a_cycle_of_suppressed_cells():
    table = dc.two_way(
        "loans",
        {("N1", "drill"): (10, 10), ("N1", "tent"): (1, 1), ("N2", "drill"): (8, 8),
         ("N2", "tent"): (6, 6)},
        {"N1": (11, 11), "N2": (14, 14)},
        {"drill": (18, 18), "tent": (7, 7)},
        (25, 25),
    )  # fmt: skip
    dc.protect([table], 5)
    assert ("N1", "tent") in table.suppressed
    assert dc.bridges(table.suppressed) == []
    # The smallest complements: N2's tents and N1's drills (not the totals).
    assert table.suppressed == {("N1", "tent"), ("N2", "tent"), ("N1", "drill"), ("N2", "drill")}


# --- presentation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exact", "shown"),
    [("1234.5", "1200"), ("17.68", "18"), ("0.7332", "0.73"), ("12345", "12000"), ("0", "0")],
)
def test_estimates_are_shown_with_two_significant_figures(exact, shown):
    assert format(present_estimate(D(exact)), "f") == shown


def test_shares_are_shown_as_percentages_with_one_decimal():
    assert present_percent(pb_turnout(1100, 22000)) == D("5.0")
    assert present_percent(share(1, 3)) == D("33.3")
    assert present_percent(None) is None


def test_presented_ranges_stay_ordered(v1):
    presented = present_range(co2e_avoided_by_loans({"drill": 10, "tent": 2}, v1))
    assert (presented.low, presented.central, presented.high) == (D("37"), D("120"), D("3.0E+2"))


# --- registry ------------------------------------------------------------------------------------


def test_the_registry_covers_the_sheet_8_families():
    families = {d.family for d in INDICATORS.values()}
    assert families == {"participation", "exchange", "money", "environment", "delivery"}
    for key in (
        "participation.pb_turnout",
        "exchange.median_request_to_match",
        "money.saved_by_borrowers",
        "environment.co2e_avoided_by_carpool",
        "delivery.pb_projects_delivered",
    ):
        assert key in INDICATORS


def test_every_indicator_is_defined_with_key_and_unit():
    for key, definition in INDICATORS.items():
        assert definition.key == key
        assert key.startswith(definition.family + ".")
        assert definition.definition and definition.unit


def test_every_factor_an_indicator_names_is_in_the_catalogue():
    current = load_catalogue()  # v1 predates the grid factor (energy CO2e: not applicable)
    for definition in INDICATORS.values():
        for factor_key in factor_keys_of(definition):
            assert current.factor(factor_key), (definition.key, factor_key)


def test_energy_co2e_uses_the_grid_factor_and_is_absent_before_v2(v1):
    v2 = load_catalogue("v2")
    assert co2e_avoided_by_energy(1_000_000, v2).central == Decimal("79.000")  # 1 MWh
    assert co2e_avoided_by_energy(1_000_000, v1) is None


def test_estimated_indicators_name_their_factors():
    for definition in INDICATORS.values():
        if definition.unit in ("kgCO2e", "kg"):
            assert definition.factor_keys, definition.key
