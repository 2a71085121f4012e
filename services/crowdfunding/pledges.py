"""Pledges: authorised at pledge time, captured only on success, otherwise voided/refunded.

Every change of a pledge's status goes through `move`: a conditional UPDATE from the
status we read, so that a duplicate or late message (webhook, retried settlement step,
concurrent cancel) finds nothing to change. Its side effects (reward stock back, match
back to the pool or spent, the event) run only when the update did happen: once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.crowdfunding import (
    PledgeCancelled,
    PledgeCaptured,
    PledgeCaptureFailed,
    PledgeMade,
    PledgeRefunded,
)
from libs.common.db import insert_ignoring_duplicates
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.logs import get_logger
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, Invalid, NotFound, Problem
from libs.common.runtime import ServiceRuntime
from services.crowdfunding import domain, matching
from services.crowdfunding.campaigns import get_campaign
from services.crowdfunding.config import CrowdfundingSettings
from services.crowdfunding.db import payment_webhooks, pledges, rewards, utc
from services.crowdfunding.payments import (
    InvalidSignature,
    Payment,
    PaymentProvider,
    PaymentResult,
    ProviderUnavailable,
    idempotency_key,
)

log = get_logger(__name__)


class ProviderDown(Problem):
    status, title, slug = 503, "Payment provider unavailable", "payment-provider-unavailable"


class BadSignature(Problem):
    status, title, slug = 400, "Invalid webhook signature", "invalid-signature"


@dataclass
class Crowdfunding:
    """What the service's use cases need beside a session."""

    runtime: ServiceRuntime
    provider: PaymentProvider
    settings: CrowdfundingSettings


def pledge_view(row: Any) -> dict:
    data = dict(row._mapping)
    data["created_at"] = utc(data["created_at"])
    data["updated_at"] = utc(data["updated_at"])
    return data


# What only the backer (and staff) may see of a pledge: the payment's handles and the
# 3-D Secure step. A campaign's holder sees amounts, statuses and rewards.
BACKER_ONLY = ("client_secret", "next_action_url", "customer_id", "method_id", "payment_id")


def holder_view(row: Any) -> dict:
    data = pledge_view(row)
    for key in BACKER_ONLY:
        data.pop(key, None)
    return data


async def get_pledge(session: AsyncSession, pledge_id: str) -> Any:
    row = (await session.execute(select(pledges).where(pledges.c.id == pledge_id))).one_or_none()
    if row is None:
        raise NotFound(f"No pledge {pledge_id}.", code="pledges.not_found")
    return row


async def pledge_seen_by(session: AsyncSession, *, pledge_id: str, principal: Principal) -> dict:
    """A pledge, for its backer and staff (anyone else: not found)."""
    row = await get_pledge(session, pledge_id)
    if row.backer_id != principal.sub and not principal.has("staff"):
        raise NotFound(f"No pledge {pledge_id}.", code="pledges.not_found")
    return pledge_view(row)


async def campaign_pledges(
    session: AsyncSession, *, campaign_id: str, principal: Principal
) -> list[dict]:
    """A campaign's pledges, oldest first: staff see them whole, its holder without the
    backers' payment handles."""
    campaign = await get_campaign(session, campaign_id)
    if campaign.holder_id != principal.sub and not principal.has("staff"):
        raise Forbidden("Pledges are shown to the holder and staff.", code="campaigns.not_holder")
    result = await session.execute(
        select(pledges).where(pledges.c.campaign_id == campaign_id).order_by(pledges.c.created_at)
    )
    view = pledge_view if principal.has("staff") else holder_view
    return [view(r) for r in result.all()]


async def _reserve_reward(
    session, *, campaign_id: str, reward_id: str, amount_cents: int, units: int = 1
) -> None:
    reward = (
        await session.execute(
            select(rewards).where(rewards.c.id == reward_id, rewards.c.campaign_id == campaign_id)
        )
    ).one_or_none()
    if reward is None:
        raise Invalid(
            "This campaign has no such reward.", field="body.reward_id", code="rewards.not_found"
        )
    if amount_cents < reward.min_cents * units:
        raise Invalid(
            f"This reward needs a pledge of at least {reward.min_cents} cents.",
            field="body.amount_cents",
            code="rewards.below_minimum",
            params={"min_cents": reward.min_cents * units},
        )
    if reward.stock is None:
        return
    # One conditional update: the database refuses the last unit to all but one pledge.
    taken = await session.execute(
        update(rewards)
        .where(rewards.c.id == reward_id, rewards.c.remaining >= units)
        .values(remaining=rewards.c.remaining - units)
    )
    if taken.rowcount != 1:
        raise Conflict("This reward is sold out.", reward_id=reward_id, code="rewards.sold_out")


