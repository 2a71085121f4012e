"""Budget settings (environment) and the territory the budget serves (TOML file).

- BUDGET_BALLOT_SECRET: key of the replacement HMAC (finds a voter's previous ballot). Its
  own secret: no other service holds it. Unset in dev/test: a fixed development value
  (production refuses to start without a strong one, see libs/common).
- BUDGET_TERRITORY_FILE: the territory (country, currency, time zone, neighbourhood codes)
  whose residents vote. Exports and eligibility read it.
- BUDGET_BALLOT_BATCH / BUDGET_BALLOT_FLUSH_SECONDS: sealed ballots wait in memory and are
  written in shuffled batches of this size, or after this many seconds (see voting.py).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.territory import TERRITORY_FILE

DEFAULT_TERRITORY_FILE = TERRITORY_FILE
DEV_BALLOT_SECRET = "sharitories-dev-ballot-secret-change-me-0123456789"


class BudgetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    ballot_secret: str = Field(DEV_BALLOT_SECRET, alias="BUDGET_BALLOT_SECRET")
    territory_file: Path = Field(DEFAULT_TERRITORY_FILE, alias="BUDGET_TERRITORY_FILE")
    ballot_batch: int = Field(16, ge=1, le=10_000, alias="BUDGET_BALLOT_BATCH")
    ballot_flush_seconds: float = Field(300.0, gt=0, alias="BUDGET_BALLOT_FLUSH_SECONDS")


@dataclass(frozen=True)
class TerritoryConfig:
    """What the budget needs to know about the territory: who votes, and how to label it."""

    city: str
    name: str
    country: str
    currency: str
    timezone: str
    neighbourhoods: dict[str, str]  # code → name

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.neighbourhoods)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_territory(path: Path) -> TerritoryConfig:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    neighbourhoods = {
        code: entry.get("name", code) for code, entry in data.get("neighbourhoods", {}).items()
    }
    if not neighbourhoods:
        raise ValueError(f"{path}: a territory needs at least one [neighbourhoods.<code>]")
    return TerritoryConfig(
        city=data["city"],
        name=data.get("name", data["city"]),
        country=data["country"],
        currency=data.get("currency", "EUR"),
        timezone=data.get("timezone", "UTC"),
        neighbourhoods=neighbourhoods,
    )


@lru_cache
def territory_from(path: str) -> TerritoryConfig:
    return load_territory(Path(path))
