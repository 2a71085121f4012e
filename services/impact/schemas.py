"""Response models of the impact API (what /openapi.json says each route answers)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class IndicatorDefinitionOut(BaseModel):
    key: str
    family: str
    definition: str
    unit: str
    breakdown: str | None
    small_cells: bool
    factors: list[str]


class IndicatorCatalogue(BaseModel):
    catalogue_versions: list[str]
    current_catalogue: str
    min_cell: int
    indicators: list[IndicatorDefinitionOut]


class IndicatorSeries(BaseModel):
    key: str
    definition: str
    unit: str
    catalogue_version: str
    neighbourhood: str | None
    period: str
    # One entry per period: {"period": {...}, "value": ..., "suppressed": ..., "cells": ...}
    series: list[dict[str, Any]]


class ReportOut(BaseModel):
    """The report as JSON (the CSV and HTML forms carry the same figures)."""

    title: str
    territory: dict[str, Any]
    period: dict[str, Any]
    neighbourhood: str | None
    catalogue: dict[str, Any]
    min_cell: int
    projection: dict[str, int]
    indicators: dict[str, dict[str, Any]]
    editions: list[dict[str, Any]]
    neighbourhoods: list[dict[str, Any]] | None = None
    monthly: list[dict[str, Any]] | None = None
    monthly_truncated: bool | None = None
    factors: list[dict[str, Any]]
