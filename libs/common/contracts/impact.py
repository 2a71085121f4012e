"""Events published by the impact service."""

from __future__ import annotations

from pydantic import BaseModel

from libs.common.events import contract


@contract("impact.report.published", 1)
class ReportPublished(BaseModel):
    period: str
    catalogue_version: str
    url: str | None = None
