"""Address → neighbourhood, from the city's street directory (pure; no I/O after loading)."""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_STREETS_FILE = Path(__file__).parent / "valmont.toml"
_NUMBER = re.compile(r"^\s*\d+\s*(bis|ter|quater|[a-z])?\b[\s,]*", re.IGNORECASE)
_POSTCODE_CITY = re.compile(r",.*$")


def normalise(text: str) -> str:
    """Lower case, no accents, apostrophes and dashes as spaces, single spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[’'\-.]", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Neighbourhood:
    code: str
    name: str


@dataclass(frozen=True)
class StreetDirectory:
    city: str
    name: str
    neighbourhoods: tuple[Neighbourhood, ...]
    streets: dict[str, str]  # normalised street name → neighbourhood code
    street_names: tuple[str, ...]  # as written, for the address autocomplete

    def neighbourhood_of(self, address: str) -> str | None:
        """The neighbourhood of "12 bis rue des Tilleuls, 99000 Valmont", or None."""
        street = _POSTCODE_CITY.sub("", _NUMBER.sub("", address))
        return self.streets.get(normalise(street))

    def name_of(self, code: str | None) -> str:
        return next((n.name for n in self.neighbourhoods if n.code == code), code or "")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(n.code for n in self.neighbourhoods)


def load_directory(path: Path) -> StreetDirectory:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    neighbourhoods, streets, names = [], {}, []
    for code, entry in data.get("neighbourhoods", {}).items():
        neighbourhoods.append(Neighbourhood(code=code, name=entry.get("name", code)))
        for street in entry.get("streets", []):
            key = normalise(street)
            if key in streets:
                raise ValueError(f"{path}: street {street!r} is in two neighbourhoods")
            streets[key] = code
            names.append(street)
    return StreetDirectory(
        city=data["city"],
        name=data.get("name", data["city"]),
        neighbourhoods=tuple(neighbourhoods),
        streets=streets,
        street_names=tuple(sorted(names, key=normalise)),
    )


@lru_cache
def directory() -> StreetDirectory:
    return load_directory(Path(os.environ.get("PORTAL_STREETS_FILE", DEFAULT_STREETS_FILE)))
