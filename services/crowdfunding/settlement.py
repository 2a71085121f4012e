"""Settlement at the deadline: exactly once, with any number of replicas, resumable.

1. Claim: `UPDATE campaigns SET state='settling' … WHERE id=:id AND state='live' AND
   deadline <= now`. One worker wins. From then on a new pledge is refused before any
   card is touched (the pledge's own transaction reads the campaign under a share lock).
   Pledges committed before the claim whose card answer or 3-D Secure step is still due
   belong to the campaign: the decision waits for them, up to CROWDFUNDING_SETTLEMENT_GRACE
   after the deadline (`domain.ready_to_decide`; the campaign stays `settling` without an
   outcome and the next pass tries again). Then the outcome is decided on the authorised
   pledges (and their match) and written down in one transaction. A worker that dies
   leaves a lease that expires; then another worker resumes (`state='settling' AND lease
   < now`). The lease is short and renewed every third of it while the worker lives, so a
   dead worker's campaign is resumed within seconds, a slow one's never.
2. Each open pledge is captured (success) or voided/refunded (failure) with an
   idempotency key derived from the pledge id, then moved by a conditional update. A
   step redone after a crash returns the provider's first answer and moves nothing twice.
   A pledge still unconfirmed after the grace is voided AT THE PROVIDER before it is
   voided here; one whose card answer never came back (no payment id) is voided here and
   its late answer, if any, cancels its own hold (`pledges.apply_payment_result`, the
   webhook handler, and `sharitories crowdfunding reconcile` for a crashed process).
3. Finalise: the figures are computed from the captured pledges, the campaign moves
   `settling → succeeded|failed` conditionally, and the event leaves with that commit.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update

from libs.common.clock import clock
from libs.common.contracts.crowdfunding import CampaignFailed, CampaignSucceeded
from libs.common.events import make_event
from libs.common.logs import get_logger
from libs.common.metrics import SETTLEMENTS_UNFINISHED
from libs.common.outbox import record
from services.crowdfunding import domain, soup
from services.crowdfunding.campaigns import facts, get_campaign
from services.crowdfunding.db import campaigns, pledges, utc
from services.crowdfunding.payments import idempotency_key
from services.crowdfunding.pledges import Crowdfunding, move, payment_of

log = get_logger(__name__)
OPEN = tuple(sorted(domain.OPEN))


async def due_campaign_ids(cf: Crowdfunding, *, now: datetime) -> list[str]:
    async with cf.runtime.db.transaction() as session:
        rows = await session.scalars(
            select(campaigns.c.id)
            .where(
                ((campaigns.c.state == domain.LIVE) & (campaigns.c.deadline <= now))
                | ((campaigns.c.state == domain.SETTLING) & (campaigns.c.settle_lease_until < now))
            )
            .order_by(campaigns.c.deadline)
        )
        return list(rows)


async def settle_due(cf: Crowdfunding) -> list[dict]:
    """Settle every campaign whose deadline has passed (and resume abandoned ones)."""
    now = clock.now()
    done = []
    for campaign_id in await due_campaign_ids(cf, now=now):
        try:
            outcome = await settle_campaign(cf, campaign_id=campaign_id)
        except Exception:
            log.exception("settlement failed; it will be resumed", campaign_id=campaign_id)
            continue
        if outcome:
            done.append(outcome)
    remaining = await due_campaign_ids(cf, now=clock.now())
    SETTLEMENTS_UNFINISHED.set(len(remaining))  # > 0 for long: settlement is stuck
    return done


async def claim(cf: Crowdfunding, *, campaign_id: str, now: datetime) -> str | None:
    """Take the campaign for settlement; returns the outcome to apply, or None."""
    lease = now + timedelta(seconds=cf.settings.settlement_lease_seconds)
    async with cf.runtime.unit_of_work() as session:
        claimed = await session.execute(
            update(campaigns)
            .where(
                campaigns.c.id == campaign_id,
                campaigns.c.state == domain.LIVE,
                campaigns.c.deadline <= now,
            )
            .values(state=domain.SETTLING, settle_lease_until=lease)
        )
        if claimed.rowcount != 1:
            resumed = await session.execute(
                update(campaigns)
                .where(
                    campaigns.c.id == campaign_id,
                    campaigns.c.state == domain.SETTLING,
                    campaigns.c.settle_lease_until < now,
                )
                .values(settle_lease_until=lease)
            )
            if resumed.rowcount != 1:
                return None
        row = await get_campaign(session, campaign_id)
        if row.settle_outcome:
            return row.settle_outcome
        return await _decide(cf, session, row=row, now=now)


async def _decide(cf: Crowdfunding, session, *, row, now: datetime) -> str | None:
    """Decide success or failure once no pledge's card answer is due (or the grace ran out)."""
    unconfirmed = await session.scalar(
        select(func.count()).where(
            pledges.c.campaign_id == row.id, pledges.c.status.in_(domain.UNCONFIRMED)
        )
    )
    grace = timedelta(seconds=cf.settings.settlement_grace_seconds)
    if not domain.ready_to_decide(
        now=now, deadline=utc(row.deadline), unconfirmed=int(unconfirmed), grace=grace
    ):
        # Leave the campaign settling without an outcome; the next pass looks again.
        await session.execute(
            update(campaigns)
            .where(campaigns.c.id == row.id)
            .values(settle_lease_until=now - timedelta(seconds=1))
        )
        log.info("settlement waits for card answers", campaign_id=row.id, pending=unconfirmed)
        return None
    totals = (
        await session.execute(
            select(
                func.coalesce(func.sum(pledges.c.amount_cents), 0),
                func.coalesce(func.sum(pledges.c.matched_cents), 0),
            ).where(pledges.c.campaign_id == row.id, pledges.c.status == domain.ACTIVE)
        )
    ).one()
    succeeded = domain.campaign_reaches_goal(
        goal_cents=row.goal_cents, pledged_cents=int(totals[0]), matched_cents=int(totals[1])
    )
    outcome = domain.SUCCEEDED if succeeded else domain.FAILED
    await session.execute(
        update(campaigns).where(campaigns.c.id == row.id).values(settle_outcome=outcome)
    )
    return outcome