async def _open_pledge(
    session: AsyncSession,
    *,
    campaign_id: str,
    backer_id: str,
    backer_kind: str,
    backer_is_resident: bool,
    backer_neighbourhood: str | None,
    amount_cents: int,
    reward_id: str | None,
    channel: str,
    method: str,
    status: str,
    provider: str | None,
    recorded_by: str | None,
    now: datetime,
    units: int | None = None,
) -> Any:
    campaign = await get_campaign(session, campaign_id, share_lock=True)
    domain.ensure_pledging_open(state=campaign.state, now=now, deadline=utc(campaign.deadline))
    if backer_id == campaign.holder_id:
        raise Forbidden("A holder cannot back their own campaign.", code="pledges.own_campaign")
    if reward_id:
        await _reserve_reward(
            session,
            campaign_id=campaign_id,
            reward_id=reward_id,
            amount_cents=amount_cents,
            units=units or 1,
        )
    pool_id, matched = await matching.reserve(
        session,
        campaign=campaign,
        backer_id=backer_id,
        backer_is_resident=backer_is_resident,
        amount_cents=amount_cents,
    )
    pledge_id = new_id()
    await session.execute(
        insert(pledges).values(
            id=pledge_id,
            campaign_id=campaign_id,
            backer_id=backer_id,
            backer_kind=backer_kind,
            backer_neighbourhood=backer_neighbourhood,
            amount_cents=amount_cents,
            reward_id=reward_id,
            channel=channel,
            method=method,
            status=status,
            provider=provider,
            match_pool_id=pool_id,
            matched_cents=matched,
            match_status="reserved" if matched else "none",
            recorded_by=recorded_by,
            units=units,
            created_at=now,
            updated_at=now,
        )
    )
    return await get_pledge(session, pledge_id)


async def pledge(
    cf: Crowdfunding,
    *,
    campaign_id: str,
    principal: Principal,
    amount_cents: int,
    reward_id: str | None,
    card_token: str | None,
    units: int | None = None,
) -> Any:
    """Reserve stock and match, then ask the provider for a hold on the card.

    Without a card token, the provider must collect the card in the backer's browser
    (Stripe Elements): the pledge then awaits that step, with its client secret."""
    if card_token is None and not cf.provider.collects_card_in_browser:
        raise Invalid("A card is needed to pledge online.", field="body.card_token")
    now = clock.now()
    async with cf.runtime.unit_of_work() as session:
        row = await _open_pledge(
            session,
            campaign_id=campaign_id,
            backer_id=principal.sub,
            backer_kind=principal.kind,
            backer_is_resident=principal.has("resident") and principal.verified,
            backer_neighbourhood=principal.neighbourhood,
            amount_cents=amount_cents,
            reward_id=reward_id,
            channel="online",
            method="card",
            status=domain.PENDING,
            provider=cf.provider.name,
            recorded_by=None,
            now=now,
            units=units,
        )
    # The pledge is committed (pending) before the card is touched: a campaign claimed for
    # settlement from now on waits for this answer (domain.ready_to_decide), and a pledge
    # that comes after the claim was refused above, before any card was touched.
    try:
        result = await cf.provider.authorise(
            idempotency_key=idempotency_key(row.id, "authorise"),
            amount_cents=amount_cents,
            card_token=card_token,
            reference=row.id,
        )
    except ProviderUnavailable as exc:
        async with cf.runtime.unit_of_work() as session:
            await move(session, cf=cf, pledge_id=row.id, target=domain.DECLINED, failure=str(exc))
        raise ProviderDown(
            "The payment provider did not answer; nothing was taken.", code="pledges.provider_down"
        ) from exc
    row = await apply_payment_result(cf, pledge_id=row.id, result=result)
    if row.status == domain.VOIDED:
        raise Conflict(
            "The campaign closed before your card's answer came; its hold was cancelled.",
            pledge_id=row.id,
            code="pledges.closed_while_paying",
        )
    return row


_ANSWER_TARGETS = {
    "authorised": domain.ACTIVE,
    "action_required": domain.AWAITING_ACTION,
    "failed": domain.DECLINED,
}


def payment_of(row: Any) -> Payment:
    return Payment(
        payment_id=row.payment_id,
        reference=row.id,
        amount_cents=row.amount_cents,
        customer_id=row.customer_id,
        method_id=row.method_id,
        charge_id=row.charge_id,
    )


