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
