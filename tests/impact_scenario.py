"""Event scenarios built from the published contracts: a small hand-computed one for the tests,
and a synthetic stream of any size for the benchmark. Pseudonymous ids only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from libs.common.contracts import budget as pb
from libs.common.contracts import crowdfunding as cf
from libs.common.contracts import exchange as ex
from libs.common.events import Envelope, Territory, make_event
from libs.common.taxonomy import ITEM_CATEGORIES

CITY = "valmont"


def at(month: int, day: int, hour: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def _where(neighbourhood: str | None) -> Territory:
    return Territory(city=CITY, neighbourhood=neighbourhood)


def loan_facts(
    loan_id: str,
    *,
    category: str,
    borrower: str,
    borrower_nbhd: str,
    lender: str = "m-lender",
    lender_nbhd: str = "centre",
    item_id: str | None = None,
    requested_at: datetime,
    days: int = 3,
) -> dict:
    return {
        "loan_id": loan_id,
        "item_id": item_id or f"item-{loan_id}",
        "category": category,
        "lender_id": lender,
        "borrower_id": borrower,
        "lender_neighbourhood": lender_nbhd,
        "borrower_neighbourhood": borrower_nbhd,
        "starts_on": requested_at.date() + timedelta(days=1),
        "due_on": requested_at.date() + timedelta(days=days),
        "days": days,
        "requested_at": requested_at,
    }


def loan_lifecycle(loan: dict, *, accepted_after_hours: int, days_lent: int) -> list[Envelope]:
    """requested -> accepted -> picked_up -> returned, in time order."""
    requested = loan["requested_at"]
    where = _where(loan["borrower_neighbourhood"])
    agg = loan["loan_id"]
    return [
        make_event(
            ex.LoanRequested(**loan), aggregate_id=agg, territory=where, occurred_at=requested
        ),
        make_event(
            ex.LoanAccepted(**loan),
            aggregate_id=agg,
            territory=where,
            occurred_at=requested + timedelta(hours=accepted_after_hours),
        ),
        make_event(
            ex.LoanPickedUp(**loan),
            aggregate_id=agg,
            territory=where,
            occurred_at=requested + timedelta(days=1),
        ),
        make_event(
            ex.LoanReturned(**loan, days_lent=days_lent, condition="good"),
            aggregate_id=agg,
            territory=where,
            occurred_at=requested + timedelta(days=1 + days_lent),
        ),
    ]


def hand_computed_scenario() -> list[Envelope]:
    """The scenario of the end-to-end tests (values worked out in test_impact_service.py)."""
    events: list[Envelope] = []
    # Exchange: 3 members join; 3 loans returned (2 drills, 1 tent); 1 loan requested, declined.
    for member, kind, nbhd in (
        ("m-b1", "resident", "centre"),
        ("m-b2", "resident", "gare"),
        ("m-org", "organisation", "centre"),
    ):
        events.append(
            make_event(
                ex.MemberJoined(member_id=member, kind=kind, neighbourhood=nbhd),
                aggregate_id=member,
                territory=_where(nbhd),
                occurred_at=at(1, 5),
            )
        )
    l1 = loan_facts(
        "L1", category="drill", borrower="m-b1", borrower_nbhd="centre", requested_at=at(3, 1, 8)
    )
    l2 = loan_facts(
        "L2", category="drill", borrower="m-b2", borrower_nbhd="gare", requested_at=at(3, 10, 8)
    )
    l3 = loan_facts(
        "L3", category="tent", borrower="m-b1", borrower_nbhd="centre", requested_at=at(4, 2, 8)
    )
    events += loan_lifecycle(l1, accepted_after_hours=2, days_lent=2)
    events += loan_lifecycle(l2, accepted_after_hours=4, days_lent=3)
    events += loan_lifecycle(l3, accepted_after_hours=10, days_lent=5)
    l4 = loan_facts(
        "L4", category="bike", borrower="m-b2", borrower_nbhd="gare", requested_at=at(4, 20, 8)
    )
    events.append(
        make_event(
            ex.LoanRequested(**l4),
            aggregate_id="L4",
            territory=_where("gare"),
            occurred_at=at(4, 20, 8),
        )
    )
    events.append(
        make_event(
            ex.LoanDeclined(**l4),
            aggregate_id="L4",
            territory=_where("gare"),
            occurred_at=at(4, 20, 9),
        )
    )
    # A carpool: 12.5 km with 2 passengers; a repaired bike; 90 credit minutes, 30 reversed.
    events.append(
        make_event(
            ex.ServiceCompleted(
                service_id="S1",
                kind="carpool",
                provider_id="m-driver",
                receiver_id="m-b1",
                provider_neighbourhood="gare",
                receiver_neighbourhood="centre",
                minutes=40,
                km=12.5,
                passengers=2,
            ),
            aggregate_id="S1",
            territory=_where("gare"),
            occurred_at=at(3, 15),
        )
    )
    events.append(
        make_event(
            ex.ServiceCompleted(
                service_id="S2",
                kind="repair",
                provider_id="m-fixer",
                receiver_id="m-b2",
                provider_neighbourhood="centre",
                receiver_neighbourhood="gare",
                minutes=60,
                repaired_category="bike",
                settled_in_credits=True,
            ),
            aggregate_id="S2",
            territory=_where("centre"),
            occurred_at=at(5, 3),
        )
    )
    events.append(
        make_event(
            ex.CreditsTransferred(
                transfer_id="T1", minutes=90, from_account="m-b2", to_account="m-fixer"
            ),
            aggregate_id="T1",
            territory=_where("gare"),
            occurred_at=at(5, 3),
        )
    )
    events.append(
        make_event(
            ex.CreditsTransferred(
                transfer_id="T2",
                minutes=30,
                from_account="m-fixer",
                to_account="m-b2",
                reason="correction",
                reverses="T1",
            ),
            aggregate_id="T2",
            territory=_where("gare"),
            occurred_at=at(5, 4),
        )
    )
    # Crowdfunding: one campaign succeeds (1,000 € raised + 500 € matched, 5 %), one fails.
    campaign = {
        "campaign_id": "C1",
        "holder_id": "m-org",
        "holder_kind": "organisation",
        "category": "solidarity",
        "neighbourhood": "centre",
        "goal_cents": 120_000,
        "deadline": at(6, 30),
    }
    for pledge_id, backer, nbhd, amount in (
        ("P1", "m-b1", "centre", 40_000),
        ("P2", "m-b2", "gare", 35_000),
        ("P3", "m-driver", "gare", 25_000),
    ):
        pledge = {
            "pledge_id": pledge_id,
            "campaign_id": "C1",
            "backer_id": backer,
            "backer_kind": "resident",
            "backer_neighbourhood": nbhd,
            "amount_cents": amount,
        }
        events.append(
            make_event(
                cf.PledgeMade(**pledge),
                aggregate_id="C1",
                territory=_where(nbhd),
                occurred_at=at(6, 1),
            )
        )
    events.append(
        make_event(
            cf.CampaignSucceeded(
                **campaign,
                raised_cents=100_000,
                matched_cents=50_000,
                total_cents=150_000,
                commission_rate="0.05",
                commission_cents=7_500,
                net_cents=142_500,
                backers=3,
            ),
            aggregate_id="C1",
            territory=_where("centre"),
            occurred_at=at(6, 30),
        )
    )
    events.append(
        make_event(
            cf.CampaignFailed(
                **{**campaign, "campaign_id": "C2", "goal_cents": 500_000},
                pledged_cents=1_000,
                backers=1,
            ),
            aggregate_id="C2",
            territory=_where("centre"),
            occurred_at=at(6, 30),
        )
    )
    # Participatory budget: 2 proposals, 1 support, 3 ballots (1 replaces an earlier one),
    # results: 1 project of 30,000 € selected from a 50,000 € envelope, 2 voters of 40 eligible.
    events.append(
        make_event(
            pb.EditionCreated(
                edition_id="PB26",
                name="Budget participatif 2026",
                envelopes=[
                    pb.EnvelopeFacts(envelope_id="E1", name="Ville", amount_cents=5_000_000)
                ],
            ),
            aggregate_id="PB26",
            territory=_where(None),
            occurred_at=at(2, 1),
        )
    )
    for proposal, author in (("PR1", "m-b1"), ("PR2", "m-org")):
        events.append(
            make_event(
                pb.ProposalSubmitted(
                    proposal_id=proposal,
                    edition_id="PB26",
                    author_id=author,
                    neighbourhood="centre",
                ),
                aggregate_id=proposal,
                territory=_where("centre"),
                occurred_at=at(2, 10),
            )
        )
    events.append(
        make_event(
            pb.ProposalSupported(proposal_id="PR1", edition_id="PB26", neighbourhood="gare"),
            aggregate_id="PR1",
            territory=_where("gare"),
            occurred_at=at(2, 12),
        )
    )
    for i, replaces in enumerate((False, False, True)):
        events.append(
            make_event(
                pb.BallotCast(
                    edition_id="PB26",
                    envelope_id="E1",
                    channel="online",
                    replaces_previous=replaces,
                ),
                aggregate_id=f"B{i}",
                territory=_where(None),
                occurred_at=at(9, 10 + i),
            )
        )
    events.append(
        make_event(
            pb.ResultsPublished(
                edition_id="PB26",
                rule="greedy",
                envelopes=[
                    pb.EnvelopeResult(
                        envelope_id="E1",
                        amount_cents=5_000_000,
                        allocated_cents=3_000_000,
                        leftover_cents=2_000_000,
                        selected=[
                            pb.ResultProject(
                                proposal_id="PR1",
                                title="Bancs",
                                cost_cents=3_000_000,
                                neighbourhood="centre",
                            )
                        ],
                        feasible_unselected=[],
                    )
                ],
                turnout=[pb.Turnout(voters=2, eligible=40)],
            ),
            aggregate_id="PB26",
            territory=_where(None),
            occurred_at=at(10, 1),
        )
    )
    events.append(
        make_event(
            pb.ProjectMilestone(
                edition_id="PB26",
                proposal_id="PR1",
                status="delivered",
                on=date(2026, 11, 30),
                cost_cents=3_000_000,
            ),
            aggregate_id="PR1",
            territory=_where("centre"),
            occurred_at=at(11, 30),
        )
    )
    return events


NEIGHBOURHOODS = (
    "centre",
    "gare",
    "riviere",
    "colline",
    "faubourg",
    "plateau",
    "vergers",
    "zone-est",
)


def synthetic_events(count: int, *, seed: int = 7, year: int = 2026) -> Iterator[Envelope]:
    """A plausible mix of events over one year (loans dominate), for the benchmark."""
    rng = random.Random(seed)
    start = datetime(year, 1, 1, tzinfo=UTC)
    for i in range(count):
        moment = start + timedelta(seconds=rng.randrange(365 * 86400))
        nbhd = rng.choice(NEIGHBOURHOODS)
        member = f"m{rng.randrange(5000)}"
        roll = rng.random()
        if roll < 0.6:
            loan = loan_facts(
                f"L{i}",
                category=rng.choice(ITEM_CATEGORIES),
                borrower=member,
                borrower_nbhd=nbhd,
                lender=f"m{rng.randrange(5000)}",
                lender_nbhd=rng.choice(NEIGHBOURHOODS),
                item_id=f"I{rng.randrange(3000)}",
                requested_at=moment - timedelta(hours=rng.randrange(1, 72)),
            )
            model = rng.choice((ex.LoanRequested, ex.LoanAccepted, ex.LoanPickedUp))
            data = (
                model(**loan)
                if rng.random() < 0.5
                else ex.LoanReturned(**loan, days_lent=rng.randrange(1, 8), condition="good")
            )
        elif roll < 0.75:
            kind = rng.choice(("carpool", "repair", "gardening", "tutoring"))
            data = ex.ServiceCompleted(
                service_id=f"S{i}",
                kind=kind,
                provider_id=member,
                receiver_id=f"m{rng.randrange(5000)}",
                provider_neighbourhood=nbhd,
                receiver_neighbourhood=rng.choice(NEIGHBOURHOODS),
                minutes=rng.randrange(15, 180),
                km=round(rng.uniform(2, 30), 1) if kind == "carpool" else None,
                passengers=rng.randrange(1, 4) if kind == "carpool" else None,
                repaired_category=rng.choice(ITEM_CATEGORIES) if kind == "repair" else None,
            )
        elif roll < 0.85:
            data = ex.CreditsTransferred(
                transfer_id=f"T{i}",
                minutes=rng.randrange(15, 120),
                from_account=member,
                to_account=f"m{rng.randrange(5000)}",
                from_neighbourhood=nbhd,
            )
        elif roll < 0.95:
            data = cf.PledgeMade(
                pledge_id=f"P{i}",
                campaign_id=f"C{rng.randrange(200)}",
                backer_id=member,
                backer_kind="resident",
                backer_neighbourhood=nbhd,
                amount_cents=rng.randrange(500, 20_000),
            )
        elif roll < 0.97:
            raised = rng.randrange(50_000, 500_000)
            data = cf.CampaignSucceeded(
                campaign_id=f"C{i}",
                holder_id=member,
                holder_kind="resident",
                category="culture",
                neighbourhood=nbhd,
                goal_cents=raised,
                deadline=moment,
                raised_cents=raised,
                matched_cents=0,
                total_cents=raised,
                commission_rate="0.05",
                commission_cents=raised // 20,
                net_cents=raised - raised // 20,
                backers=rng.randrange(5, 80),
            )
        else:
            data = pb.BallotCast(
                edition_id=f"PB{year}", envelope_id="E1", district=nbhd, channel="online"
            )
        yield make_event(data, aggregate_id=f"a{i}", territory=_where(nbhd), occurred_at=moment)
