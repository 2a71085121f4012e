"""The factor catalogue: sourced, complete for the item taxonomy, versioned, faithful."""

from __future__ import annotations

import csv
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest

from services.impact.catalogue import (
    FACTORS_DIR,
    ITEM_CATEGORIES,
    Range,
    available_versions,
    load_catalogue,
    parse_factors,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def v1():
    return load_catalogue("v1")


def test_v1_is_shipped_in_the_package():
    assert "v1" in available_versions()
    assert (FACTORS_DIR / "catalogue-v1.csv").is_file()


def test_every_factor_has_a_source_and_a_licence(v1):
    for factor in v1.factors.values():
        assert factor.source.strip(), factor.key
        assert factor.licence.strip(), factor.key


def test_every_range_is_ordered(v1):
    for factor in v1.factors.values():
        assert factor.low <= factor.value <= factor.high, factor.key


def test_every_proxy_says_what_it_stands_in_for(v1):
    proxies = [f for f in v1.factors.values() if f.proxy]
    assert proxies
    assert all(f.proxy_note for f in proxies)


def test_the_tent_is_flagged_as_a_textile_proxy(v1):
    tent = v1.factor("footprint.tent")
    assert tent.proxy
    assert "textile" in tent.proxy_note


def test_every_item_category_has_footprint_mass_and_price(v1):
    for category in ITEM_CATEGORIES:
        assert v1.factor(f"footprint.{category}").unit == "kgCO2e/unit"
        assert v1.factor(f"mass.{category}").unit == "kg/unit"
        assert v1.factor(f"price.{category}").unit == "EUR_cent/unit"


def test_prices_are_whole_cents_and_marked_as_assumptions(v1):
    for category in ITEM_CATEGORIES:
        price = v1.factor(f"price.{category}")
        for bound in (price.low, price.value, price.high):
            assert bound == bound.to_integral_value(), category
        assert "assumption" in price.source


def test_values_are_exact_decimals(v1):
    assert v1.value("car.per_vehicle_km") == Decimal("0.14225")
    assert v1.value("footprint.projector") == Decimal("40.52115")


def test_mass_based_proxies_are_mass_times_factor(v1):
    assert v1.value("footprint.tent") == v1.value("mass.tent") * v1.value("material.textile_per_kg")
    assert v1.value("footprint.ladder") == v1.value("mass.ladder") * v1.value(
        "material.steel_per_kg"
    )
    assert v1.value("footprint.hedge_trimmer") == v1.value("mass.hedge_trimmer") * v1.value(
        "ratio.power_tool_per_kg"
    )


def test_behaviour_assumptions_are_present(v1):
    for key in (
        "loan.purchase_substitution",
        "carpool.substitution_share",
        "car.per_vehicle_km",
        "repair.displacement",
    ):
        assert v1.factor(key)


def test_a_missing_factor_names_the_version(v1):
    with pytest.raises(KeyError, match="v1"):
        v1.factor("footprint.spaceship")


def _write_v2(directory: Path) -> Path:
    """Copy v1 into `directory` as v2 with a different purchase-substitution assumption."""
    text = (FACTORS_DIR / "catalogue-v1.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    for row in rows:
        if row["key"] == "loan.purchase_substitution":
            row.update(value="0.40", low="0.20", high="0.60", note="v2: survey result")
    target = directory / "catalogue-v2.csv"
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return target


def test_a_new_version_is_a_new_file_loaded_by_path(tmp_path, v1):
    _write_v2(tmp_path)
    (tmp_path / "catalogue-v1.csv").write_bytes((FACTORS_DIR / "catalogue-v1.csv").read_bytes())
    assert available_versions(tmp_path) == ["v1", "v2"]
    v2 = load_catalogue("v2", path=tmp_path)
    assert v2.version == "v2"
    assert v2.value("loan.purchase_substitution") == Decimal("0.40")
    assert v2.value("footprint.drill") == v1.value("footprint.drill")
    assert v2.sha256 != v1.sha256


def test_a_file_path_names_its_own_version(tmp_path):
    assert load_catalogue(path=_write_v2(tmp_path)).version == "v2"


def test_versions_sort_numerically(tmp_path):
    for version in ("v10", "v2", "v1"):
        (tmp_path / f"catalogue-{version}.csv").write_text("")
    (tmp_path / "notes.csv").write_text("")
    assert available_versions(tmp_path) == ["v1", "v2", "v10"]


HEADER = "key,value,low,high,unit,scope,source,upstream,licence,proxy,proxy_note,note\n"


def test_a_factor_without_source_is_refused():
    with pytest.raises(ValueError, match="source"):
        parse_factors(HEADER + "x,1,1,1,kg,s,,,MIT,false,,\n")


def test_an_unordered_range_is_refused():
    with pytest.raises(ValueError, match="low <= value <= high"):
        parse_factors(HEADER + "x,1,2,3,kg,s,src,,MIT,false,,\n")


def test_a_duplicate_key_is_refused():
    row = "x,1,1,1,kg,s,src,,MIT,false,,\n"
    with pytest.raises(ValueError, match="duplicate"):
        parse_factors(HEADER + row + row)


def test_a_proxy_without_note_is_refused():
    with pytest.raises(ValueError, match="proxy"):
        parse_factors(HEADER + "x,1,1,1,kg,s,src,,MIT,true,,\n")


def test_range_arithmetic_is_bound_wise():
    a = Range(Decimal(1), Decimal(2), Decimal(3))
    assert a + a == Range(Decimal(2), Decimal(4), Decimal(6))
    assert a * a == Range(Decimal(1), Decimal(4), Decimal(9))
    assert 2 * a == Range(Decimal(2), Decimal(4), Decimal(6))
    with pytest.raises(ValueError):
        Range(Decimal(2), Decimal(1), Decimal(3))


# --- faithfulness to the open data the catalogue was built from --------------------------------


def _shared_factors_dir() -> Path:
    root = Path(os.environ.get("SHARITORIES_SHARED", REPO.parent / "shared"))
    directory = root / "impact-factors"
    if not directory.is_dir():
        pytest.skip(f"open impact-factor data not found at {directory} (set SHARITORIES_SHARED)")
    return directory


def _csv_rows(path: Path, key_column: str) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return {row[key_column]: row for row in csv.DictReader(f)}


CURATED = {  # catalogue key -> curated_factors.csv key
    "car.per_vehicle_km": "car_thermal_per_vehicle_km",
    "carpool.substitution_share": "carpool_short_substitution",
    "repair.displacement": "repair_displacement",
    "footprint.drill": "power_tool",
    "footprint.bike": "bike_embodied_ngc",
    "footprint.vacuum_cleaner": "vacuum",
    "footprint.furniture": "furniture_generic_restarters",
    "material.steel_per_kg": "steel_per_kg",
    "ratio.unpowered_per_kg": "repair_ratio_unpowered",
}

LIFECYCLE = {  # catalogue key -> impactco2_objects_lifecycle.csv slug (manufacture column)
    "footprint.vacuum_cleaner": "aspirateur",
    "footprint.camera": "smartphone",
    "footprint.electronics_other": "tabletteclassique",
}


def test_catalogue_matches_the_curated_table(v1):
    curated = _csv_rows(_shared_factors_dir() / "curated_factors.csv", "key")
    for ours, theirs in CURATED.items():
        assert v1.value(ours) == Decimal(curated[theirs]["value"]), ours


def test_catalogue_matches_the_impactco2_lifecycle_table(v1):
    rows = _csv_rows(_shared_factors_dir() / "impactco2_objects_lifecycle.csv", "slug")
    for ours, slug in LIFECYCLE.items():
        assert v1.value(ours) == Decimal(rows[slug]["manufacture_kgco2e"]), ours


def test_catalogue_matches_nos_gestes_climat_rules(v1):
    text = (_shared_factors_dir() / "nosgestesclimat" / "logement__extérieur.publicodes").read_text(
        encoding="utf-8"
    )

    def rule(name: str) -> Decimal:
        found = re.search(rf"^logement \. extérieur \. {name}:\n  formule: ([\d.]+)$", text, re.M)
        assert found, name
        return Decimal(found.group(1))

    mower = v1.range("footprint.lawn_mower")
    assert mower.low == rule("empreinte tondeuse électrique")
    assert mower.high == rule("empreinte tondeuse thermique")
    assert v1.value("material.steel_per_kg") == rule("facteur acier")
