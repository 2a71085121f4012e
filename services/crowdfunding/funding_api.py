"""HTTP routes of citizen energy units and the Soup evening: thin translations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from libs.common.auth import Holder, OptionalPrincipal, Staff, VerifiedMember
from libs.common.clock import clock
from libs.common.runtime import Runtime
from services.crowdfunding import energy, soup
from services.crowdfunding.api import get_cf
from services.crowdfunding.funding_schemas import (
    EnergyCampaignIn,
    EnergyOut,
    ProductionImportIn,
    ProductionImportOut,
    ProductionIn,
    ProductionMonthOut,
    SoupEveningIn,
    SoupEveningOut,
    UnitsIn,
    UnitsPledgeOut,
)
from services.crowdfunding.pledges import Crowdfunding, pledge_view

router = APIRouter(tags=["energy", "soup"])
CF = Annotated[Crowdfunding, Depends(get_cf)]


# --- citizen energy units ---------------------------------------------------------------


@router.post("/energy-campaigns", status_code=201, response_model=EnergyOut, tags=["energy"])
async def create_energy_campaign(
    body: EnergyCampaignIn, principal: Holder, runtime: Runtime
) -> dict:
    """Draft a campaign selling units of a local renewable installation (then submit,
    review and launch it as any campaign). The yearly return is an estimate."""
    async with runtime.unit_of_work() as session:
        return await energy.create(
            session=session,
            runtime=runtime,
            principal=principal,
            now=clock.now(),
            **body.model_dump(),
        )


@router.get("/campaigns/{campaign_id}/energy", response_model=EnergyOut, tags=["energy"])
async def get_energy(campaign_id: str, runtime: Runtime, principal: OptionalPrincipal) -> dict:
    """The installation, units left, unit price, estimated return and production."""
    async with runtime.db.read() as session:
        return await energy.view(session=session, campaign_id=campaign_id, principal=principal)


@router.post(
    "/campaigns/{campaign_id}/units",
    status_code=201,
    response_model=UnitsPledgeOut,
    tags=["energy"],
)
async def buy_units(campaign_id: str, body: UnitsIn, principal: VerifiedMember, cf: CF) -> dict:
    """Pledge for units at the unit price; sold out: 409 (the stock never goes below 0)."""
    row = await energy.buy_units(
        cf,
        campaign_id=campaign_id,
        principal=principal,
        units=body.units,
        card_token=body.card_token,
    )
    return pledge_view(row)


@router.get(
    "/campaigns/{campaign_id}/production",
    response_model=list[ProductionMonthOut],
    tags=["energy"],
)
async def get_production(
    campaign_id: str, runtime: Runtime, principal: OptionalPrincipal
) -> list[dict]:
    async with runtime.db.read() as session:
        return (await energy.view(session=session, campaign_id=campaign_id, principal=principal))[
            "production"
        ]


@router.put(
    "/campaigns/{campaign_id}/production/{month}",
    response_model=ProductionMonthOut,
    tags=["energy"],
)
async def record_production(
    campaign_id: str, month: str, body: ProductionIn, staff: Staff, runtime: Runtime
) -> dict:
    """Staff: one month's production in kWh (`month` is YYYY-MM); again replaces it."""
    async with runtime.unit_of_work() as session:
        return await energy.record_month(
            session=session,
            runtime=runtime,
            campaign_id=campaign_id,
            month=month,
            kwh=body.kwh,
            staff=staff,
            now=clock.now(),
        )


@router.post(
    "/campaigns/{campaign_id}/production/import",
    response_model=ProductionImportOut,
    tags=["energy"],
)
async def import_production(
    campaign_id: str, body: ProductionImportIn, staff: Staff, runtime: Runtime
) -> dict:
    """Staff: a `month,kwh` CSV, all or nothing; a bad row is named (row and field)."""
    async with runtime.unit_of_work() as session:
        return await energy.import_csv(
            session=session,
            runtime=runtime,
            campaign_id=campaign_id,
            text=body.csv,
            staff=staff,
            now=clock.now(),
        )


# --- the Soup evening -------------------------------------------------------------------


@router.post("/soup-evenings", status_code=201, response_model=SoupEveningOut, tags=["soup"])
async def open_soup_evening(body: SoupEveningIn, staff: Staff, runtime: Runtime, cf: CF) -> dict:
    """Staff: open the evening's pot (live at once) for the budget vote `edition_id`."""
    async with runtime.unit_of_work() as session:
        return await soup.open_evening(
            session=session,
            runtime=runtime,
            staff=staff,
            now=clock.now(),
            commission_base=cf.settings.commission_base,
            **body.model_dump(),
        )


@router.get("/soup-evenings", response_model=list[SoupEveningOut], tags=["soup"])
async def list_soup_evenings(runtime: Runtime) -> list[dict]:
    async with runtime.db.read() as session:
        return await soup.list_evenings(session=session)


@router.get("/soup-evenings/{evening_id}", response_model=SoupEveningOut, tags=["soup"])
async def get_soup_evening(evening_id: str, runtime: Runtime) -> dict:
    """The pot so far, the winner once the diners' vote is counted, and the payout."""
    async with runtime.db.read() as session:
        return await soup.get_evening(session=session, evening_id=evening_id)
