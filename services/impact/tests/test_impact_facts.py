"""From one event to its facts: pure, hand-computed, one test per event family."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from libs.common.contracts import budget as pb
from libs.common.contracts import crowdfunding as cf
from libs.common.contracts import exchange as ex
from libs.common.events import Envelope, Territory, make_event
from services.impact.facts import Unprojectable, facts_of, passenger_metres
from tests.impact_scenario import at, loan_facts

WHERE = Territory(city="valmont", neighbourhood="centre")


def test_a_returned_loan_counts_in_the_borrowers_neighbourhood_with_days_lent():
    loan = loan_facts(
        "L1", category="drill", borrower="b", borrower_nbhd="gare", requested_at=at(3, 1, 8)
    )
    event = make_event(
        ex.LoanReturned(**loan, days_lent=4, condition="good"),
        aggregate_id="L1",
        territory=WHERE,
        occurred_at=at(3, 6),
    )
    rows = facts_of(event)
    (fact,) = rows.facts
    assert (fact["neighbourhood"], fact["category"], fact["days"], fact["ref"]) == (
        "gare",
        "drill",
        4,
        "item-L1",
    )
    assert fact["ref_day"] == date(2026, 3, 1) and fact["day"] == date(2026, 3, 6)
    assert {(a["member_id"], a["role"]) for a in rows.activity} == {
        ("b", "borrower"),
        ("m-lender", "lender"),
    }


def test_an_accepted_loan_records_the_wait_from_request_to_match():
    loan = loan_facts(
        "L1", category="drill", borrower="b", borrower_nbhd="gare", requested_at=at(3, 1, 8)
    )
    event = make_event(
        ex.LoanAccepted(**loan), aggregate_id="L1", territory=WHERE, occurred_at=at(3, 1, 11)
    )
    assert facts_of(event).facts[0]["seconds"] == 3 * 3600


def test_carpool_passenger_km_are_exact_metres():
    assert passenger_metres(12.5, 2) == 25_000
    assert passenger_metres(0.1, 3) == 300  # not 300.00000000000006
    event = make_event(
        ex.ServiceCompleted(
            service_id="S",
            kind="carpool",
            provider_id="d",
            receiver_id="p",
            provider_neighbourhood="gare",
            receiver_neighbourhood="centre",
            minutes=20,
            km=7.3,
            passengers=3,
        ),
        aggregate_id="S",
        territory=WHERE,
    )
    assert facts_of(event).facts[0]["passenger_m"] == 21_900


def test_a_credit_correction_counts_negatively():
    event = make_event(
        ex.CreditsTransferred(
            transfer_id="T2",
            minutes=30,
            from_account="a",
            to_account="b",
            reason="correction",
            reverses="T1",
        ),
        aggregate_id="T2",
        territory=WHERE,
    )
    assert facts_of(event).facts[0]["minutes"] == -30


def test_a_succeeded_campaign_carries_raised_matched_and_commission():
    event = make_event(
        cf.CampaignSucceeded(
            campaign_id="C",
            holder_id="h",
            holder_kind="resident",
            category="x",
            neighbourhood="centre",
            goal_cents=100,
            deadline=at(6, 1),
            raised_cents=900,
            matched_cents=300,
            total_cents=1200,
            commission_rate="0.05",
            commission_cents=60,
            net_cents=1140,
            backers=7,
        ),
        aggregate_id="C",
        territory=WHERE,
    )
    fact = facts_of(event).facts[0]
    assert (fact["cents"], fact["matched_cents"], fact["commission_cents"], fact["quantity"]) == (
        900,
        300,
        60,
        7,
    )


def test_a_ballot_is_counted_never_attributed():
    event = make_event(
        pb.BallotCast(edition_id="E", envelope_id="V", channel="paper"),
        aggregate_id="B",
        territory=WHERE,
        actor=None,
    )
    rows = facts_of(event)
    assert rows.facts[0]["quantity"] == 1 and rows.activity == []
    replaced = make_event(
        pb.BallotCast(edition_id="E", envelope_id="V", channel="online", replaces_previous=True),
        aggregate_id="B",
        territory=WHERE,
    )
    assert facts_of(replaced).facts[0]["quantity"] == 0


def test_results_give_one_fact_per_envelope_selected_project_and_turnout_line():
    event = make_event(
        pb.ResultsPublished(
            edition_id="E",
            rule="greedy",
            envelopes=[
                pb.EnvelopeResult(
                    envelope_id="V",
                    amount_cents=1000,
                    allocated_cents=700,
                    leftover_cents=300,
                    selected=[
                        pb.ResultProject(proposal_id="P1", title="t", cost_cents=400),
                        pb.ResultProject(proposal_id="P2", title="u", cost_cents=300),
                    ],
                    feasible_unselected=[],
                )
            ],
            turnout=[
                pb.Turnout(voters=10, eligible=100),
                pb.Turnout(district="gare", voters=4, eligible=30),
            ],
        ),
        aggregate_id="E",
        territory=WHERE,
    )
    parts = [(f["part"], f["category"]) for f in facts_of(event).facts]
    assert parts == [
        (0, "envelope"),
        (1, "selected"),
        (2, "selected"),
        (3, "turnout"),
        (4, "turnout"),
    ]


def test_unknown_types_and_versions_are_unprojectable_and_bad_data_invalid():
    unknown = Envelope(
        type="exchange.item.teleported", source="exchange", aggregate_id="x", territory=WHERE
    )
    with pytest.raises(Unprojectable):
        facts_of(unknown)
    event = make_event(
        ex.MemberJoined(member_id="m", kind="resident", neighbourhood="centre"),
        aggregate_id="m",
        territory=WHERE,
    )
    with pytest.raises(Unprojectable):
        facts_of(event.model_copy(update={"version": 2}))
    with pytest.raises(ValidationError):
        facts_of(event.model_copy(update={"data": {"member_id": "m"}}))


def test_every_event_the_platform_publishes_has_a_projector():
    """Parking is for events from the future, never for ones our own services publish."""
    from libs.common.events import registered_contracts
    from services.impact.facts import PROJECTORS

    published = set(registered_contracts())
    assert published - set(PROJECTORS) == set()
