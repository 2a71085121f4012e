"""The exchange's rules, without I/O: categories, the loan state machine, the time ledger.

Everything here is plain data and functions; the HTTP and database adapters call them and
turn their exceptions into problem documents (`LoanRuleBroken` → 403 or 409,
`LedgerRuleBroken` → 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

from libs.common.taxonomy import ITEM_CATEGORIES
from libs.common.taxonomy import MemberKind as MemberKind  # re-exported for the api

# The impact service maps each of these keys to an emission factor: never rename one.
CATEGORIES: tuple[str, ...] = ITEM_CATEGORIES
Category = Literal[ITEM_CATEGORIES]  # type: ignore[valid-type]
Condition = Literal["new", "good", "fair", "worn", "damaged"]


# ---------------------------------------------------------------------------- loans


class LoanState(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    PICKED_UP = "picked_up"
    OVERDUE = "overdue"
    DISPUTED = "disputed"
    RETURNED = "returned"


# A loan in one of these states holds the item: from its first day until it is checked in.
OCCUPYING: frozenset[LoanState] = frozenset(
    {LoanState.ACCEPTED, LoanState.PICKED_UP, LoanState.OVERDUE, LoanState.DISPUTED}
)
# After acceptance the parties may see each other's address and contact.
CONTACT_VISIBLE: frozenset[LoanState] = OCCUPYING | {LoanState.RETURNED}
FINAL: frozenset[LoanState] = frozenset(
    {LoanState.DECLINED, LoanState.CANCELLED, LoanState.RETURNED}
)

Party = Literal["lender", "borrower", "staff"]
Action = Literal["accept", "decline", "cancel", "pick_up", "mark_overdue", "dispute", "return"]


@dataclass(frozen=True)
class Move:
    """One allowed transition: from which states, to which, and who may make it."""

    sources: frozenset[LoanState]
    target: LoanState
    parties: frozenset[str]


S = LoanState
MOVES: dict[str, Move] = {
    "accept": Move(frozenset({S.REQUESTED}), S.ACCEPTED, frozenset({"lender"})),
    "decline": Move(frozenset({S.REQUESTED}), S.DECLINED, frozenset({"lender"})),
    # Staff may also close a disputed loan whose item never left (see next_state).
    "cancel": Move(
        frozenset({S.REQUESTED, S.ACCEPTED, S.DISPUTED}),
        S.CANCELLED,
        frozenset({"lender", "borrower", "staff"}),
    ),
    "pick_up": Move(frozenset({S.ACCEPTED}), S.PICKED_UP, frozenset({"lender", "borrower"})),
    "mark_overdue": Move(frozenset({S.PICKED_UP}), S.OVERDUE, frozenset({"lender", "staff"})),
    "dispute": Move(
        frozenset({S.ACCEPTED, S.PICKED_UP, S.OVERDUE}),
        S.DISPUTED,
        frozenset({"lender", "borrower", "staff"}),
    ),
    "return": Move(
        frozenset({S.PICKED_UP, S.OVERDUE, S.DISPUTED}), S.RETURNED, frozenset({"lender", "staff"})
    ),
}


class LoanRuleBroken(Exception):
    """A transition the rules refuse; `forbidden` → 403 (wrong person), else 409."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        params: dict | None = None,
        forbidden: bool = False,
    ) -> None:
        super().__init__(message)
        self.code, self.params = code, params or {}
        self.forbidden = forbidden


def parties_of(*, actor_id: str, lender_id: str, borrower_id: str, is_staff: bool) -> set[str]:
    parties: set[str] = set()
    if actor_id == lender_id:
        parties.add("lender")
    if actor_id == borrower_id:
        parties.add("borrower")
    if is_staff:
        parties.add("staff")
    return parties


