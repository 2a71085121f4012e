"""Impact indicators: definitions and the pure arithmetic from aggregated counts to values.

Nothing here reads a database or a clock. Callers aggregate events into counts; these functions
turn counts into indicator values. Estimates are `Range`s (low / central / high) in exact
Decimal, rounded only at presentation (`present_estimate`); money is integer euro cents, rounded
once on the total with the platform rule (`libs.common.money.round_cents`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from libs.common.money import Cents, round_cents  # the platform's one money-rounding rule
from services.impact.catalogue import ITEM_CATEGORIES, Catalogue, Range

Family = Literal["participation", "exchange", "money", "environment", "delivery"]

SMALL_CELL_K = 5  # below 5 contributors a cell can point at a household; suppress it
PRESENTATION_SIGNIFICANT_FIGURES = 2  # our factors are not better than ±10 %; show no more


# --- definitions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorDefinition:
    """What an indicator means, in which unit, and which catalogue factors it uses."""

    key: str
    family: Family
    definition: str
    unit: str
    factor_keys: tuple[str, ...] = ()  # "<category>" stands for every item category
    breakdown: str | None = None  # dimension of the per-group cells, if any
    small_cells: bool = False  # per-group cells go through the suppression pass (disclosure)
    # What the report engine reads for it (engine.PARTS): a series of one indicator reads
    # only that.
    needs: frozenset[str] = frozenset({"sums"})
    # Derived from what identifiable members did: a neighbourhood's report over fewer than
    # k active members hides it.
    member_derived: bool = False


SUMS = frozenset({"sums"})
MEMBERS = frozenset({"members"})
PEOPLE = frozenset({"sums", "people"})
EDITIONS = frozenset({"editions"})


def _define(*definitions: IndicatorDefinition) -> dict[str, IndicatorDefinition]:
    return {d.key: d for d in definitions}


GRID_FACTOR = "electricity.grid_average"
_LOAN_CO2 = ("footprint.<category>", "loan.purchase_substitution")
_CARPOOL = ("car.per_vehicle_km", "carpool.substitution_share")
_REPAIR = ("footprint.<category>", "repair.displacement")

INDICATORS: dict[str, IndicatorDefinition] = _define(
    # participation
    IndicatorDefinition(
        "participation.active_members",
        "participation",
        "Members who did at least one thing in the period: lent, borrowed, gave or received "
        "a service, backed a campaign, proposed or supported in the participatory budget, "
        "commented.",
        "people",
        breakdown="neighbourhood",
        small_cells=True,
        needs=MEMBERS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "participation.share_of_residents",
        "participation",
        "Active members divided by the number of residents of the territory (INSEE/official "
        "population supplied by the city).",
        "fraction",
        needs=MEMBERS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "participation.new_members",
        "participation",
        "Members who joined during the period.",
        "people",
        breakdown="neighbourhood",
        small_cells=True,
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "participation.member_profiles",
        "participation",
        "Members by profile: resident, organisation (association, shop, business), staff.",
        "people",
        breakdown="profile",
        small_cells=True,
        needs=frozenset({"profiles"}),
        member_derived=True,
    ),
    IndicatorDefinition(
        "participation.pb_turnout",
        "participation",
        "Participatory-budget voters (online and at the town hall) divided by eligible residents, "
        "per edition.",
        "fraction",
        breakdown="edition",
        needs=EDITIONS,
    ),
    IndicatorDefinition(
        "participation.pb_proposals",
        "participation",
        "Participatory-budget proposals submitted, online or at the town hall, per edition.",
        "proposals",
        breakdown="edition",
        needs=EDITIONS,
    ),
    IndicatorDefinition(
        "participation.pb_supports",
        "participation",
        "Supports given to proposals during the pre-selection phase, per edition.",
        "supports",
        breakdown="edition",
        needs=EDITIONS,
    ),
    IndicatorDefinition(
        "participation.contributions",
        "participation",
        "Comments posted on proposals and campaigns during the period (replies included), minus "
        "those a moderator hid (a restored comment counts again), by the comment's "
        "neighbourhood; the people behind a cell are its distinct authors.",
        "contributions",
        breakdown="neighbourhood",
        small_cells=True,
        needs=frozenset({"contributions"}),
        member_derived=True,
    ),
    # exchange
    IndicatorDefinition(
        "exchange.loans_by_category",
        "exchange",
        "Loans returned during the period, by item category.",
        "loans",
        breakdown="category",
        small_cells=True,
        needs=PEOPLE,
        member_derived=True,
    ),
    IndicatorDefinition(
        "exchange.days_lent",
        "exchange",
        "Sum over returned loans of the days the item was out, pick-up to return.",
        "days",
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "exchange.services_by_kind",
        "exchange",
        "Services completed, by kind (repair, gardening, carpool, help at home, cooking, "
        "tutoring, group purchase).",
        "services",
        breakdown="kind",
        small_cells=True,
        needs=PEOPLE,
        member_derived=True,
    ),
    IndicatorDefinition(
        "exchange.time_credit_minutes",
        "exchange",
        "Time-credit minutes transferred for services and paper slips, net of corrections.",
        "minutes",
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "exchange.carpool_passenger_km",
        "exchange",
        "Sum over completed carpool services of route km x passengers carried.",
        "passenger-km",
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "exchange.median_request_to_match",
        "exchange",
        "Median time from a loan request to its acceptance, over accepted requests.",
        "hours",
        needs=frozenset({"waits"}),
        member_derived=True,
    ),
    IndicatorDefinition(
        "exchange.share_of_requests_met",
        "exchange",
        "Loan requests accepted divided by loan requests made.",
        "fraction",
        needs=frozenset({"loans"}),
        member_derived=True,
    ),
    IndicatorDefinition(
        "exchange.idle_items",
        "exchange",
        "Items listed during the whole period that were never lent in it.",
        "items",
        needs=frozenset({"idle"}),
        member_derived=True,
    ),
    # money
    IndicatorDefinition(
        "money.raised",
        "money",
        "Pledges collected by crowdfunding campaigns that succeeded (refunded pledges excluded).",
        "EUR_cent",
        needs=frozenset({"sums", "refunds"}),
    ),
    IndicatorDefinition(
        "money.matched",
        "money",
        "Matchfunding added by the city to successful campaigns.",
        "EUR_cent",
        needs=SUMS,
    ),
    IndicatorDefinition(
        "money.commission",
        "money",
        "Platform commission taken on successful campaigns (nothing on failed ones).",
        "EUR_cent",
        needs=SUMS,
    ),
    IndicatorDefinition(
        "money.campaigns_succeeded",
        "money",
        "Campaigns that reached or exceeded their goal.",
        "campaigns",
        needs=SUMS,
    ),
    IndicatorDefinition(
        "money.campaign_success_rate",
        "money",
        "Campaigns that reached their goal divided by campaigns closed in the period.",
        "fraction",
        needs=SUMS,
    ),
    IndicatorDefinition(
        "money.backers_by_neighbourhood",
        "money",
        "Distinct backers of campaigns, by the backer's neighbourhood.",
        "people",
        breakdown="neighbourhood",
        small_cells=True,
        needs=frozenset({"people"}),
        member_derived=True,
    ),
    IndicatorDefinition(
        "money.saved_by_borrowers",
        "money",
        "Purchases avoided by borrowers: loans x share of loans replacing a purchase x typical "
        "new price of the item.",
        "EUR_cent",
        factor_keys=("price.<category>", "loan.purchase_substitution"),
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "money.pb_envelope_allocated",
        "money",
        "Cost of the projects selected by the participatory-budget vote, per edition.",
        "EUR_cent",
        breakdown="edition",
        needs=EDITIONS,
    ),
    IndicatorDefinition(
        "money.pb_envelope_leftover",
        "money",
        "Participatory-budget envelope minus the cost of the selected projects, per edition.",
        "EUR_cent",
        breakdown="edition",
        needs=EDITIONS,
    ),
    IndicatorDefinition(
        "money.pb_delivered",
        "money",
        "Cost of the selected projects reported as delivered, per edition.",
        "EUR_cent",
        breakdown="edition",
        needs=EDITIONS,
    ),
    # environment
    IndicatorDefinition(
        "environment.co2e_avoided_by_loans",
        "environment",
        "Manufacturing emissions of new items not bought because a loan replaced the purchase: "
        "sum over categories of loans x footprint x purchase-substitution share.",
        "kgCO2e",
        factor_keys=_LOAN_CO2,
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "environment.co2e_avoided_by_carpool",
        "environment",
        "Emissions of solo car trips avoided by carpool passengers: passenger-km x share who "
        "would have driven alone x car emissions per vehicle-km.",
        "kgCO2e",
        factor_keys=_CARPOOL,
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "environment.co2e_avoided_by_repairs",
        "environment",
        "Manufacturing emissions displaced by repairs: repairs x footprint of the repaired item "
        "category x displacement share (Restart Project method).",
        "kgCO2e",
        factor_keys=_REPAIR,
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "environment.co2e_avoided",
        "environment",
        "Sum of the CO2e avoided by loans, carpooling and repairs.",
        "kgCO2e",
        factor_keys=tuple(dict.fromkeys(_LOAN_CO2 + _CARPOOL + _REPAIR)),
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "environment.waste_avoided",
        "environment",
        "Mass of items kept out of the waste stream: loans x purchase-substitution share x item "
        "mass, plus repairs x item mass.",
        "kg",
        factor_keys=("mass.<category>", "loan.purchase_substitution"),
        needs=SUMS,
        member_derived=True,
    ),
    IndicatorDefinition(
        "environment.energy_produced",
        "environment",
        "Electricity produced by citizen energy installations (campaigns selling energy units), "
        "by neighbourhood, over the months wholly inside the period; a figure recorded again "
        "for the same installation and month replaces the earlier one.",
        "kWh",
        breakdown="neighbourhood",
        needs=frozenset({"energy"}),
    ),
    IndicatorDefinition(
        "environment.co2e_avoided_by_energy",
        "environment",
        "Emissions of the grid electricity that the local production stands in for: kWh "
        "produced x average carbon intensity of the grid (gross: the installations' own "
        "manufacture is not subtracted).",
        "kgCO2e",
        factor_keys=(GRID_FACTOR,),
        breakdown="neighbourhood",
        needs=frozenset({"energy"}),
    ),
    # delivery
    IndicatorDefinition(
        "delivery.pb_projects_selected",
        "delivery",
        "Participatory-budget projects selected by the final vote, per edition.",
        "projects",
        breakdown="edition",
        needs=EDITIONS,
    ),
    IndicatorDefinition(
        "delivery.pb_projects_delivered",
        "delivery",
        "Selected projects the city reports as delivered, per edition.",
        "projects",
        breakdown="edition",
        needs=EDITIONS,
    ),
    IndicatorDefinition(
        "delivery.pb_delivery_rate",
        "delivery",
        "Projects delivered divided by projects selected, per edition.",
        "fraction",
        breakdown="edition",
        needs=EDITIONS,
    ),
)


def factor_keys_of(definition: IndicatorDefinition) -> list[str]:
    """The catalogue keys an indicator uses, with "<category>" expanded to every category."""
    keys: list[str] = []
    for key in definition.factor_keys:
        if "<category>" in key:
            keys.extend(key.replace("<category>", c) for c in ITEM_CATEGORIES)
        else:
            keys.append(key)
    return keys


# --- environment and money estimates ------------------------------------------------------------


@dataclass(frozen=True)
class CentsRange:
    """A low / central / high amount of money in integer euro cents."""

    low: Cents
    central: Cents
    high: Cents


def co2e_avoided_by_loans(loans_by_category: Mapping[str, int], catalogue: Catalogue) -> Range:
    """kgCO2e of new items not manufactured because loans replaced purchases."""
    footprints = _per_category(loans_by_category, "footprint", catalogue)
    return footprints * catalogue.range("loan.purchase_substitution")


def car_km_avoided_by_carpool(passenger_km: Decimal | int, catalogue: Catalogue) -> Range:
    """Solo car vehicle-km avoided: passengers who would otherwise have driven alone."""
    return Range.exact(_non_negative(passenger_km)) * catalogue.range("carpool.substitution_share")


def co2e_avoided_by_carpool(passenger_km: Decimal | int, catalogue: Catalogue) -> Range:
    """kgCO2e of the solo car trips avoided by carpool passengers."""
    return car_km_avoided_by_carpool(passenger_km, catalogue) * catalogue.range(
        "car.per_vehicle_km"
    )


def repair_avoided_per_item(category: str, catalogue: Catalogue) -> Range:
    """kgCO2e displaced by one successful repair of an item of `category`."""
    footprint = catalogue.range(f"footprint.{_known(category)}")
    return footprint * catalogue.range("repair.displacement")


def co2e_avoided_by_repairs(repairs_by_category: Mapping[str, int], catalogue: Catalogue) -> Range:
    """kgCO2e of new products displaced by successful repairs."""
    footprints = _per_category(repairs_by_category, "footprint", catalogue)
    return footprints * catalogue.range("repair.displacement")


def waste_avoided_by_loans(loans_by_category: Mapping[str, int], catalogue: Catalogue) -> Range:
    """kg of new items (future waste) not bought because loans replaced purchases."""
    masses = _per_category(loans_by_category, "mass", catalogue)
    return masses * catalogue.range("loan.purchase_substitution")


def waste_avoided_by_repairs(repairs_by_category: Mapping[str, int], catalogue: Catalogue) -> Range:
    """kg of repaired items kept out of the bin (Restart and Repair Cafe convention: full mass)."""
    return _per_category(repairs_by_category, "mass", catalogue)


def money_saved_by_borrowers(
    loans_by_category: Mapping[str, int], catalogue: Catalogue
) -> CentsRange:
    """Euro cents borrowers did not spend on purchases that loans replaced."""
    prices = _per_category(loans_by_category, "price", catalogue)
    saved = prices * catalogue.range("loan.purchase_substitution")
    return CentsRange(round_cents(saved.low), round_cents(saved.central), round_cents(saved.high))


def co2e_avoided_by_energy(wh: int, catalogue: Catalogue) -> Range | None:
    """kgCO2e of grid electricity stood in for by `wh` watt-hours produced locally; None
    when the catalogue has no grid factor (catalogues before v2)."""
    if GRID_FACTOR not in catalogue.factors:
        return None
    return Range.exact(Decimal(_non_negative(wh)) / 1000) * catalogue.range(GRID_FACTOR)


def total(ranges: Iterable[Range]) -> Range:
    """Sum of estimates, bound by bound (e.g. the CO2e of loans, carpool and repairs)."""
    result = Range.zero()
    for r in ranges:
        result += r
    return result


def carpool_passenger_km(trips: Iterable[tuple[Decimal | int | float, int]]) -> Decimal:
    """Sum of route km x passengers over carpool trips; floats go through str to stay exact."""
    result = Decimal(0)
    for km, passengers in trips:
        result += _non_negative(Decimal(str(km))) * _non_negative(passengers)
    return result


def _per_category(counts: Mapping[str, int], kind: str, catalogue: Catalogue) -> Range:
    result = Range.zero()
    for category, count in counts.items():
        result += _non_negative(count) * catalogue.range(f"{kind}.{_known(category)}")
    return result


def _known(category: str) -> str:
    # A category the catalogue does not know yet is counted as a generic "other" item
    # rather than dropped or crashing the city's report.
    return category if category in ITEM_CATEGORIES else "other"


def _non_negative(number: Decimal | int) -> Decimal:
    number = Decimal(number)
    if number < 0:
        raise ValueError(f"counts and distances cannot be negative: {number}")
    return number


# --- counts, rates and medians -------------------------------------------------------------------


def share(part: int, whole: int) -> Decimal | None:
    """`part` / `whole` as an exact Decimal fraction; None when `whole` is zero."""
    if part < 0 or whole < 0 or part > whole:
        raise ValueError(f"not a share: {part} / {whole}")
    return None if whole == 0 else Decimal(part) / Decimal(whole)


def share_of_residents(active_members: int, residents: int) -> Decimal | None:
    """Active members over residents of the territory."""
    return share(active_members, residents)


def pb_turnout(voters: int, eligible_residents: int) -> Decimal | None:
    """Participatory-budget voters over eligible residents."""
    return share(voters, eligible_residents)


def share_of_requests_met(accepted: int, requested: int) -> Decimal | None:
    """Loan requests accepted over loan requests made."""
    return share(accepted, requested)


def campaign_success_rate(succeeded: int, closed: int) -> Decimal | None:
    """Campaigns that reached their goal over campaigns closed."""
    return share(succeeded, closed)


def pb_delivery_rate(delivered: int, selected: int) -> Decimal | None:
    """Projects delivered over projects selected in one edition."""
    return share(delivered, selected)


def pb_envelope_leftover(envelope: Cents, allocated: Cents) -> Cents:
    """Envelope minus allocated cost; negative means the vote overspent the envelope."""
    return envelope - allocated


def idle_items(listed_item_ids: Iterable[str], lent_item_ids: Iterable[str]) -> int:
    """Items listed that were never lent."""
    return len(set(listed_item_ids) - set(lent_item_ids))


def median(values: Iterable[Decimal | int]) -> Decimal | None:
    """Median of the values (mean of the two middle ones when even); None when empty."""
    ordered = sorted(Decimal(v) for v in values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


# --- rounding ------------------------------------------------------------------------------------


def present_estimate(value: Decimal) -> Decimal:
    """The one presentation rule for kgCO2e and kg: two significant figures, half to even."""
    if value == 0:
        return Decimal(0)
    quantum = Decimal(1).scaleb(value.adjusted() - PRESENTATION_SIGNIFICANT_FIGURES + 1)
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN)


def present_percent(fraction: Decimal | None) -> Decimal | None:
    """A share as a percentage with one decimal, half to even; None stays "not applicable"."""
    if fraction is None:
        return None
    return (fraction * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def present_range(estimate: Range) -> Range:
    """A range rounded for presentation; rounding is monotonic, so the order is kept."""
    return Range(*(present_estimate(v) for v in (estimate.low, estimate.central, estimate.high)))
