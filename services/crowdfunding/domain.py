"""Rules of local crowdfunding: campaigns, pledges, matchfunding and settlement. No I/O.

Money is integer cents. The one rounding rule is the platform's (libs.common.money):
`apply_rate` rounds half away from zero. The commission is computed ONCE, on the settled
total (captured pledges + released match), never per pledge, so that
`commission + net == total` exactly and nobody loses a cent to per-line rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from libs.common.money import apply_rate
from libs.common.rules import InputRefused, StateRefused
from libs.common.taxonomy import CAMPAIGN_CATEGORIES

# --- campaigns -------------------------------------------------------------------------

DRAFT, SUBMITTED, APPROVED, REJECTED = "draft", "submitted", "approved", "rejected"
LIVE, SETTLING, SUCCEEDED, FAILED, PAID_OUT = "live", "settling", "succeeded", "failed", "paid_out"

CAMPAIGN_TRANSITIONS: dict[str, frozenset[str]] = {
    DRAFT: frozenset({SUBMITTED}),
    SUBMITTED: frozenset({APPROVED, REJECTED}),
    REJECTED: frozenset({DRAFT}),  # the holder may fix the draft and submit it again
    APPROVED: frozenset({LIVE}),
    LIVE: frozenset({SETTLING}),
    SETTLING: frozenset({SUCCEEDED, FAILED}),
    SUCCEEDED: frozenset({PAID_OUT}),
    FAILED: frozenset(),
    PAID_OUT: frozenset(),
}

CATEGORIES = frozenset(CAMPAIGN_CATEGORIES)
MIN_DURATION_DAYS, MAX_DURATION_DAYS = 20, 90
MIN_GOAL_CENTS, MAX_GOAL_CENTS = 100_00, 500_000_00
CANCEL_NOTICE = timedelta(hours=24)

DEFAULT_COMMISSION_RATE = Decimal("0.05")
MAX_COMMISSION_RATE = Decimal("0.10")


def ensure_transition(current: str, target: str) -> None:
    """Refuse (409) a campaign transition the lifecycle does not allow."""
    if target not in CAMPAIGN_TRANSITIONS.get(current, frozenset()):
        raise StateRefused(
            f"A campaign that is {current} cannot become {target}.",
            state=current,
            code="campaigns.wrong_state",
            params={"state": current, "target": target},
        )


@dataclass(frozen=True)
class CampaignDraft:
    """What a reviewer looks at."""

    holder_kind: str
    holder_verified: bool
    category: str
    goal_cents: int
    duration_days: int
    reward_minimums_cents: tuple[int, ...] = ()


@dataclass(frozen=True)
class Review:
    approved: bool
    checks: dict[str, bool]
    reasons: list[str] = field(default_factory=list)


def review(draft: CampaignDraft) -> Review:
    """Check a submitted campaign against the criteria fixed in advance."""
    reasons: list[str] = []
    eligible = draft.category in CATEGORIES and (
        draft.holder_kind in ("organisation", "staff") or draft.holder_verified
    )
    if draft.category not in CATEGORIES:
        reasons.append(f"eligibility: category {draft.category!r} is not one the city funds")
    elif not eligible:
        reasons.append("eligibility: the holder is not a verified resident or an organisation")
    coherent = MIN_GOAL_CENTS <= draft.goal_cents <= MAX_GOAL_CENTS and all(
        0 < m <= draft.goal_cents for m in draft.reward_minimums_cents
    )
    if not coherent:
        reasons.append(
            f"amount: the goal must be between {MIN_GOAL_CENTS // 100} and "
            f"{MAX_GOAL_CENTS // 100} euros, and no reward may cost more than the goal"
        )
    duration_ok = MIN_DURATION_DAYS <= draft.duration_days <= MAX_DURATION_DAYS
    if not duration_ok:
        reasons.append(
            f"duration: {draft.duration_days} days is outside "
            f"{MIN_DURATION_DAYS}–{MAX_DURATION_DAYS} days"
        )
    checks = {"eligibility": eligible, "coherent_amount": coherent, "duration": duration_ok}
    return Review(approved=all(checks.values()), checks=checks, reasons=reasons)


def deadline_for(launched_at: datetime, duration_days: int) -> datetime:
    """The deadline is fixed at launch: launch instant + duration (timezone-aware)."""
    require_aware(launched_at)
    return launched_at + timedelta(days=duration_days)


def require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment


def ensure_pledging_open(*, state: str, now: datetime, deadline: datetime | None) -> None:
    if state != LIVE:
        raise StateRefused(
            f"This campaign is {state}: it does not take pledges.",
            state=state,
            code="pledges.campaign_not_live",
            params={"state": state},
        )
    if deadline is None or now >= deadline:
        raise StateRefused(
            "The deadline has passed: pledges are closed.", state=state, code="pledges.closed"
        )


def ensure_cancellable(*, now: datetime, deadline: datetime) -> None:
    if now > deadline - CANCEL_NOTICE:
        raise StateRefused(
            "Pledges can be cancelled only until 24 hours before the deadline.",
            code="pledges.cancel_too_late",
            params={"hours": 24},
        )


def parse_rate(text: str | Decimal, *, field_name: str = "body.rate") -> Decimal:
    """A commission rate: a decimal between 0 and 0.10 inclusive."""
    try:
        rate = Decimal(str(text))
    except InvalidOperation as exc:
        raise InputRefused(
            "The rate must be a decimal such as 0.05.", field=field_name, code="pools.rate_invalid"
        ) from exc
    if not rate.is_finite() or not Decimal(0) <= rate <= MAX_COMMISSION_RATE:
        raise InputRefused(
            "The commission rate must be between 0 and 0.10.",
            field=field_name,
            code="pools.rate_invalid",
        )
    return rate


# --- pledges ---------------------------------------------------------------------------

PENDING, ACTIVE, CANCELLED, DECLINED = "pending", "active", "cancelled", "declined"
CAPTURED, CAPTURE_FAILED, VOIDED, REFUNDED = "captured", "capture_failed", "voided", "refunded"
AWAITING_ACTION = "awaiting_action"  # the bank wants the backer to authenticate (3-D Secure)

# Pledge statuses only move forward: a late or duplicate message can never undo a step.
PLEDGE_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({AWAITING_ACTION, ACTIVE, DECLINED, CANCELLED, VOIDED}),
    AWAITING_ACTION: frozenset({ACTIVE, DECLINED, CANCELLED, VOIDED}),
    ACTIVE: frozenset({CANCELLED, CAPTURED, CAPTURE_FAILED, VOIDED, REFUNDED}),
    CAPTURED: frozenset({REFUNDED}),
    DECLINED: frozenset(),
    CANCELLED: frozenset(),
    CAPTURE_FAILED: frozenset(),
    VOIDED: frozenset(),
    REFUNDED: frozenset(),
}
# Outcomes after which the reserved match goes back to the pool and the reward to stock.
# REFUNDED belongs here: a desk pledge of a failed campaign ends refunded, and its match
# (still reserved) and its reward unit must come back like a voided card's.
RELEASING = frozenset({DECLINED, CANCELLED, CAPTURE_FAILED, VOIDED, REFUNDED})


# Not yet authorised, not yet refused: the card's answer (or the backer's 3-D Secure) is due.
UNCONFIRMED = frozenset({PENDING, AWAITING_ACTION})
# Still in the campaign: settlement captures, voids or refunds each of them once.
OPEN = UNCONFIRMED | {ACTIVE}


def pledge_sources(target: str) -> frozenset[str]:
    """The statuses from which a pledge may move to `target`."""
    return frozenset(s for s, nexts in PLEDGE_TRANSITIONS.items() if target in nexts)


def release_on_settlement(*, channel: str) -> str:
    """What happens to an open pledge of a failed campaign."""
    return REFUNDED if channel == "desk" else VOIDED


# --- matchfunding ----------------------------------------------------------------------


def parse_factor(text: str | Decimal, *, field_name: str = "body.match_factor") -> Decimal:
    try:
        factor = Decimal(str(text))
    except InvalidOperation as exc:
        raise InputRefused(
            "The match factor must be a decimal such as 1 or 0.5.",
            field=field_name,
            code="pools.factor_invalid",
        ) from exc
    if not factor.is_finite() or not Decimal(0) < factor <= Decimal(10):
        raise InputRefused(
            "The match factor must be above 0 and at most 10.",
            field=field_name,
            code="pools.factor_invalid",
        )
    return factor


def match_wanted(amount_cents: int, *, factor: Decimal, cap_per_pledge_cents: int | None) -> int:
    """The match a pledge asks of a pool, before the pool's, project's and backer's caps."""
    wanted = apply_rate(amount_cents, factor)
    if cap_per_pledge_cents is not None:
        wanted = min(wanted, cap_per_pledge_cents)
    return max(wanted, 0)