async def settle_campaign(cf: Crowdfunding, *, campaign_id: str) -> dict | None:
    now = clock.now()
    outcome = await claim(cf, campaign_id=campaign_id, now=now)
    if outcome is None:
        return None
    renewal = asyncio.create_task(_renew_lease(cf, campaign_id=campaign_id))
    try:
        await _settle_pledges(cf, campaign_id=campaign_id, outcome=outcome)
        return await _finalise(cf, campaign_id=campaign_id, outcome=outcome)
    except BaseException:
        # Let another pass resume at once rather than after the lease.
        async with cf.runtime.unit_of_work() as session:
            await session.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id, campaigns.c.state == domain.SETTLING)
                .values(settle_lease_until=now - timedelta(seconds=1))
            )
        raise
    finally:
        renewal.cancel()


async def _renew_lease(cf: Crowdfunding, *, campaign_id: str) -> None:
    """Push the lease forward while this worker settles (cancelled when it is done)."""
    seconds = cf.settings.settlement_lease_seconds
    while True:
        await asyncio.sleep(seconds / 3)
        try:
            async with cf.runtime.db.transaction() as session:
                await session.execute(
                    update(campaigns)
                    .where(campaigns.c.id == campaign_id, campaigns.c.state == domain.SETTLING)
                    .values(settle_lease_until=clock.now() + timedelta(seconds=seconds))
                )
        except Exception as exc:  # the next renewal retries; the lease covers two misses
            log.warning("settlement lease not renewed", campaign_id=campaign_id, error=repr(exc))


async def _settle_pledges(cf: Crowdfunding, *, campaign_id: str, outcome: str) -> None:
    async with cf.runtime.db.transaction() as session:
        rows = (
            await session.execute(
                select(pledges)
                .where(pledges.c.campaign_id == campaign_id, pledges.c.status.in_(OPEN))
                .order_by(pledges.c.created_at, pledges.c.id)
            )
        ).all()
    for row in rows:
        target, failure = await _pay(cf, row=row, outcome=outcome)
        async with cf.runtime.unit_of_work() as session:
            await move(session, cf=cf, pledge_id=row.id, target=target, failure=failure)


