"""Pure rules of crowdfunding: lifecycle, review, deadlines, matchfunding and settlement."""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.common.contracts.crowdfunding import CampaignSucceeded
from libs.common.rules import InputRefused, StateRefused
from services.crowdfunding import domain
from services.crowdfunding.payments import InvalidSignature, sign, verify

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_campaign_lifecycle_allows_only_forward_steps():
    path = ["draft", "submitted", "approved", "live", "settling", "succeeded", "paid_out"]
    for current, target in itertools.pairwise(path):
        domain.ensure_transition(current, target)
    with pytest.raises(StateRefused):
        domain.ensure_transition("draft", "live")
    with pytest.raises(StateRefused):
        domain.ensure_transition("failed", "paid_out")
    with pytest.raises(StateRefused):
        domain.ensure_transition("live", "draft")


def test_review_records_every_failed_criterion():
    verdict = domain.review(
        domain.CampaignDraft(
            holder_kind="resident",
            holder_verified=False,
            category="culture",
            goal_cents=50_00,
            duration_days=120,
        )
    )
    assert not verdict.approved
    assert verdict.checks == {"eligibility": False, "coherent_amount": False, "duration": False}
    assert len(verdict.reasons) == 3


@pytest.mark.parametrize("days,ok", [(19, False), (20, True), (90, True), (91, False)])
def test_duration_must_be_between_20_and_90_days(days, ok):
    draft = domain.CampaignDraft("organisation", False, "culture", 5_000_00, days)
    assert domain.review(draft).approved is ok


def test_reward_dearer_than_the_goal_is_incoherent():
    draft = domain.CampaignDraft("organisation", False, "culture", 1_000_00, 30, (2_000_00,))
    assert domain.review(draft).checks["coherent_amount"] is False


def test_deadline_is_timezone_aware_and_fixed_from_launch():
    paris = timezone(timedelta(hours=1))
    launched = datetime(2025, 3, 1, 18, tzinfo=paris)
    assert domain.deadline_for(launched, 30) == datetime(2025, 3, 31, 17, tzinfo=UTC)
    with pytest.raises(ValueError):
        domain.deadline_for(datetime(2025, 3, 1), 30)


def test_pledges_close_at_the_deadline_and_cancellation_24h_before():
    deadline = NOW + timedelta(days=2)
    domain.ensure_pledging_open(state="live", now=NOW, deadline=deadline)
    with pytest.raises(StateRefused):
        domain.ensure_pledging_open(state="live", now=deadline, deadline=deadline)
    domain.ensure_cancellable(now=deadline - timedelta(hours=24), deadline=deadline)
    with pytest.raises(StateRefused):
        domain.ensure_cancellable(now=deadline - timedelta(hours=23), deadline=deadline)


@pytest.mark.parametrize("rate", ["-0.01", "0.1001", "abc", "NaN"])
def test_commission_rate_outside_0_to_10_percent_is_refused(rate):
    with pytest.raises(InputRefused):
        domain.parse_rate(rate)


def test_match_is_capped_per_pledge_and_by_what_is_left():
    assert domain.match_wanted(3_333, factor=Decimal("0.5"), cap_per_pledge_cents=None) == 1_667
    assert domain.match_wanted(10_000, factor=Decimal(1), cap_per_pledge_cents=2_000) == 2_000


def test_a_late_webhook_cannot_move_a_pledge_backwards():
    assert domain.ACTIVE not in domain.PLEDGE_TRANSITIONS[domain.CANCELLED]
    assert domain.DECLINED not in domain.PLEDGE_TRANSITIONS[domain.ACTIVE]
    assert domain.pledge_sources(domain.CAPTURED) == {domain.ACTIVE}


def test_webhook_signature_verifies_and_refuses_tampering():
    body = b'{"id":"evt_1"}'
    header = sign(body, "s3cret")
    verify(body, header, "s3cret")
    with pytest.raises(InvalidSignature):
        verify(body + b" ", header, "s3cret")
    with pytest.raises(InvalidSignature):
        verify(body, header, "other")
    with pytest.raises(InvalidSignature):
        verify(body, sign(body, "s3cret", timestamp=1), "s3cret")


# The whole settlement of open pledges, composed from the rules production applies step by
# step (settlement.py): the property below checks that the steps add up.
@dataclass(frozen=True)
class PledgeAtDeadline:
    amount_cents: int
    matched_cents: int = 0
    channel: str = "online"
    capture_succeeds: bool = True


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    statuses: list[str]
    settlement: domain.Settlement | None