# --- settlement ------------------------------------------------------------------------


def campaign_reaches_goal(*, goal_cents: int, pledged_cents: int, matched_cents: int) -> bool:
    """Decided at the deadline on authorised pledges; matched money counts toward the goal."""
    return pledged_cents + matched_cents >= goal_cents


def ready_to_decide(
    *, now: datetime, deadline: datetime, unconfirmed: int, grace: timedelta
) -> bool:
    """May settlement decide the outcome now?

    A pledge made just before the deadline may still be waiting for its card's answer (the
    call is in flight) or for its backer's 3-D Secure step. It belongs to the campaign, so
    the decision waits for it, but never longer than `grace` after the deadline: then the
    unconfirmed pledges are left out and their authorisations cancelled.
    """
    return unconfirmed == 0 or now >= deadline + grace


# What the platform's commission is taken on. The default is the backers' money alone:
# the city's match is public money granted to the project, not a payment the platform
# processes (no card, no provider fee), and a backer told "your euro is doubled" should
# see the match reach the project whole. A city that wants the platform paid on the
# whole total chooses raised_plus_match (the rule before this setting existed).
RAISED, RAISED_PLUS_MATCH = "raised", "raised_plus_match"
COMMISSION_BASES = frozenset({RAISED, RAISED_PLUS_MATCH})
DEFAULT_COMMISSION_BASE = RAISED