async def _pay(cf: Crowdfunding, *, row, outcome: str) -> tuple[str, str | None]:
    """Ask the provider (if any) to move the money; return the pledge's next status."""
    capture = outcome == domain.SUCCEEDED and row.status == domain.ACTIVE
    if row.channel == "desk":  # the city holds the cash or cheque itself
        return (
            domain.CAPTURED if capture else domain.release_on_settlement(channel=row.channel)
        ), None
    if not row.payment_id:
        # Its card answer never came back (past the grace): nothing known to cancel here;
        # the late answer cancels its own hold (pledges.apply_payment_result).
        return domain.VOIDED, "the card's answer did not come before settlement"
    if capture:
        result = await cf.provider.capture(
            idempotency_key=idempotency_key(row.id, "capture"), payment=payment_of(row)
        )
        if result.status == "captured":
            if result.charge_id:
                async with cf.runtime.unit_of_work() as session:
                    await session.execute(
                        update(pledges)
                        .where(pledges.c.id == row.id)
                        .values(charge_id=result.charge_id)
                    )
            return domain.CAPTURED, None
        return domain.CAPTURE_FAILED, result.failure or "the capture was refused"
    result = await cf.provider.void(
        idempotency_key=idempotency_key(row.id, "void"), payment=payment_of(row)
    )
    return domain.VOIDED, result.failure


async def _finalise(cf: Crowdfunding, *, campaign_id: str, outcome: str) -> dict | None:
    now = clock.now()
    async with cf.runtime.unit_of_work() as session:
        row = await get_campaign(session, campaign_id)
        captured = (
            await session.execute(
                select(
                    func.coalesce(func.sum(pledges.c.amount_cents), 0),
                    func.coalesce(func.sum(pledges.c.matched_cents), 0),
                    func.count(func.distinct(pledges.c.backer_id)),
                ).where(pledges.c.campaign_id == campaign_id, pledges.c.status == domain.CAPTURED)
            )
        ).one()
        authorised = (
            await session.execute(
                select(
                    func.coalesce(func.sum(pledges.c.amount_cents), 0),
                    func.count(func.distinct(pledges.c.backer_id)),
                ).where(
                    pledges.c.campaign_id == campaign_id,
                    pledges.c.status.in_([domain.VOIDED, domain.REFUNDED]),
                )
            )
        ).one()
        values: dict = {"state": outcome, "settled_at": now, "settle_lease_until": None}
        if outcome == domain.SUCCEEDED:
            figures = domain.settle(
                raised_cents=int(captured[0]),
                matched_cents=int(captured[1]),
                rate=Decimal(row.commission_rate),
                # Campaigns launched before the setting existed keep the rule of their time.
                base=row.commission_base or domain.RAISED_PLUS_MATCH,
            )
            values.update(
                raised_cents=figures.raised_cents,
                matched_cents=figures.matched_cents,
                total_cents=figures.total_cents,
                commission_cents=figures.commission_cents,
                net_cents=figures.net_cents,
                backers=int(captured[2]),
            )
            data = CampaignSucceeded(
                **facts(row, now=now),
                raised_cents=figures.raised_cents,
                matched_cents=figures.matched_cents,
                total_cents=figures.total_cents,
                commission_rate=str(figures.commission_rate),
                commission_cents=figures.commission_cents,
                net_cents=figures.net_cents,
                backers=int(captured[2]),
            )
        else:
            values.update(
                raised_cents=0,
                matched_cents=0,
                total_cents=0,
                commission_cents=0,
                net_cents=0,
                backers=int(authorised[1]),
            )
            data = CampaignFailed(
                **facts(row, now=now), pledged_cents=int(authorised[0]), backers=int(authorised[1])
            )
        done = await session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.state == domain.SETTLING)
            .values(**values)
        )
        if done.rowcount != 1:
            return None
        await record(
            session,
            make_event(
                data, aggregate_id=campaign_id, territory=cf.runtime.territory(row.neighbourhood)
            ),
        )
        if outcome == domain.SUCCEEDED and row.kind == domain.SOUP:
            # A Soup pot whose winner is already known is paid to them now.
            await soup.pay_winner(
                session=session, runtime=cf.runtime, campaign_id=campaign_id, now=now
            )
        return {"campaign_id": campaign_id, "outcome": outcome, **data.model_dump(mode="json")}