def next_state(
    *,
    action: str,
    state: LoanState,
    parties: set[str],
    today: date,
    due_on: date,
    picked_up: bool,
) -> LoanState:
    """The state after `action`, or LoanRuleBroken saying why not."""
    move = MOVES.get(action)
    if move is None:
        raise LoanRuleBroken(f"Unknown action {action!r}.", code="loans.unknown_action")
    if not parties & move.parties:
        who = " or ".join(sorted(move.parties))
        raise LoanRuleBroken(
            f"Only the {who} may {action.replace('_', ' ')} this loan.",
            code="loans.not_your_move",
            params={"action": action},
            forbidden=True,
        )
    if state not in move.sources:
        raise LoanRuleBroken(
            f"A loan that is {state.value} cannot be {move.target.value}.",
            code="loans.wrong_state",
            params={"state": state.value, "action": action},
        )
    if action == "mark_overdue" and today <= due_on:
        raise LoanRuleBroken(
            f"The loan is due on {due_on.isoformat()}; it is not overdue yet.",
            code="loans.not_overdue",
            params={"due_on": due_on.isoformat()},
        )
    if action == "cancel" and state is S.DISPUTED:
        if "staff" not in parties:
            raise LoanRuleBroken(
                "Only staff may close a disputed loan.", code="loans.staff_closes", forbidden=True
            )
        if picked_up:
            raise LoanRuleBroken(
                "The item was picked up; the loan ends with its return.",
                code="loans.picked_up",
            )
    if action == "return" and state is S.DISPUTED and not picked_up:
        raise LoanRuleBroken(
            "The item was never picked up; it cannot be returned.", code="loans.never_picked_up"
        )
    return move.target