@dataclass(frozen=True)
class Settlement:
    raised_cents: int
    matched_cents: int
    total_cents: int
    commission_rate: Decimal
    commission_base: str
    commission_base_cents: int
    commission_cents: int
    net_cents: int


def commission_base_cents(*, raised_cents: int, matched_cents: int, base: str) -> int:
    if base not in COMMISSION_BASES:
        raise ValueError(f"unknown commission base {base!r}")
    return raised_cents if base == RAISED else raised_cents + matched_cents


def settle(*, raised_cents: int, matched_cents: int, rate: Decimal, base: str) -> Settlement:
    """Figures of a succeeded campaign: one commission on its base, one rounding.

    The holder receives the whole total (raised + match) less the commission.
    """
    total = raised_cents + matched_cents
    basis = commission_base_cents(raised_cents=raised_cents, matched_cents=matched_cents, base=base)
    commission = apply_rate(basis, rate)
    return Settlement(
        raised_cents=raised_cents,
        matched_cents=matched_cents,
        total_cents=total,
        commission_rate=rate,
        commission_base=base,
        commission_base_cents=basis,
        commission_cents=commission,
        net_cents=total - commission,
    )


# --- citizen energy units --------------------------------------------------------------
# A campaign of kind "energy" sells units (parts) of a local renewable installation, as
# HilverZon sells solar panels by the unit. The yearly return is an ESTIMATE the holder
# states (what production and the buy-back price may give), never a promise.

STANDARD, ENERGY, SOUP = "standard", "energy", "soup"
KINDS = frozenset({STANDARD, ENERGY, SOUP})
TECHNOLOGIES = frozenset({"solar_pv", "wind", "hydro", "biomass_heat"})
ENERGY_CATEGORY = "environment"
MAX_KWH_PER_MONTH = Decimal(1_000_000_000)
MAX_CSV_ROWS = 600  # fifty years of months


def energy_goal_cents(*, unit_price_cents: int, units: int) -> int:
    """What the installation costs the citizens: every unit sold at its price."""
    if unit_price_cents <= 0 or units <= 0:
        raise InputRefused(
            "A unit has a positive price and there is at least one unit.",
            field="body.units",
            code="energy.units_invalid",
        )
    return unit_price_cents * units


# What the energy rules own: the goal is units x unit price, and the units are the stock and
# minimum of the campaign's reward. The generic edits would let them drift apart.
ENERGY_CAMPAIGN_FIELDS = ("goal_cents",)
ENERGY_REWARD_FIELDS = ("min_cents", "stock")


def ensure_generic_edit(*, kind: str, changes: dict, owned: tuple[str, ...]) -> None:
    """Refuse, on an energy campaign, a generic edit of a field the energy rules own."""
    if kind != ENERGY:
        return
    for name in owned:
        if name in changes:
            raise InputRefused(
                f"An energy campaign's {name} follows from its units and unit price;"
                " it is not edited on its own.",
                field=f"body.{name}",
                code="campaigns.energy_fields_via_energy_route",
                params={"field": name},
            )


def ensure_reward_addable(*, kind: str) -> None:
    """Refuse a reward added by hand to an energy campaign: its one reward IS its units."""
    if kind == ENERGY:
        raise StateRefused(
            "An energy campaign sells its units as its one reward; no other reward is added.",
            state=kind,
            code="rewards.energy_units_only",
        )


