from datetime import datetime

import pytest
from pydantic import ValidationError

from libs.common.contracts.crowdfunding import CampaignSucceeded
from libs.common.contracts.exchange import ItemListed
from libs.common.events import (
    Envelope,
    Territory,
    UnknownContract,
    contract_for,
    make_event,
    registered_contracts,
    subject_for,
)
from libs.common.ids import uuid7


def test_event_ids_sort_by_creation():
    ids = [uuid7() for _ in range(2000)]
    assert ids == sorted(ids)
    assert all(i.version == 7 for i in ids)


def test_make_event_wraps_a_contract_in_the_envelope():
    data = ItemListed(
        item_id="i1", owner_id="m1", category="drill", neighbourhood="centre", max_loan_days=7
    )
    event = make_event(
        data, aggregate_id="i1", territory=Territory(city="valmont", neighbourhood="centre")
    )
    assert event.type == "exchange.item.listed" and event.version == 1
    assert event.source == "exchange"
    assert event.subject == "sharitories.exchange.item.listed"
    assert event.occurred_at.tzinfo is not None
    again = Envelope.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.payload() == data


def test_envelope_refuses_naive_times_and_bad_types():
    with pytest.raises(ValidationError, match="timezone"):
        Envelope(
            type="exchange.item.listed",
            source="exchange",
            aggregate_id="x",
            territory=Territory(city="v"),
            occurred_at=datetime(2026, 1, 1),
        )
    with pytest.raises(ValidationError, match="pattern"):
        Envelope(
            type="loan_returned", source="exchange", aggregate_id="x", territory=Territory(city="v")
        )


def test_registry_knows_every_publishing_service():
    sources = {t.split(".")[0] for t, _ in registered_contracts()}
    assert {"exchange", "crowdfunding", "budget", "impact"} <= sources
    with pytest.raises(UnknownContract):
        contract_for("exchange.loan.returned", 99)
    assert subject_for("budget.ballot.cast") == "sharitories.budget.ballot.cast"


def test_success_event_amounts_must_add_up_to_the_cent():
    facts = dict(
        campaign_id="c",
        holder_id="h",
        holder_kind="organisation",
        category="food",
        neighbourhood="port",
        goal_cents=100_000,
        deadline="2026-12-01T00:00:00Z",
        commission_rate="0.05",
        backers=3,
    )
    CampaignSucceeded(
        raised_cents=90_000,
        matched_cents=10_000,
        total_cents=100_000,
        commission_cents=5_000,
        net_cents=95_000,
        **facts,
    )
    with pytest.raises(ValidationError, match=r"must equal"):
        CampaignSucceeded(
            raised_cents=90_000,
            matched_cents=10_000,
            total_cents=100_000,
            commission_cents=5_000,
            net_cents=95_001,
            **facts,
        )


def test_ballot_cast_carries_no_voter_identity():
    fields = set(contract_for("budget.ballot.cast", 1).model_fields)
    assert not fields & {"voter_id", "member_id", "author_id", "sub", "name", "email"}
