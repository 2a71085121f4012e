"""The collectivity's pages: the impact dashboard, its methodology, report downloads."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libs.common.clock import clock
from services.portal.backends import BackendDown, BackendProblem
from services.portal.web import Services, Viewer, language, render

router = APIRouter(include_in_schema=False)
HEADLINES = (
    "participation.active_members",
    "exchange.loans_by_category",
    "exchange.services_by_kind",
    "exchange.time_credit_minutes",
    "money.raised",
    "money.campaigns_succeeded",
    "money.saved_by_borrowers",
    "environment.co2e_avoided",
    "environment.waste_avoided",
    "participation.contributions",
    "environment.energy_produced",
    "environment.co2e_avoided_by_energy",
)


def shown(entry: dict[str, Any] | None) -> Any:
    """The number to print for an indicator entry (None when suppressed or absent)."""
    if not entry or entry.get("suppressed"):
        return None
    value = entry.get("value")
    if isinstance(value, dict):
        if "central" in value:
            return value["central"]
        if "percent" in value:
            return value["percent"]
        if "total" in value:
            return value["total"]
        return None
    return value


BAR_LEFT = 190  # where the bars start: the labels' column
BAR_VALUE_ROOM = 80  # kept right of the longest bar for its value ("< 5", "1 234")
LABEL_CHARS = 24  # a longer neighbourhood name is cut (the table below has it whole)


def bars(rows: list[dict], label: str, value: str, *, width: int = 640) -> dict:
    """Geometry of a horizontal bar chart (SVG attributes only: no inline styles, CSP-safe).

    The longest bar plus its value label ends inside the drawing (`width`), and the drawing
    scales to its box (viewBox), so no bar or number runs past the box at any width."""
    height_per = 26
    numbers = [max(r.get(value) or 0, 0) for r in rows]
    top = max(numbers, default=0) or 1
    chart_w = width - BAR_LEFT - BAR_VALUE_ROOM
    return {
        "width": width,
        "height": height_per * len(rows) + 10,
        "left": BAR_LEFT,
        "rows": [
            {
                "label": _cut(str(r.get(label) or "")),
                "value": r.get(value),
                "y": i * height_per + 5,
                "w": round(chart_w * n / top, 1),
            }
            for i, (r, n) in enumerate(zip(rows, numbers, strict=True))
        ],
    }


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def columns(rows: list[dict], label: str, value: str, *, height: int = 180) -> dict:
    """Geometry of a vertical bar chart over time."""
    step = 48
    numbers = [r.get(value) or 0 for r in rows]
    top = max(numbers, default=0) or 1
    return {
        "width": max(step * len(rows) + 20, 200),
        "height": height + 40,
        "base": height,
        "rows": [
            {
                "label": r.get(label),
                "value": r.get(value),
                "x": i * step + 10,
                "h": round((height - 20) * (r.get(value) or 0) / top, 1),
            }
            for i, r in enumerate(rows)
        ],
    }


@router.get("/impact")
async def impact_page(
    request: Request, me: Viewer, services: Services, period: str = "all", neighbourhood: str = ""
):
    try:
        report, catalogue = await asyncio.gather(
            services.get(
                "impact",
                "/report",
                params={"period": period, "neighbourhood": neighbourhood or None},
            ),
            services.get("impact", "/indicators"),
        )
    except BackendProblem as exc:
        if exc.status != 422:
            raise
        report, catalogue = None, None
        period = "all"
    if report is None:
        report = await services.get("impact", "/report", params={"period": "all"})
        catalogue = await services.get("impact", "/indicators")
    this_year = clock.now().year
    try:
        edition_names = {e["id"]: e["name"] for e in await services.get("budget", "/editions")}
    except (BackendProblem, BackendDown):
        edition_names = {}
    indicators = report.get("indicators", {})
    headlines = [(key, shown(indicators.get(key)), indicators.get(key)) for key in HEADLINES]
    hoods = report.get("neighbourhoods") or []
    monthly = report.get("monthly") or []
    for row in monthly:
        row["co2e"] = (row.get("co2e_avoided_kg") or {}).get("central")
    return render(
        request,
        "impact/dashboard.html",
        report=report,
        headlines=headlines,
        editions=report.get("editions") or [],
        hoods=hoods,
        loans_chart=bars(hoods, "name", "loans"),
        members_chart=bars(hoods, "name", "active_members"),
        monthly_loans=columns(monthly, "month", "loans"),
        monthly_co2e=columns(monthly, "month", "co2e"),
        definitions=catalogue.get("indicators", []),
        period=period,
        # The impact service's own period names ("2026"): "year:2026" was refused (422) and
        # the page silently fell back to all time.
        periods=[("all", "all")] + [(str(y), str(y)) for y in range(this_year, this_year - 3, -1)],
        neighbourhood=neighbourhood,
        edition_names=edition_names,
    )


DOWNLOADS = ("html", "csv", "json")


@router.get("/impact/report.{fmt}")
async def impact_download(
    request: Request, fmt: str, services: Services, period: str = "all", neighbourhood: str = ""
):
    """The report as printable HTML (print it to PDF, in the reader's language), or as open
    data: CSV or JSON."""
    if fmt not in DOWNLOADS:
        return render(request, "error.html", status=404, message_key="impact.no_format")
    params = {"period": period, "format": fmt, "neighbourhood": neighbourhood or None}
    if fmt == "html":
        params["lang"] = language(request)
    upstream = await services.get("impact", "/report", params=params, raw=True)
    headers = {}
    if "content-disposition" in upstream.headers:
        headers["Content-Disposition"] = upstream.headers["content-disposition"]
    elif fmt == "json":  # the impact service answers JSON inline: a download names its file
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"sharitories-impact-{period}.json")
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    if "content-language" in upstream.headers:
        headers["Content-Language"] = upstream.headers["content-language"]
    if fmt == "html":
        # The report is a standalone document: the impact service's own strict policy (its
        # style sheet allowed by hash) travels with it; this fallback is as strict.
        headers["Content-Security-Policy"] = upstream.headers.get(
            "content-security-policy", "default-src 'none'; img-src data:"
        )
    headers["X-Content-Type-Options"] = "nosniff"
    return Response(
        upstream.content, media_type=upstream.headers.get("content-type"), headers=headers
    )