def outcome_of(pledges: list[PledgeAtDeadline], *, goal_cents: int, rate: Decimal) -> Outcome:
    succeeded = domain.campaign_reaches_goal(
        goal_cents=goal_cents,
        pledged_cents=sum(p.amount_cents for p in pledges),
        matched_cents=sum(p.matched_cents for p in pledges),
    )
    if not succeeded:
        return Outcome(
            False, [domain.release_on_settlement(channel=p.channel) for p in pledges], None
        )
    statuses = [domain.CAPTURED if p.capture_succeeds else domain.CAPTURE_FAILED for p in pledges]
    captured = [p for p, s in zip(pledges, statuses, strict=True) if s == domain.CAPTURED]
    figures = domain.settle(
        raised_cents=sum(p.amount_cents for p in captured),
        matched_cents=sum(p.matched_cents for p in captured),
        rate=rate,
        base=domain.DEFAULT_COMMISSION_BASE,
    )
    return Outcome(True, statuses, figures)


pledge_strategy = st.builds(
    PledgeAtDeadline,
    amount_cents=st.integers(1, 5_000_00),
    matched_cents=st.integers(0, 1_000_00),
    channel=st.sampled_from(["online", "desk"]),
    capture_succeeds=st.booleans(),
)


@settings(max_examples=100, deadline=None)
@given(
    pledges=st.lists(pledge_strategy, max_size=40),
    goal=st.integers(1, 20_000_00),
    rate=st.decimals(min_value=0, max_value=Decimal("0.10"), places=4),
)
def test_settlement_adds_up_to_the_cent(pledges, goal, rate):
    outcome = outcome_of(pledges, goal_cents=goal, rate=rate)
    assert len(outcome.statuses) == len(pledges)
    if outcome.succeeded:
        captured = [
            p for p, s in zip(pledges, outcome.statuses, strict=True) if s == domain.CAPTURED
        ]
        figures = outcome.settlement
        assert figures.raised_cents == sum(p.amount_cents for p in captured)
        assert figures.matched_cents == sum(p.matched_cents for p in captured)
        assert figures.commission_cents + figures.net_cents == figures.total_cents
        assert figures.total_cents == figures.raised_cents + figures.matched_cents
        assert 0 <= figures.commission_cents <= figures.total_cents // 10 + 1
        CampaignSucceeded(  # the contract's own invariants hold
            campaign_id="c",
            holder_id="h",
            holder_kind="resident",
            category="culture",
            neighbourhood="centre",
            goal_cents=goal,
            deadline=NOW,
            raised_cents=figures.raised_cents,
            matched_cents=figures.matched_cents,
            total_cents=figures.total_cents,
            commission_rate=str(rate),
            commission_cents=figures.commission_cents,
            net_cents=figures.net_cents,
            backers=len(captured),
        )
    else:
        assert outcome.settlement is None  # failed: no commission, nothing captured
        assert all(s in (domain.VOIDED, domain.REFUNDED) for s in outcome.statuses)
        for pledge, status in zip(pledges, outcome.statuses, strict=True):
            assert status == (domain.REFUNDED if pledge.channel == "desk" else domain.VOIDED)


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(st.integers(1, 1_000_00), min_size=1, max_size=30))
def test_commission_is_computed_once_on_the_total(amounts):
    rate = Decimal("0.05")
    for base in domain.COMMISSION_BASES:
        figures = domain.settle(raised_cents=sum(amounts), matched_cents=0, rate=rate, base=base)
        assert figures.commission_cents == domain.apply_rate(sum(amounts), rate)
        assert figures.net_cents == sum(amounts) - figures.commission_cents


@settings(max_examples=100, deadline=None)
@given(
    raised=st.integers(0, 1_000_000_00),
    matched=st.integers(0, 1_000_000_00),
    rate=st.decimals(min_value=0, max_value=Decimal("0.10"), places=4),
)
def test_commission_base_decides_whether_the_match_is_charged(raised, matched, rate):
    on_raised = domain.settle(raised_cents=raised, matched_cents=matched, rate=rate, base="raised")
    on_total = domain.settle(
        raised_cents=raised, matched_cents=matched, rate=rate, base="raised_plus_match"
    )
    assert on_raised.commission_cents == domain.apply_rate(raised, rate)
    assert on_total.commission_cents == domain.apply_rate(raised + matched, rate)
    for figures in (on_raised, on_total):
        assert figures.commission_cents + figures.net_cents == raised + matched
    # The holder never receives less when the match is spared the commission.
    assert on_raised.net_cents >= on_total.net_cents


def test_an_unknown_commission_base_is_refused():
    with pytest.raises(ValueError, match="commission base"):
        domain.settle(raised_cents=1, matched_cents=0, rate=Decimal("0.05"), base="gross")
