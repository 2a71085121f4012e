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
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy import func, select

from libs.common.clock import clock
from libs.common.problems import Invalid, NotFound
from libs.common.runtime import Runtime
from libs.common.types import CivicDate
from services.impact import indicators as ind
from services.impact.catalogue import Catalogue, available_versions, load_catalogue
from services.impact.config import get_impact_settings, territory_from
from services.impact.engine import day_span, gather, series_sums
from services.impact.handlers import LIVE
from services.impact.periods import Window, buckets, last_buckets, parse_period
from services.impact.render import SECURITY_HEADERS, report_csv, report_html
from services.impact.report import build_report, indicator_entries, needs_of, public_tables
from services.impact.wording import language_of

router = APIRouter(tags=["impact"])
SERIES_LIMIT = 400  # periods in one indicator series
TABLE_PARTS = frozenset({"sums", "members", "people"})  # what the suppression pass reads


@lru_cache
def catalogue_of(version: str) -> Catalogue:
    return load_catalogue(version)


def _catalogue(version: str | None) -> Catalogue:
    version = version or get_impact_settings().catalogue_version
    if version not in available_versions():
        raise Invalid(
            f"unknown catalogue version {version!r}; available: {available_versions()}",
            field="query.catalogue",
        )
    return catalogue_of(version)


def _territory():
    return territory_from(str(get_impact_settings().territory_file))


@router.get("/indicators")
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


@router.get("/indicators/{key}")
async def indicator_series(
    runtime: Runtime,
    key: str,
    neighbourhood: str | None = None,
    period: Literal["day", "week", "month", "year", "edition"] = "month",
    from_: CivicDate | None = Query(None, alias="from"),
    to: CivicDate | None = None,
    catalogue: str | None = None,
) -> dict:
    """One indicator per period (day, week, month, year or PB edition) between from and to."""
    if key not in ind.INDICATORS:
        raise NotFound(f"no indicator {key!r}; see GET /indicators")
    cat = _catalogue(catalogue)
    settings = get_impact_settings()
    territory = _territory()
    definition = ind.INDICATORS[key]
    needs_editions = definition.breakdown == "edition"
    # A snapshot read: a long series never waits for, nor blocks, the live consumer.
    async with runtime.db.read(offload=True) as session:
        if period == "edition":
            names = await session.scalars(
                select(LIVE.facts.c.edition)
                .where(LIVE.facts.c.edition.is_not(None), LIVE.facts.c.type.like("budget.%"))
                .group_by(LIVE.facts.c.edition)
                .order_by(func.min(LIVE.facts.c.day))
            )
            windows = [parse_period(f"edition:{n}") for n in names]
        else:
            first, last = await _span(session)
            start, end = from_ or first, to or last
            try:
                if from_ is None:  # the stored span: the latest SERIES_LIMIT periods of it
                    windows, _ = last_buckets(period, start, end, limit=SERIES_LIMIT)
                else:
                    windows = buckets(period, start, end, limit=SERIES_LIMIT)
            except ValueError as exc:
                raise Invalid(str(exc), field="query.from" if from_ else "query.to") from exc
        # Only what this indicator reads; the sums of every month or year in one query.
        parts = needs_of(key, neighbourhood)
        if neighbourhood is None:  # what the suppression pass reads too: read it once
            parts = parts | TABLE_PARTS
        prefetched = None
        if "sums" in parts or "waits" in parts:
            prefetched = await series_sums(session, windows, neighbourhood=neighbourhood)
        series = []
        for i, window in enumerate(windows):
            data = await gather(
                session,
                window,
                neighbourhood=neighbourhood,
                with_editions=needs_editions,
                parts=parts,
                sums=None if prefetched is None else prefetched[i],
            )
            tables = await public_tables(
                session, data, min_cell=settings.min_cell, complete=neighbourhood is None
            )
            entry = indicator_entries(
                data,
                catalogue=cat,
                population=territory.population_of(neighbourhood),
                min_cell=settings.min_cell,
                tables=tables,
            )[key]
            series.append({"period": data.window.as_json(), **entry})
    return {
        "key": key,
        "definition": definition.definition,
        "unit": definition.unit,
        "catalogue_version": cat.version,
        "neighbourhood": neighbourhood,
        "period": period,
        "series": series,
    }


async def _span(session) -> tuple[date, date]:
    first, last = await day_span(session)
    today = clock.today()
    return (first or today, last or today)


PERIOD = r"^(all|\d{4}(-\d{2}|-W\d{2}|-\d{2}-\d{2})?|edition:.+)$"


@router.get(
    "/report",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}}},
)
async def report(
    runtime: Runtime,
    period: Annotated[str, Query(pattern=PERIOD, max_length=200)] = "all",
    format: Literal["json", "csv", "html"] = "json",
    catalogue: str | None = None,
    neighbourhood: str | None = None,
    lang: Literal["fr", "en"] | None = None,
    accept_language: Annotated[str | None, Header(max_length=500)] = None,
) -> dict | PlainTextResponse | HTMLResponse:
    """The full report: JSON, CSV (open data) or printable HTML with a methodology appendix.

    The HTML speaks `lang`, else the reader's Accept-Language (French or English), else
    French; the data (JSON, CSV) are the same in every language."""
    try:
        window: Window = parse_period(period)
    except ValueError as exc:
        raise Invalid(str(exc), field="query.period") from exc
    data = await report_data(
        runtime, window=window, catalogue=_catalogue(catalogue), neighbourhood=neighbourhood
    )
    if format == "csv":
        name = f"sharitories-impact-{window.label}-{data['catalogue']['version']}.csv"
        # A header is latin-1: an edition id in the label may be anything (found by fuzzing).
        name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return PlainTextResponse(
            report_csv(data),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Content-Type-Options": "nosniff",
            },
        )
    if format == "html":
        language = language_of(lang, accept_language)
        return HTMLResponse(
            report_html(data, lang=language),
            headers={**SECURITY_HEADERS, "Content-Language": language, "Vary": "Accept-Language"},
        )
    return data


async def report_data(
    runtime, *, window: Window, catalogue: Catalogue, neighbourhood: str | None = None
) -> dict:
    async with runtime.db.read(offload=True) as session:  # a snapshot: never blocks the consumer
        return await build_report(
            session,
            window=window,
            catalogue=catalogue,
            territory=_territory(),
            min_cell=get_impact_settings().min_cell,
            neighbourhood=neighbourhood,
        )