def parse_month(text: str, *, field_name: str = "month") -> date:
    """`YYYY-MM` (or `YYYY-MM-01`) -> the first day of that month."""
    text = (text or "").strip()
    parts = text.split("-")
    ok = len(parts) in (2, 3) and all(p.isdigit() for p in parts)
    if ok and len(parts) == 3 and parts[2] != "01":
        ok = False
    try:
        month = date(int(parts[0]), int(parts[1]), 1) if ok and len(parts[0]) == 4 else None
    except ValueError:
        month = None
    if month is None or not 2000 <= month.year <= 2100:
        raise InputRefused(
            f"{text!r} is not a month such as 2026-03.",
            field=field_name,
            code="energy.month_invalid",
            params={"value": text[:20]},
        )
    return month


def ensure_past_month(month: date, *, today: date, field_name: str = "month") -> None:
    """Production is recorded for a month that has begun, never ahead."""
    if month > today.replace(day=1):
        raise InputRefused(
            "Production cannot be recorded for a month that has not begun.",
            field=field_name,
            code="energy.month_future",
            params={"month": month.strftime("%Y-%m")},
        )


def kwh_to_wh(value: str | Decimal, *, field_name: str = "body.kwh") -> int:
    """kWh as typed (a dot or a comma, at most 3 decimals) -> whole watt-hours."""
    try:
        kwh = Decimal(str(value).strip().replace(",", ".").replace(" ", "").replace("\u202f", ""))
    except InvalidOperation:
        kwh = None
    if kwh is None or not kwh.is_finite() or kwh < 0 or kwh > MAX_KWH_PER_MONTH:
        raise InputRefused(
            "kWh is a number of at least 0, such as 1234.5.",
            field=field_name,
            code="energy.kwh_invalid",
            params={"value": str(value)[:20]},
        )
    wh = kwh * 1000
    if wh != wh.to_integral_value():
        raise InputRefused(
            "kWh has at most 3 decimals (whole watt-hours).",
            field=field_name,
            code="energy.kwh_invalid",
            params={"value": str(value)[:20]},
        )
    return int(wh)


def _csv_problem(row: int, column: str, *, code: str = "energy.csv_row_invalid") -> InputRefused:
    return InputRefused(
        f"Row {row}: the {column} is not valid.",
        field="body.csv",
        code=code,
        params={"row": row, "field": column},
    )


def parse_production_csv(text: str, *, today: date) -> list[tuple[date, int]]:
    """Monthly production as a meter or a spreadsheet exports it: a `month,kwh` header then
    one row per month. `;` separators (with decimal commas) are read too, as French
    spreadsheets write them. The first bad row is named with its line number and column;
    a month twice in one file is refused rather than guessed."""
    lines = (text or "").lstrip("\ufeff").splitlines()
    numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise InputRefused("The file is empty.", field="body.csv", code="energy.csv_empty")
    header_line, header = numbered[0]
    sep = ";" if ";" in header else ","
    columns = [c.strip().lower() for c in header.split(sep)]
    if columns != ["month", "kwh"]:
        raise InputRefused(
            "The first line must be the header month,kwh.",
            field="body.csv",
            code="energy.csv_header",
            params={"row": header_line},
        )
    if len(numbered) - 1 > MAX_CSV_ROWS:
        raise InputRefused(
            f"At most {MAX_CSV_ROWS} months per file.",
            field="body.csv",
            code="energy.csv_too_long",
            params={"max": MAX_CSV_ROWS},
        )
    seen: dict[date, int] = {}
    out: list[tuple[date, int]] = []
    for n, line in numbered[1:]:
        cells = [c.strip().strip('"') for c in line.split(sep)]
        if len(cells) != 2:
            raise _csv_problem(n, "kwh" if len(cells) < 2 else "row")
        try:
            month = parse_month(cells[0])
            ensure_past_month(month, today=today)
        except InputRefused:
            raise _csv_problem(n, "month") from None
        if month in seen:
            raise _csv_problem(n, "month", code="energy.csv_duplicate_month")
        try:
            wh = kwh_to_wh(cells[1])
        except InputRefused:
            raise _csv_problem(n, "kwh") from None
        seen[month] = n
        out.append((month, wh))
    if not out:
        raise InputRefused("The file has no month.", field="body.csv", code="energy.csv_empty")
    return out


# --- the Soup evening ------------------------------------------------------------------
# Diners pay an entry fee into the evening's pot (a campaign of kind "soup", opened live by
# staff) and vote (a budget edition of kind "soup"); the pot goes to the project chosen.

SOUP_CATEGORY = "solidarity"
SOUP_GOAL_CENTS = 1  # any pot succeeds: all the fees go to the winner, less the commission
MAX_SOUP_HOURS = 24


def soup_winner(selected: list) -> object | None:
    """The one project the vote selected (single choice, one winner), if any."""
    return selected[0] if selected else None
