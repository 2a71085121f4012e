"""HTTP API of the impact service: indicator definitions, indicator series, the full report.

Everything here is public open data: no personal data leaves, small cells are suppressed
(k = IMPACT_MIN_CELL, default 5), and every figure names its catalogue version.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from libs.common.problems import Invalid, NotFound
from libs.common.runtime import Runtime
from libs.common.types import CivicDate
from services.impact import indicators as ind
from services.impact import snapshots
from services.impact.catalogue import Catalogue, available_versions, load_catalogue
from services.impact.config import configured_territory, get_impact_settings
from services.impact.periods import Window, parse_period
from services.impact.render import SECURITY_HEADERS, report_csv, report_html
from services.impact.report import build_report, indicator_series_data, series_windows
from services.impact.schemas import IndicatorCatalogue, IndicatorSeries, ReportOut
from services.impact.wording import language_of

router = APIRouter(tags=["impact"])
SERIES_LIMIT = 400  # periods in one indicator series


@lru_cache
def catalogue_of(version: str) -> Catalogue:
    return load_catalogue(version)


def requested_catalogue(version: str | None) -> Catalogue:
    """The catalogue a caller asks for (the configured one by default); 422 if unknown."""
    version = version or get_impact_settings().catalogue_version
    if version not in available_versions():
        raise Invalid(
            f"unknown catalogue version {version!r}; available: {available_versions()}",
            field="query.catalogue",
        )
    return catalogue_of(version)


@router.get("/indicators", response_model=IndicatorCatalogue)
async def list_indicators() -> dict:
    """The catalogue of indicator definitions (keys are stable)."""
    return {
        "catalogue_versions": available_versions(),
        "current_catalogue": get_impact_settings().catalogue_version,
        "min_cell": get_impact_settings().min_cell,
        "indicators": [
            {
                "key": d.key,
                "family": d.family,
                "definition": d.definition,
                "unit": d.unit,
                "breakdown": d.breakdown,
                "small_cells": d.small_cells,
                "factors": ind.factor_keys_of(d),
            }
            for d in ind.INDICATORS.values()
        ],
    }


@router.get("/indicators/{key}", response_model=IndicatorSeries)
async def indicator_series(
    runtime: Runtime,
    key: str,
    neighbourhood: str | None = None,
    period: Literal["day", "week", "month", "year", "edition"] = "month",
    from_: CivicDate | None = Query(None, alias="from"),
    to: CivicDate | None = None,
    catalogue: str | None = None,
) -> Response:
    """One indicator per period (day, week, month, year or PB edition) between from and to."""
    if key not in ind.INDICATORS:
        raise NotFound(f"no indicator {key!r}; see GET /indicators")
    cat = requested_catalogue(catalogue)
    settings = get_impact_settings()
    territory = configured_territory()
    # The periods (index probes) and the snapshot check, which answers most calls, in a
    # light read; the edition list groups facts: an offloaded read.
    reading = runtime.db.read(offload=True) if period == "edition" else runtime.db.probe()
    async with reading as session:
        windows = await _windows(session, period, from_, to)
        snapshot = (
            "series",
            *_scope(runtime, cat, settings),
            key,
            neighbourhood,
            tuple((w.label, w.start, w.end) for w in windows),
        )
        body = await snapshots.current(session, snapshot)
    if body is not None:
        return Response(body, media_type="application/json")
    # A snapshot read: a long series never waits for, nor blocks, the live consumer.
    async with runtime.db.read(offload=True) as session:

        async def build() -> bytes:
            series = await indicator_series_data(
                session,
                key,
                windows,
                catalogue=cat,
                population=territory.population_of(neighbourhood),
                min_cell=settings.min_cell,
                neighbourhood=neighbourhood,
            )
            definition = ind.INDICATORS[key]
            return _json(
                {
                    "key": key,
                    "definition": definition.definition,
                    "unit": definition.unit,
                    "catalogue_version": cat.version,
                    "neighbourhood": neighbourhood,
                    "period": period,
                    "series": series,
                }
            )

        body = await snapshots.kept(session, snapshot, build)
    return Response(body, media_type="application/json")


async def _windows(session, period: str, from_: date | None, to: date | None) -> list[Window]:
    """The periods of a series (report.series_windows), a bad span as a 422 on its field."""
    try:
        return await series_windows(session, period, from_, to, limit=SERIES_LIMIT)
    except ValueError as exc:
        raise Invalid(str(exc), field="query.from" if from_ else "query.to") from exc


def _scope(runtime, cat: Catalogue, settings) -> tuple:
    """What every snapshot depends on besides its query: which database (snapshots of two
    projections never mix; tests run many), the factor catalogue, the suppression
    threshold and the territory."""
    return (
        str(runtime.db.url),
        runtime.db.schema,
        cat.version,
        cat.sha256,
        settings.min_cell,
        str(settings.territory_file),
    )


def _json(data: dict) -> bytes:
    """The bytes FastAPI would send for `data` (encoded once, kept with the snapshot)."""
    return JSONResponse(jsonable_encoder(data)).body


PERIOD = r"^(all|\d{4}(-\d{2}|-W\d{2}|-\d{2}-\d{2})?|edition:.+)$"


@router.get(
    "/report",
    response_model=None,
    responses={
        200: {
            "model": ReportOut,
            "content": {"application/json": {}, "text/csv": {}, "text/html": {}},
        }
    },
)
async def report(
    runtime: Runtime,
    period: Annotated[str, Query(pattern=PERIOD, max_length=200)] = "all",
    format: Literal["json", "csv", "html"] = "json",
    catalogue: str | None = None,
    neighbourhood: str | None = None,
    lang: Literal["fr", "en"] | None = None,
    accept_language: Annotated[str | None, Header(max_length=500)] = None,
) -> Response:
    """The full report: JSON, CSV (open data) or printable HTML with a methodology appendix.

    The HTML speaks `lang`, else the reader's Accept-Language (French or English), else
    French; the data (JSON, CSV) are the same in every language."""
    try:
        window: Window = parse_period(period)
    except ValueError as exc:
        raise Invalid(str(exc), field="query.period") from exc
    cat = requested_catalogue(catalogue)
    settings = get_impact_settings()
    language = language_of(lang, accept_language) if format == "html" else None
    snapshot = ("report", *_scope(runtime, cat, settings), window, neighbourhood)
    rendered = (*snapshot, format, language)
    async with runtime.db.probe() as session:
        body = await snapshots.current(session, rendered)
    if body is None:  # build it (or render the kept data): never blocks the consumer
        async with runtime.db.read(offload=True) as session:

            async def build() -> dict:
                return await build_report(
                    session,
                    window=window,
                    catalogue=cat,
                    territory=configured_territory(),
                    min_cell=settings.min_cell,
                    neighbourhood=neighbourhood,
                )

            async def render() -> bytes:
                data = await snapshots.kept(session, snapshot, build)
                if format == "csv":
                    return report_csv(data).encode()
                if format == "html":
                    return report_html(data, lang=language).encode()
                return _json(data)

            body = await snapshots.kept(session, rendered, render)
    if format == "csv":
        name = f"sharitories-impact-{window.label}-{cat.version}.csv"
        # A header is latin-1: an edition id in the label may be anything (found by fuzzing).
        name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Content-Type-Options": "nosniff",
            },
        )
    if format == "html":
        return Response(
            body,
            media_type="text/html; charset=utf-8",
            headers={**SECURITY_HEADERS, "Content-Language": language, "Vary": "Accept-Language"},
        )
    return Response(body, media_type="application/json")