async def apply_payment_result(cf: Crowdfunding, *, pledge_id: str, result: PaymentResult) -> Any:
    """Record the card's answer. If the pledge was closed meanwhile (cancelled, or left out
    of its campaign's settlement), the hold it just got is cancelled at once."""
    async with cf.runtime.unit_of_work() as session:
        await session.execute(
            update(pledges)
            .where(pledges.c.id == pledge_id, pledges.c.payment_id.is_(None))
            .values(
                payment_id=result.payment_id or None,
                customer_id=result.customer_id,
                method_id=result.method_id,
            )
        )
        if result.next_action_url or result.client_secret:
            await session.execute(
                update(pledges)
                .where(pledges.c.id == pledge_id)
                .values(next_action_url=result.next_action_url, client_secret=result.client_secret)
            )
        target = _ANSWER_TARGETS.get(result.status)
        if target:
            await move(session, cf=cf, pledge_id=pledge_id, target=target, failure=result.failure)
        row = await get_pledge(session, pledge_id)
    if result.status in ("authorised", "action_required", "pending") and row.status not in (
        domain.OPEN
    ):
        log.warning("hold for a closed pledge cancelled", pledge_id=pledge_id, status=row.status)
        await cf.provider.void(
            idempotency_key=idempotency_key(pledge_id, "void"), payment=payment_of(row)
        )
    return row


async def record_desk_pledge(
    cf: Crowdfunding,
    *,
    campaign_id: str,
    staff: Principal,
    backer_id: str,
    backer_kind: str,
    backer_is_resident: bool,
    backer_neighbourhood: str | None,
    amount_cents: int,
    method: str,
    reward_id: str | None,
    units: int | None = None,
) -> Any:
    """Cash or a cheque handed in at the town hall: held by the city until settlement."""
    now = clock.now()
    async with cf.runtime.unit_of_work() as session:
        row = await _open_pledge(
            session,
            campaign_id=campaign_id,
            backer_id=backer_id,
            backer_kind=backer_kind,
            backer_is_resident=backer_is_resident,
            backer_neighbourhood=backer_neighbourhood,
            amount_cents=amount_cents,
            reward_id=reward_id,
            channel="desk",
            method=method,
            status=domain.PENDING,
            provider=None,
            recorded_by=staff.sub,
            now=now,
            units=units,
        )
        await move(session, cf=cf, pledge_id=row.id, target=domain.ACTIVE, actor=staff.sub)
        return await get_pledge(session, row.id)


async def cancel(cf: Crowdfunding, *, pledge_id: str, principal: Principal) -> Any:
    now = clock.now()
    async with cf.runtime.unit_of_work() as session:
        row = await get_pledge(session, pledge_id)
        if row.backer_id != principal.sub and not principal.has("staff"):
            raise Forbidden("Only the backer can cancel this pledge.", code="pledges.not_backer")
        campaign = await get_campaign(session, row.campaign_id)
        if campaign.state != domain.LIVE:
            raise Conflict(
                f"The campaign is {campaign.state}: pledges are settled.",
                code="pledges.settled",
                params={"state": campaign.state},
            )
        domain.ensure_cancellable(now=now, deadline=utc(campaign.deadline))
        if domain.CANCELLED not in domain.PLEDGE_TRANSITIONS[row.status]:
            raise Conflict(
                f"A {row.status} pledge cannot be cancelled.",
                pledge_status=row.status,  # `status` is the problem's HTTP status (RFC 9457)
                code="pledges.not_cancellable",
                params={"status": row.status},
            )
    if row.channel == "online" and row.payment_id:
        await cf.provider.void(
            idempotency_key=idempotency_key(row.id, "void"), payment=payment_of(row)
        )
    async with cf.runtime.unit_of_work() as session:
        if not await move(session, cf=cf, pledge_id=pledge_id, target=domain.CANCELLED):
            raise Conflict(
                "This pledge changed meanwhile and can no longer be cancelled.",
                code="pledges.not_cancellable",
            )
        return await get_pledge(session, pledge_id)


_EVENTS = {
    domain.ACTIVE: PledgeMade,
    domain.CANCELLED: PledgeCancelled,
    domain.CAPTURED: PledgeCaptured,
    domain.CAPTURE_FAILED: PledgeCaptureFailed,
    domain.VOIDED: PledgeRefunded,
    domain.REFUNDED: PledgeRefunded,
}


async def move(
    session: AsyncSession,
    *,
    cf: Crowdfunding,
    pledge_id: str,
    target: str,
    failure: str | None = None,
    actor: str | None = None,
) -> bool:
    """Move a pledge to `target` if its lifecycle allows it; True if it moved (once)."""
    for _ in range(3):
        row = await get_pledge(session, pledge_id)
        if target not in domain.PLEDGE_TRANSITIONS[row.status]:
            return False
        values: dict = {"status": target, "updated_at": clock.now()}
        if failure:
            values["failure"] = failure[:200]
        if row.status == domain.AWAITING_ACTION:  # the step is done (or moot): forget it
            values.update(next_action_url=None, client_secret=None)
        if target in domain.RELEASING and row.match_status == "reserved":
            values["match_status"] = "returned"
        elif target == domain.CAPTURED and row.match_status == "reserved":
            values["match_status"] = "released"
        moved = await session.execute(
            update(pledges)
            .where(pledges.c.id == pledge_id, pledges.c.status == row.status)
            .values(**values)
        )
        if moved.rowcount == 1:
            await _after_move(session, cf=cf, row=row, target=target, failure=failure, actor=actor)
            return True
    return False


