"""Citizen energy units: a campaign that sells units of a local renewable installation.

The stock of units is the `remaining` of one reward row created with the installation, so
selling a unit is the same conditional update as taking a reward (`remaining >= units`):
the database refuses the last unit to all but one buyer, and a pledge that ends without
capture gives its units back. Production is recorded per month by staff (typed or from a
CSV); each recording leaves as `crowdfunding.energy.production_recorded`, and recording a
month again replaces the figure.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.contracts.crowdfunding import EnergyProductionRecorded
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, NotFound
from libs.common.runtime import ServiceRuntime
from libs.common.taxonomy import PUBLIC_CAMPAIGN_STATES
from services.crowdfunding import campaigns, domain, pledges
from services.crowdfunding.db import campaigns as campaigns_table
from services.crowdfunding.db import energy_installations, energy_production, rewards
from services.crowdfunding.pledges import Crowdfunding

# Said with every estimate, in the reader's language by the portal (i18n key).
ESTIMATE_NOTICE = "energy.estimate_not_promise"
PRODUCING_STATES = (domain.APPROVED, domain.LIVE, domain.SETTLING, domain.SUCCEEDED)
PRODUCING_STATES += (domain.PAID_OUT,)


def _visible(row: Any, principal: Principal | None) -> bool:
    if row.state in PUBLIC_CAMPAIGN_STATES:
        return True
    return principal is not None and (
        principal.sub == row.holder_id or principal.has("reviewer", "staff")
    )


async def _installation(session: AsyncSession, campaign_id: str) -> Any:
    row = (
        await session.execute(
            select(energy_installations).where(energy_installations.c.campaign_id == campaign_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"Campaign {campaign_id} sells no energy units.", code="energy.not_energy_campaign"
        )
    return row


async def create(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    title: str,
    description: str,
    neighbourhood: str | None,
    duration_days: int,
    technology: str,
    kwp: str,
    address: str,
    unit_price_cents: int,
    units: int,
    estimated_return_cents_per_unit_year: int,
    now: datetime,
) -> dict:
    """A draft energy campaign: the goal is every unit sold at its price."""
    goal = domain.energy_goal_cents(unit_price_cents=unit_price_cents, units=units)
    row = await campaigns.create_campaign(
        session,
        runtime=runtime,
        principal=principal,
        title=title,
        description=description,
        category=domain.ENERGY_CATEGORY,
        neighbourhood=neighbourhood,
        goal_cents=goal,
        duration_days=duration_days,
        now=now,
    )
    reward = await campaigns.add_reward(
        session,
        campaign_id=row.id,
        principal=principal,
        title=title[:200],
        description="",
        min_cents=unit_price_cents,
        stock=units,
    )
    # The kind last: from then on the units are the campaign's one reward.
    await session.execute(
        update(campaigns_table).where(campaigns_table.c.id == row.id).values(kind=domain.ENERGY)
    )
    await session.execute(
        insert(energy_installations).values(
            campaign_id=row.id,
            technology=technology,
            kwp=kwp,
            address=address,
            unit_price_cents=unit_price_cents,
            units_total=units,
            reward_id=reward["id"],
            estimated_return_cents_per_unit_year=estimated_return_cents_per_unit_year,
        )
    )
    return await view(session=session, campaign_id=row.id, principal=principal)


async def view(*, session: AsyncSession, campaign_id: str, principal: Principal | None) -> dict:
    """The installation, its units left, its price and its estimated yearly return."""
    row = await campaigns.get_campaign(session, campaign_id)
    if not _visible(row, principal):
        raise NotFound(f"No campaign {campaign_id}.", code="campaigns.not_found")
    inst = await _installation(session, campaign_id)
    left = await session.scalar(select(rewards.c.remaining).where(rewards.c.id == inst.reward_id))
    produced = await session.scalar(
        select(func.coalesce(func.sum(energy_production.c.wh), 0)).where(
            energy_production.c.campaign_id == campaign_id
        )
    )
    return {
        "campaign_id": row.id,
        "title": row.title,
        "state": row.state,
        "neighbourhood": row.neighbourhood,
        "technology": inst.technology,
        "kwp": inst.kwp,
        "address": inst.address,
        "unit_price_cents": inst.unit_price_cents,
        "units_total": inst.units_total,
        "units_left": int(left or 0),
        "reward_id": inst.reward_id,
        "goal_cents": row.goal_cents,
        "estimated_return_cents_per_unit_year": inst.estimated_return_cents_per_unit_year,
        "return_is_estimate": True,
        "estimate_notice": ESTIMATE_NOTICE,
        "produced_wh": int(produced or 0),
        "production": await production(session=session, campaign_id=campaign_id),
    }


async def buy_units(
    cf: Crowdfunding,
    *,
    campaign_id: str,
    principal: Principal,
    units: int,
    card_token: str | None,
) -> Any:
    """Pledge for `units` units at the unit price (captured only if the campaign succeeds)."""
    async with cf.runtime.db.read() as session:
        inst = await _installation(session, campaign_id)
    return await pledges.pledge(
        cf,
        campaign_id=campaign_id,
        principal=principal,
        amount_cents=inst.unit_price_cents * units,
        reward_id=inst.reward_id,
        card_token=card_token,
        units=units,
    )


async def production(*, session: AsyncSession, campaign_id: str) -> list[dict]:
    rows = await session.execute(
        select(energy_production)
        .where(energy_production.c.campaign_id == campaign_id)
        .order_by(energy_production.c.month)
    )
    return [
        {
            "month": r.month.strftime("%Y-%m"),
            "wh": int(r.wh),
            "kwh": str(Decimal(int(r.wh)) / 1000),
            "source": r.source,
            "record_id": r.record_id,
        }
        for r in rows.all()
    ]


async def _producing_campaign(session: AsyncSession, campaign_id: str) -> Any:
    row = await campaigns.get_campaign(session, campaign_id)
    await _installation(session, campaign_id)
    if row.state not in PRODUCING_STATES:
        raise Conflict(
            f"A {row.state} campaign has no installation producing yet.",
            code="energy.not_producing",
            params={"state": row.state},
        )
    return row


async def _record(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    row: Any,
    month: date,
    wh: int,
    source: str,
    staff: Principal,
    now: datetime,
) -> dict:
    """One month's figure: replaces an earlier one, and says so in an event."""
    record_id = new_id()
    values = {
        "record_id": record_id,
        "wh": wh,
        "source": source,
        "recorded_by": staff.sub,
        "recorded_at": now,
    }
    replaced = await session.execute(
        update(energy_production)
        .where(energy_production.c.campaign_id == row.id, energy_production.c.month == month)
        .values(**values)
    )
    if replaced.rowcount == 0:
        await session.execute(
            insert(energy_production).values(campaign_id=row.id, month=month, **values)
        )
    await record(
        session,
        make_event(
            EnergyProductionRecorded(
                record_id=record_id,
                campaign_id=row.id,
                neighbourhood=row.neighbourhood,
                month=month,
                wh=wh,
            ),
            aggregate_id=row.id,
            territory=runtime.territory(row.neighbourhood),
            actor=staff.sub,
        ),
    )
    return {
        "month": month.strftime("%Y-%m"),
        "wh": wh,
        "kwh": str(Decimal(wh) / 1000),
        "source": source,
        "record_id": record_id,
        "replaced": replaced.rowcount > 0,
    }


async def record_month(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    campaign_id: str,
    month: str,
    kwh: str,
    staff: Principal,
    now: datetime,
) -> dict:
    """Staff type one month's production (kWh) in the form."""
    first_day = domain.parse_month(month, field_name="path.month")
    domain.ensure_past_month(first_day, today=now.date(), field_name="path.month")
    wh = domain.kwh_to_wh(kwh)
    row = await _producing_campaign(session, campaign_id)
    return await _record(
        session,
        runtime=runtime,
        row=row,
        month=first_day,
        wh=wh,
        source="form",
        staff=staff,
        now=now,
    )


async def import_csv(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    campaign_id: str,
    text: str,
    staff: Principal,
    now: datetime,
) -> dict:
    """A whole file, all or nothing: the first bad row is named and nothing is recorded."""
    months = domain.parse_production_csv(text, today=now.date())
    row = await _producing_campaign(session, campaign_id)
    recorded = [
        await _record(
            session, runtime=runtime, row=row, month=m, wh=wh, source="csv", staff=staff, now=now
        )
        for m, wh in months
    ]
    return {
        "campaign_id": campaign_id,
        "recorded": len(recorded),
        "replaced": sum(1 for r in recorded if r["replaced"]),
        "months": recorded,
    }
