"""The impact factor catalogue: versioned CSV files shipped in `factors/`, loaded as typed factors.

A catalogue file is never edited once a report has used it: changing an assumption means adding
`catalogue-v<N+1>.csv`, so every published figure can be recomputed with the factors it used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from libs.common.taxonomy import ITEM_CATEGORIES as ITEM_CATEGORIES  # re-exported

FACTORS_DIR = Path(__file__).parent / "factors"
CURRENT_VERSION = "v2"  # v2 = v1 + the grid electricity factor (citizen energy)
COLUMNS = (
    "key",
    "value",
    "low",
    "high",
    "unit",
    "scope",
    "source",
    "upstream",
    "licence",
    "proxy",
    "proxy_note",
    "note",
)


_FILE_NAME = re.compile(r"^catalogue-(v\d+)\.csv$")


@dataclass(frozen=True)
class Range:
    """A low / central / high estimate; all three in the same unit."""

    low: Decimal
    central: Decimal
    high: Decimal

    def __post_init__(self) -> None:
        if not self.low <= self.central <= self.high:
            raise ValueError(f"range out of order: {self.low} / {self.central} / {self.high}")

    @classmethod
    def exact(cls, value: Decimal | int) -> Range:
        """A range with no uncertainty."""
        value = Decimal(value)
        return cls(value, value, value)

    @classmethod
    def zero(cls) -> Range:
        """The neutral element of addition."""
        return cls.exact(0)

    def __add__(self, other: Range) -> Range:
        return Range(self.low + other.low, self.central + other.central, self.high + other.high)

    def __mul__(self, other: Range | Decimal | int) -> Range:
        # Bound-wise product is only valid for non-negative ranges, which all our factors are.
        if not isinstance(other, Range):
            other = Range.exact(other)
        if self.low < 0 or other.low < 0:
            raise ValueError("range products are defined for non-negative ranges only")
        return Range(self.low * other.low, self.central * other.central, self.high * other.high)

    __rmul__ = __mul__


class Factor(BaseModel):
    """One sourced number of the catalogue, with its uncertainty range."""

    model_config = ConfigDict(frozen=True)

    key: str
    value: Decimal
    low: Decimal
    high: Decimal
    unit: str
    scope: str
    source: str
    upstream: str = ""
    licence: str
    proxy: bool
    proxy_note: str = ""
    note: str = ""

    @model_validator(mode="after")
    def _is_sound(self) -> Factor:
        if not self.low <= self.value <= self.high:
            raise ValueError(f"{self.key}: expected low <= value <= high")
        if not self.source.strip() or not self.licence.strip():
            raise ValueError(f"{self.key}: every factor needs a source and a licence")
        if self.proxy and not self.proxy_note.strip():
            raise ValueError(f"{self.key}: a proxy must say what it stands in for")
        return self

    @property
    def range(self) -> Range:
        """The factor as a low / central / high range."""
        return Range(self.low, self.value, self.high)


@dataclass(frozen=True)
class Catalogue:
    """One version of the factor catalogue."""

    version: str
    factors: Mapping[str, Factor]
    sha256: str  # of the CSV bytes, so a report can prove which file it used

    def factor(self, key: str) -> Factor:
        """The factor named `key`; KeyError names the version when missing."""
        try:
            return self.factors[key]
        except KeyError:
            raise KeyError(f"no factor {key!r} in catalogue {self.version}") from None

    def value(self, key: str) -> Decimal:
        """The central value of a factor."""
        return self.factor(key).value

    def range(self, key: str) -> Range:
        """The low / central / high range of a factor."""
        return self.factor(key).range


def available_versions(directory: Path = FACTORS_DIR) -> list[str]:
    """Catalogue versions found in `directory`, oldest first."""
    found = (_FILE_NAME.match(p.name) for p in directory.iterdir())
    return sorted((m.group(1) for m in found if m), key=lambda v: int(v[1:]))


def load_catalogue(version: str = CURRENT_VERSION, *, path: Path | None = None) -> Catalogue:
    """Load `catalogue-<version>.csv` from the package, or from `path` (a directory or a file)."""
    if path is None:
        path = FACTORS_DIR
    file = path / f"catalogue-{version}.csv" if path.is_dir() else path
    named = _FILE_NAME.match(file.name)
    if named:  # a file path names its own version
        version = named.group(1)
    data = file.read_bytes()
    return Catalogue(
        version=version,
        factors=parse_factors(data.decode("utf-8")),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def parse_factors(text: str) -> dict[str, Factor]:
    """Parse catalogue CSV text into factors keyed by `key`; refuse duplicates and bad rows."""
    reader = csv.DictReader(io.StringIO(text))
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"catalogue lacks columns: {sorted(missing)}")
    factors: dict[str, Factor] = {}
    for line, row in enumerate(reader, start=2):
        if row["key"] in factors:
            raise ValueError(f"line {line}: duplicate factor {row['key']!r}")
        if row["proxy"] not in ("true", "false"):
            raise ValueError(f"line {line}: proxy must be true or false")
        factors[row["key"]] = Factor(
            **{column: row[column] for column in COLUMNS if column != "proxy"},
            proxy=row["proxy"] == "true",
        )
    return factors