async def _after_move(session, *, cf: Crowdfunding, row: Any, target: str, failure, actor) -> None:
    if target in domain.RELEASING:
        if row.reward_id:
            await session.execute(
                update(rewards)
                .where(rewards.c.id == row.reward_id, rewards.c.remaining.is_not(None))
                .values(remaining=rewards.c.remaining + (row.units or 1))
            )
        if row.match_status == "reserved":
            await matching.return_match(session, pledge=row, campaign_id=row.campaign_id)
    if target == domain.CAPTURED and row.match_status == "reserved":
        await matching.release_match(session, pledge=row)
    contract = _EVENTS.get(target)
    # A pledge whose authorisation never came through was never "made": no event for it.
    if contract is None or (row.status in domain.UNCONFIRMED and target != domain.ACTIVE):
        return
    extra = {"reason": failure or ""} if contract is PledgeCaptureFailed else {}
    event = make_event(
        contract(
            pledge_id=row.id,
            campaign_id=row.campaign_id,
            backer_id=row.backer_id,
            backer_kind=row.backer_kind,
            backer_neighbourhood=row.backer_neighbourhood,
            amount_cents=row.amount_cents,
            matched_cents=row.matched_cents,
            channel=row.channel,
            **extra,
        ),
        aggregate_id=row.campaign_id,
        territory=cf.runtime.territory(row.backer_neighbourhood),
        actor=actor or row.backer_id,
    )
    await record(session, event)


# --- webhooks --------------------------------------------------------------------------

_WEBHOOK_TARGETS = {
    "authorised": domain.ACTIVE,
    "action_required": domain.AWAITING_ACTION,
    "failed": domain.DECLINED,
    "captured": domain.CAPTURED,
    "voided": domain.VOIDED,
    "refunded": domain.REFUNDED,
}


async def handle_webhook(cf: Crowdfunding, *, body: bytes, headers) -> dict:
    """Verify, deduplicate, apply. Duplicates and stale (out-of-order) news change nothing."""
    try:
        hook = cf.provider.parse_webhook(body=body, headers=headers)
    except InvalidSignature as exc:
        raise BadSignature(f"Webhook refused: {exc}.") from exc
    async with cf.runtime.unit_of_work() as session:
        first = await session.execute(
            insert_ignoring_duplicates(session, payment_webhooks).values(
                provider=cf.provider.name,
                event_id=hook.id,
                type=hook.type,
                payment_id=hook.payment_id,
                received_at=clock.now(),
            )
        )
        if first.rowcount != 1:
            return {"status": "duplicate", "event_id": hook.id}
        row = (
            await session.execute(select(pledges).where(pledges.c.id == hook.reference))
        ).one_or_none()
        if row is None:
            return {"status": "ignored", "event_id": hook.id, "reason": "unknown reference"}
        await session.execute(
            update(pledges)
            .where(pledges.c.id == row.id, pledges.c.payment_id.is_(None))
            .values(payment_id=hook.payment_id)
        )
        if hook.method_id:
            # A card saved in the browser (Stripe.js): the only place we learn its id, which
            # the charge on success (or the void) needs.
            await session.execute(
                update(pledges)
                .where(pledges.c.id == row.id, pledges.c.method_id.is_(None))
                .values(method_id=hook.method_id)
            )
        target = _WEBHOOK_TARGETS.get(hook.status)
        # Capture, void and refund are settlement's to decide; their webhooks only confirm.
        # Authorisation news is the one the provider gives first, so it may move a pledge.
        moved = False
        if target in (domain.ACTIVE, domain.AWAITING_ACTION, domain.DECLINED):
            failure = "declined by the provider" if target == domain.DECLINED else None
            moved = await move(session, cf=cf, pledge_id=row.id, target=target, failure=failure)
        row = await get_pledge(session, row.id)
    if target in (domain.ACTIVE, domain.AWAITING_ACTION) and row.status in domain.RELEASING:
        # News of a hold on a pledge that is already closed (cancelled, or left out of its
        # settlement before its answer came): the hold must not stay open.
        await cf.provider.void(
            idempotency_key=idempotency_key(row.id, "void"), payment=payment_of(row)
        )
    return {"status": "applied" if moved else "no-change", "event_id": hook.id}
