"""Two years of Valmont's past: what its lending library and time bank did before go-live.

A pure plan, no I/O: `past_activity(today, ...)` lists the loans and services of the 24
months before `today`, which the demo records through the exchange's history API
(services/exchange/history.py) so that every monthly chart of the report shows a trend.

The shape is what the source report describes for such schemes: slow growth as word of
mouth spreads (about a third of today's activity two years ago), outdoor gear and
gardening in spring and summer, indoor things and tutoring in the school months, carpools
steady all year with a dip in August. Seeded, so every demo load gives the same history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = 24
OUTDOOR = {
    "tent",
    "camping_gear",
    "bike",
    "cargo_bike",
    "lawn_mower",
    "hedge_trimmer",
    "pressure_washer",
    "sports_gear",
}
INDOOR = {"projector", "games_toys", "kitchen_appliance", "books", "sewing_machine", "camera"}
SUMMER = {5, 6, 7, 8, 9}
SCHOOL = {1, 2, 3, 4, 5, 6, 9, 10, 11, 12}


@dataclass(frozen=True)
class PastLoan:
    record_id: str
    item: int  # index in the demo's item list
    borrower: str
    picked_up_on: date
    returned_on: date
    condition: str


@dataclass(frozen=True)
class PastService:
    record_id: str
    kind: str
    provider: str
    receiver: str
    completed_on: date
    minutes: int
    km: float | None = None
    passengers: int | None = None
    repaired_category: str | None = None


def month_starts(today: date, months: int = MONTHS) -> list[date]:
    """First days of the `months` whole months before `today`'s, oldest first."""
    first = today.replace(day=1)
    starts = []
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
        starts.append(first)
    return starts[::-1]


def growth(index: int, months: int = MONTHS) -> float:
    """From a third of today's pace two years ago to all of it last month."""
    return 0.35 + 0.65 * index / max(months - 1, 1)


def season(category: str, month: int) -> float:
    if category in OUTDOOR:
        return 1.8 if month in SUMMER else 0.5
    if category in INDOOR:
        return 0.6 if month in SUMMER else 1.4
    return 1.0


def _day_in(start: date, rng: random.Random) -> date:
    return start + timedelta(days=rng.randrange(0, 26))


def past_activity(
    today: date,
    *,
    items: list[tuple[str, str, int]],
    people: list[str],
    repairers: list[str],
    seed: int = 2024,
) -> tuple[list[PastLoan], list[PastService]]:
    """Loans and services of the 24 months before `today`.

    `items` are (owner, category, max loan days) in the demo's item order; `people` are the
    residents who borrow, drive and help; `repairers` run repair sessions (repair café,
    bike shop)."""
    rng = random.Random(seed)
    loans: list[PastLoan] = []
    services: list[PastService] = []
    for index, start in enumerate(month_starts(today)):
        pace = growth(index)
        for n, (owner, category, max_days) in enumerate(items):
            # An item is lent about 0.5 times a month at today's pace, by its season.
            expected = 0.5 * pace * season(category, start.month)
            count = int(expected) + (rng.random() < expected - int(expected))
            for _ in range(count):
                borrower = rng.choice([p for p in people if p != owner])
                picked = _day_in(start, rng)
                days = rng.randint(1, max(1, min(max_days, 7)))
                loans.append(
                    PastLoan(
                        record_id=f"valmont-loan-{len(loans) + 1:04d}",
                        item=n,
                        borrower=borrower,
                        picked_up_on=picked,
                        returned_on=picked + timedelta(days=days - 1),
                        condition="good" if rng.random() < 0.9 else "fair",
                    )
                )
        services.extend(_month_of_services(start, pace, people, repairers, rng, len(services)))
    return loans, services


def _month_of_services(
    start: date,
    pace: float,
    people: list[str],
    repairers: list[str],
    rng: random.Random,
    numbered: int,
) -> list[PastService]:
    plan: list[PastService] = []

    def add(kind: str, provider: str, **facts) -> None:
        receiver = rng.choice([p for p in people if p != provider])
        plan.append(
            PastService(
                record_id=f"valmont-service-{numbered + len(plan) + 1:04d}",
                kind=kind,
                provider=provider,
                receiver=receiver,
                completed_on=_day_in(start, rng),
                **facts,
            )
        )

    drivers = people[::3]
    carpools = round(6 * pace * (0.5 if start.month == 8 else 1.0))
    for _ in range(carpools):
        add(
            "carpool",
            rng.choice(drivers),
            minutes=rng.choice((20, 25, 30, 40)),
            km=float(rng.choice((7.5, 9.5, 12.0, 14.0, 21.0, 35.0))),
            passengers=rng.choice((1, 1, 2, 3)),
        )
    for _ in range(round(7 * pace)):
        add(
            "repair",
            rng.choice(repairers),
            minutes=rng.choice((30, 45, 60)),
            repaired_category=rng.choice(("kitchen_appliance", "electronics_other", "bike")),
        )
    if start.month in SUMMER or start.month in (3, 4, 10):
        for _ in range(round(4 * pace)):
            add("gardening", rng.choice(people), minutes=rng.choice((60, 90, 120)))
    if start.month in SCHOOL:
        for _ in range(round(4 * pace)):
            add("tutoring", rng.choice(people[1::4]), minutes=60)
    for _ in range(round(2 * pace)):
        add("help_at_home", rng.choice(people), minutes=rng.choice((45, 60, 90)))
    return plan
