"""The territory the platform serves, one home: its neighbourhoods' codes, names, populations.

`territory.toml` next to this module is the demo city, Valmont. The budget and impact
services read it by default (BUDGET_TERRITORY_FILE, IMPACT_TERRITORY_FILE name another city's
file), the portal's street directory maps streets to its codes, the demo loads people into it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TERRITORY_FILE = Path(__file__).with_name("territory.toml")


@dataclass(frozen=True)
class Neighbourhood:
    code: str
    name: str
    population: int | None


@cache
def neighbourhoods(path: Path = TERRITORY_FILE) -> tuple[Neighbourhood, ...]:
    """The neighbourhoods of the territory in `path`, in the file's order."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(
        Neighbourhood(code=code, name=entry.get("name", code), population=entry.get("population"))
        for code, entry in data.get("neighbourhoods", {}).items()
    )


def codes(path: Path = TERRITORY_FILE) -> tuple[str, ...]:
    return tuple(n.code for n in neighbourhoods(path))
