"""Request and response models of the energy-unit and Soup-evening routes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.common.publictext import PseudonymousId, PublicText
from libs.common.types import Cents

Amount = Annotated[Cents, Field(gt=0, le=10_000_000_00)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- energy ----------------------------------------------------------------------------


class EnergyCampaignIn(Strict):
    title: PublicText = Field(min_length=3, max_length=200)
    description: str = Field("", max_length=20_000)
    neighbourhood: str | None = Field(None, max_length=50)
    duration_days: int = Field(ge=1, le=365)
    technology: Literal["solar_pv", "wind", "hydro", "biomass_heat"]
    kwp: str = Field(description="peak power in kW, a decimal such as 36.5", max_length=20)
    address: str = Field("", max_length=200)
    unit_price_cents: Amount
    units: int = Field(ge=1, le=100_000)
    estimated_return_cents_per_unit_year: Cents = Field(le=10_000_000_00)

    @field_validator("kwp")
    @classmethod
    def _kwp(cls, value: str) -> str:
        try:
            kwp = Decimal(value.strip().replace(",", "."))
        except Exception:
            kwp = None
        if kwp is None or not kwp.is_finite() or not Decimal(0) < kwp <= Decimal(1_000_000):
            raise ValueError("kwp is a positive decimal such as 36.5")
        return format(kwp.normalize(), "f")  # "100.0" -> "100", never "1E+2"


class ProductionMonthOut(BaseModel):
    month: str  # YYYY-MM
    wh: int
    kwh: str
    source: Literal["form", "csv"]
    record_id: str
    replaced: bool | None = None


class EnergyOut(BaseModel):
    campaign_id: str
    title: str
    state: str
    neighbourhood: str
    technology: str
    kwp: str
    address: str
    unit_price_cents: int
    units_total: int
    units_left: int
    reward_id: str
    goal_cents: int
    estimated_return_cents_per_unit_year: int
    return_is_estimate: bool
    estimate_notice: str
    produced_wh: int
    production: list[ProductionMonthOut]


class UnitsIn(Strict):
    units: int = Field(ge=1, le=1_000)
    # As for any pledge: None when the card is typed into the provider's form.
    card_token: str | None = Field(None, min_length=3, max_length=100)


class UnitsPledgeOut(BaseModel):
    id: str
    campaign_id: str
    status: str
    amount_cents: int
    units: int | None = None
    reward_id: str | None = None
    next_action_url: str | None = None
    client_secret: str | None = None


class ProductionIn(Strict):
    kwh: str = Field(min_length=1, max_length=30, description="kWh, e.g. 1234.5 or 1234,5")


class ProductionImportIn(Strict):
    csv: str = Field(max_length=100_000, description="a month,kwh header, then one row a month")


class ProductionImportOut(BaseModel):
    campaign_id: str
    recorded: int
    replaced: int
    months: list[ProductionMonthOut]


# --- the Soup evening ------------------------------------------------------------------


class SoupEveningIn(Strict):
    edition_id: str = Field(min_length=1, max_length=100, description="the budget vote")
    title: PublicText = Field(min_length=3, max_length=200)
    neighbourhood: str = Field(min_length=1, max_length=50)
    entry_fee_cents: Amount
    hours: int = Field(6, ge=1, le=24)


class SoupWinnerOut(BaseModel):
    proposal_id: str
    title: str
    author_id: PseudonymousId | None = None


class SoupEveningOut(BaseModel):
    id: str
    campaign_id: str
    edition_id: str
    title: str
    neighbourhood: str
    entry_fee_cents: int
    state: Literal["open", "assigned", "no_winner", "paid_out"]
    pot_state: str
    deadline: datetime | None = None
    pledged_cents: int
    diners: int
    commission_rate: str | None = None
    commission_cents: int | None = None
    net_cents: int | None = None
    payout_reference: str | None = None
    winner: SoupWinnerOut | None = None
    assigned_at: datetime | None = None
