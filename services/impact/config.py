"""Impact settings (environment) and the territory configuration (population per neighbourhood)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.territory import TERRITORY_FILE
from services.impact.catalogue import CURRENT_VERSION
from services.impact.indicators import SMALL_CELL_K

DEFAULT_TERRITORY_FILE = TERRITORY_FILE


class ImpactSettings(BaseSettings):
    """IMPACT_MIN_CELL: the k of small-cell suppression; IMPACT_TERRITORY_FILE: the territory."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    min_cell: int = Field(SMALL_CELL_K, alias="IMPACT_MIN_CELL", ge=1)
    territory_file: Path = Field(DEFAULT_TERRITORY_FILE, alias="IMPACT_TERRITORY_FILE")
    catalogue_version: str = Field(CURRENT_VERSION, alias="IMPACT_CATALOGUE_VERSION")


@dataclass(frozen=True)
class Neighbourhood:
    code: str
    name: str
    population: int


@dataclass(frozen=True)
class TerritoryConfig:
    city: str
    name: str
    source: str
    neighbourhoods: tuple[Neighbourhood, ...]

    @property
    def population(self) -> int:
        return sum(n.population for n in self.neighbourhoods)

    def population_of(self, code: str | None) -> int | None:
        if code is None:
            return self.population
        return next((n.population for n in self.neighbourhoods if n.code == code), None)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(n.code for n in self.neighbourhoods)


def load_territory(path: Path) -> TerritoryConfig:
    """Read a territory TOML file: city, name, source and [neighbourhoods.<code>] tables."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    neighbourhoods = tuple(
        Neighbourhood(code=code, name=entry.get("name", code), population=int(entry["population"]))
        for code, entry in data.get("neighbourhoods", {}).items()
    )
    if any(n.population < 0 for n in neighbourhoods):
        raise ValueError(f"{path}: a population cannot be negative")
    return TerritoryConfig(
        city=data["city"],
        name=data.get("name", data["city"]),
        source=data.get("source", ""),
        neighbourhoods=neighbourhoods,
    )


@lru_cache
def get_impact_settings() -> ImpactSettings:
    return ImpactSettings()


@lru_cache
def territory_from(path: str) -> TerritoryConfig:
    return load_territory(Path(path))


def configured_territory() -> TerritoryConfig:
    """The territory the settings name (IMPACT_TERRITORY_FILE), read once."""
    return territory_from(str(get_impact_settings().territory_file))