class PeriodInvalid(ValueError):
    """A loan period the rules refuse (a ValueError, with a stable code for clients)."""

    def __init__(self, message: str, *, code: str, params: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.params = code, params or {}


# ------------------------------------------------------------------------- ratings

RATEABLE: frozenset[LoanState] = frozenset(
    {LoanState.RETURNED, LoanState.DISPUTED, LoanState.OVERDUE}
)


def ratee_of(*, rater_id: str, parties: tuple[str, str], message: str) -> str:
    """The other party of a two-party exchange, whom `rater_id` rates."""
    first, second = parties
    if rater_id not in parties:
        raise LoanRuleBroken(message, code="ratings.not_party", forbidden=True)
    return second if rater_id == first else first


def check_rateable(state: LoanState) -> None:
    """A loan is rated once the item came back, or once it went wrong."""
    if state not in RATEABLE:
        raise LoanRuleBroken(
            f"A loan that is {state.value} cannot be rated yet.",
            code="ratings.too_early",
            params={"state": state.value},
        )


def check_request(
    *,
    borrower_id: str,
    owner_id: str,
    item_listed: bool,
    starts_on: date,
    due_on: date,
    max_loan_days: int,
    today: date,
) -> int:
    """Validate a loan request; returns the planned days (inclusive)."""
    if borrower_id == owner_id:
        raise LoanRuleBroken(
            "You cannot borrow your own item.", code="loans.own_item", forbidden=True
        )
    if not item_listed:
        raise LoanRuleBroken(
            "This item has been withdrawn; it cannot be borrowed.", code="loans.item_withdrawn"
        )
    if starts_on < today:
        raise PeriodInvalid("starts_on is in the past", code="loans.starts_in_past")
    if due_on < starts_on:
        raise PeriodInvalid("due_on is before starts_on", code="loans.due_before_start")
    days = loan_days(starts_on, due_on)
    if days > max_loan_days:
        raise PeriodInvalid(
            f"the owner lends this item for at most {max_loan_days} days",
            code="loans.too_long",
            params={"max_days": max_loan_days},
        )
    return days


def loan_days(starts_on: date, due_on: date) -> int:
    """Days of a loan period, both ends included."""
    return (due_on - starts_on).days + 1


def days_lent(picked_up_on: date, returned_on: date) -> int:
    """Days an item was actually out: at least one, both ends included."""
    return max(1, (returned_on - picked_up_on).days + 1)


# --------------------------------------------------------------------- time credits


@dataclass(frozen=True)
class Limits:
    """How far an account may go: balance stays within [-debit_limit, credit_limit]."""

    debit_limit: int
    credit_limit: int


DEFAULT_LIMITS = Limits(debit_limit=1200, credit_limit=6000)  # 20 h owed, 100 h held
ORGANISATION_LIMITS = Limits(debit_limit=6000, credit_limit=30000)


class LedgerRuleBroken(Exception):
    """A transfer the ledger refuses (limits, same account, non-positive amount)."""

    def __init__(self, message: str, *, code: str, params: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.params = code, params or {}


def check_transfer(
    *,
    minutes: int,
    source: str,
    target: str,
    balances: Mapping[str, int],
    limits: Mapping[str, Limits],
) -> tuple[int, int]:
    """The balances of (source, target) after moving `minutes`, or LedgerRuleBroken."""
    if minutes <= 0:
        raise LedgerRuleBroken(
            "A transfer moves a positive number of minutes.", code="credits.not_positive"
        )
    if source == target:
        raise LedgerRuleBroken("An account cannot pay itself.", code="credits.same_account")
    after_source = balances[source] - minutes
    after_target = balances[target] + minutes
    if after_source < -limits[source].debit_limit:
        raise LedgerRuleBroken(
            f"This transfer would take account {source} below its debit limit of "
            f"{limits[source].debit_limit} minutes (balance {balances[source]}).",
            code="credits.debit_limit",
            params={
                "limit_minutes": limits[source].debit_limit,
                "balance_minutes": balances[source],
                "minutes": minutes,
            },
        )
    if after_target > limits[target].credit_limit:
        raise LedgerRuleBroken(
            f"This transfer would take account {target} above its credit limit of "
            f"{limits[target].credit_limit} minutes (balance {balances[target]}).",
            code="credits.credit_limit",
            params={
                "limit_minutes": limits[target].credit_limit,
                "balance_minutes": balances[target],
                "minutes": minutes,
            },
        )
    return after_source, after_target


def check_limits(*, balance: int, limits: Limits) -> None:
    """New limits may not leave out the balance the account already has."""
    if balance < -limits.debit_limit or balance > limits.credit_limit:
        raise LedgerRuleBroken(
            f"The balance ({balance} minutes) is outside these limits.",
            code="credits.balance_outside_limits",
            params={"balance_minutes": balance},
        )


class Ledger:
    """An in-memory double-entry ledger: the reference model of the database one."""

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}
        self.limits: dict[str, Limits] = {}
        self.entries: list[tuple[str, str, int]] = []  # (transfer, account, signed minutes)

    def open(self, account: str, limits: Limits = DEFAULT_LIMITS) -> None:
        self.balances.setdefault(account, 0)
        self.limits[account] = limits

    def transfer(self, transfer_id: str, source: str, target: str, minutes: int) -> None:
        after_source, after_target = check_transfer(
            minutes=minutes,
            source=source,
            target=target,
            balances=self.balances,
            limits=self.limits,
        )
        self.balances[source] = after_source
        self.balances[target] = after_target
        self.entries += [(transfer_id, source, -minutes), (transfer_id, target, minutes)]


# --------------------------------------------------------------------- reservations

# A loan still out after its due day keeps the item until it is checked in; a future
# booking overlapping it waits for that return (the database constraint only knows the
# planned periods, so that part of the rule is checked by the application).
OPEN_ENDED: frozenset[LoanState] = frozenset({LoanState.OVERDUE, LoanState.DISPUTED})


def held_until(state: LoanState, due_on: date) -> date | None:
    """Last day an occupying loan holds its item; None while it is held until check-in."""
    return None if state in OPEN_ENDED else due_on


def overlaps(start: date, end: date | None, other_start: date, other_end: date | None) -> bool:
    """Two day periods, both ends included (an end of None is open)."""
    return (end is None or other_start <= end) and (other_end is None or start <= other_end)


def days_late(*, state: LoanState, due_on: date, today: date) -> int:
    """Days an item that is out has stayed past its due day (0 when not late)."""
    if state not in (LoanState.PICKED_UP, LoanState.OVERDUE) or today <= due_on:
        return 0
    return (today - due_on).days


# ------------------------------------------------------------------------- deposits

DepositState = Literal["none", "held", "returned", "kept"]
DEPOSIT_HOLDABLE: frozenset[LoanState] = OCCUPYING


def settle_deposit(
    *,
    current: str,
    target: str,
    loan_state: LoanState,
    parties: set[str],
    amount_cents: int | None,
    expected_cents: int,
    held_cents: int,
    reason: str,
) -> tuple[str, int]:
    """The deposit's next state and its amount in cents (held, returned or kept).

    Only the lender (or staff) records the deposit: held once the loan is accepted, then
    returned in full or kept (all or part) with a reason both sides can read."""
    if not parties & {"lender", "staff"}:
        raise LoanRuleBroken(
            "Only the lender or staff may record the deposit.",
            code="deposits.not_your_move",
            forbidden=True,
        )
    allowed = {"held": {"none"}, "returned": {"held"}, "kept": {"held"}}
    if current not in allowed.get(target, set()):
        raise LoanRuleBroken(
            f"A deposit that is {current} cannot be {target}.",
            code="deposits.wrong_state",
            params={"state": current, "target": target},
        )
    if target == "held":
        if loan_state not in DEPOSIT_HOLDABLE:
            raise LoanRuleBroken(
                f"A deposit is held on an accepted loan, not a {loan_state.value} one.",
                code="deposits.loan_not_accepted",
                params={"state": loan_state.value},
            )
        amount = expected_cents if amount_cents is None else amount_cents
        if amount <= 0:
            raise DepositInvalid(
                "The deposit held is a positive amount.",
                field="amount_cents",
                code="deposits.amount",
            )
        return "held", amount
    if target == "returned":
        return "returned", held_cents
    if not reason.strip():
        raise DepositInvalid(
            "Say why the deposit is kept.", field="reason", code="deposits.reason_missing"
        )
    amount = held_cents if amount_cents is None else amount_cents
    if not 0 < amount <= held_cents:
        raise DepositInvalid(
            f"At most the {held_cents} cents held can be kept.",
            field="amount_cents",
            code="deposits.amount_above_held",
            params={"held_cents": held_cents},
        )
    return "kept", amount


class DepositInvalid(ValueError):
    """A deposit amount or reason the rules refuse, naming the field."""

    def __init__(self, message: str, *, field: str, code: str, params: dict | None = None):
        super().__init__(message)
        self.field, self.code, self.params = field, code, params or {}


# ------------------------------------------------------------------------- carpools

MAX_SEATS = 8
WEEKDAYS = "1234567"  # ISO weekdays, Monday = 1


class RuleBroken(Exception):
    """A rule said no: `field` → 422 naming it, `forbidden` → 403, else 409."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        params: dict | None = None,
        field: str | None = None,
        forbidden: bool = False,
    ) -> None:
        super().__init__(message)
        self.code, self.params = code, params or {}
        self.field, self.forbidden = field, forbidden


class CarpoolRuleBroken(RuleBroken):
    """A carpool rule said no."""


class ServiceRuleBroken(RuleBroken):
    """A time-bank service rule said no (who confirms a service, for whom)."""


def provider_of(
    *, direction: str, lister_id: str, caller_id: str, named_provider: str | None
) -> str:
    """Who provided a service the caller confirms: the lister of an offer, or the member
    the lister of a request names. Nobody confirms a service to themselves."""
    if direction == "offer":
        if caller_id == lister_id:
            raise ServiceRuleBroken(
                "The provider cannot confirm their own service.",
                code="services.own_service",
                forbidden=True,
            )
        return lister_id
    if caller_id != lister_id:
        raise ServiceRuleBroken(
            "Only the member who made this request may confirm it.",
            code="services.not_yours",
            forbidden=True,
        )
    if not named_provider:
        raise ServiceRuleBroken(
            "Name the member who provided the service.",
            code="services.provider_missing",
            field="body.provider_id",
        )
    if named_provider == caller_id:
        raise ServiceRuleBroken(
            "You cannot provide a service to yourself.",
            code="services.own_service",
            forbidden=True,
        )
    return named_provider


def check_listing(*, kind: str, route_km: float | None) -> None:
    """A listed service is whole: a carpool says how long its route is (impact counts km)."""
    if kind == "carpool" and route_km is None:
        raise ServiceRuleBroken(
            "A carpool needs its route length in km.",
            code="services.route_km_missing",
            field="body.route_km",
        )


def check_schedule(*, departs_on: date | None, weekdays: str | None, today: date) -> str | None:
    """Validate a one-off date or regular weekdays; returns the weekdays, normalised."""
    if (departs_on is None) == (not weekdays):
        raise CarpoolRuleBroken(
            "Give either a date (one-off trip) or weekdays (regular trip).",
            code="carpools.schedule_missing",
            field="body.departs_on",
        )
    if departs_on is not None:
        if departs_on < today:
            raise CarpoolRuleBroken(
                "The trip's date is in the past.",
                code="carpools.in_the_past",
                field="body.departs_on",
            )
        return None
    if any(d not in WEEKDAYS for d in weekdays or ""):
        raise CarpoolRuleBroken(
            "Weekdays are digits 1 (Monday) to 7 (Sunday).",
            code="carpools.bad_weekdays",
            field="body.weekdays",
        )
    return "".join(sorted(set(weekdays or "")))


def runs_on(*, departs_on: date | None, weekdays: str | None, day: date) -> bool:
    """Whether a carpool with this schedule drives on `day`."""
    if departs_on is not None:
        return day == departs_on
    return str(day.isoweekday()) in (weekdays or "")


def next_runs(*, departs_on: date | None, weekdays: str | None, today: date, count: int = 6):
    """The next days (from today) a carpool drives."""
    if departs_on is not None:
        return [departs_on] if departs_on >= today else []
    if not weekdays:
        return []
    days, day = [], today
    while len(days) < count:
        if runs_on(departs_on=None, weekdays=weekdays, day=day):
            days.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return days


def check_booking(
    *,
    driver_id: str,
    passenger_id: str,
    offer_open: bool,
    departs_on: date | None,
    weekdays: str | None,
    day: date,
    today: date,
) -> None:
    """Whether `passenger_id` may book a seat on the trip of `day`."""
    if passenger_id == driver_id:
        raise CarpoolRuleBroken(
            "The driver does not book a seat in their own car.",
            code="carpools.own_offer",
            forbidden=True,
        )
    if not offer_open:
        raise CarpoolRuleBroken("This carpool is closed.", code="carpools.closed")
    if day < today:
        raise CarpoolRuleBroken(
            "This trip has already left.", code="carpools.in_the_past", field="body.on"
        )
    if not runs_on(departs_on=departs_on, weekdays=weekdays, day=day):
        raise CarpoolRuleBroken(
            "This carpool does not drive on that day.",
            code="carpools.not_driving",
            field="body.on",
            params={"on": day.isoformat()},
        )


def check_confirmation(
    *,
    driver_id: str,
    actor_id: str,
    trip_state: str,
    day: date,
    today: date,
    booked: set[str],
    riders: set[str],
) -> int:
    """Whether the driver may confirm the trip with these riders; returns their count."""
    if actor_id != driver_id:
        raise CarpoolRuleBroken(
            "Only the driver confirms a trip.", code="carpools.not_driver", forbidden=True
        )
    if trip_state != "open":
        raise CarpoolRuleBroken("This trip is already confirmed.", code="carpools.confirmed")
    if day > today:
        raise CarpoolRuleBroken(
            "A trip is confirmed once it has taken place.",
            code="carpools.not_yet",
            params={"on": day.isoformat()},
        )
    if not riders:
        raise CarpoolRuleBroken(
            "Name at least one passenger who rode.",
            code="carpools.no_passengers",
            field="body.passenger_ids",
        )
    strangers = riders - booked
    if strangers:
        raise CarpoolRuleBroken(
            "Only passengers who booked a seat can be confirmed.",
            code="carpools.not_booked",
            field="body.passenger_ids",
        )
    return len(riders)
