"""Who stands behind each factor: the upstream datasets of `factors/datasets.toml`.

A catalogue row names the file it was taken from (`source`), the study behind it (`upstream`)
and the licence; readers of a report need the upstream dataset, its publisher, its licence
and its address, which this module finds for every factor.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from services.impact.catalogue import Factor

DATASETS_FILE = Path(__file__).parent / "factors" / "datasets.toml"


class Dataset(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    publisher: str
    licence: str
    url: str
    markers: tuple[str, ...]

    def cited(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "publisher": self.publisher,
            "licence": self.licence,
            "url": self.url,
        }


@cache
def datasets(path: Path = DATASETS_FILE) -> tuple[Dataset, ...]:
    with path.open("rb") as handle:
        return tuple(Dataset.model_validate(d) for d in tomllib.load(handle)["dataset"])


def datasets_of(factor: Factor) -> list[Dataset]:
    """The datasets a factor draws on, in the file's order (upstream first)."""
    text = f"{factor.source} {factor.upstream} {factor.licence}".lower()
    return [d for d in datasets() if any(m in text for m in d.markers)]
