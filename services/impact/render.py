"""Report outputs: open-data CSV and a printable HTML report (inline SVG charts).

Jinja2 is not a dependency of the platform, so the HTML is built with `string.Template` and
`html.escape` on every interpolated value: no data reaches the page unescaped. The page
carries a strict Content-Security-Policy (a meta tag, and `SECURITY_HEADERS` when served).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from decimal import Decimal
from html import escape
from string import Template
from typing import Any

from libs.common import csvsafe

CSV_COLUMNS = (
    "catalogue_version",
    "period",
    "neighbourhood",
    "key",
    "family",
    "unit",
    "breakdown",
    "group",
    "value",
    "low",
    "high",
    "suppressed",
)


def _cell_group(cell: dict[str, Any]) -> tuple[str, str]:
    for dimension in ("neighbourhood", "category", "kind", "profile", "edition"):
        if dimension in cell:
            return dimension, str(cell[dimension])
    return "", ""


def _flat(value: Any) -> tuple[Any, Any, Any]:
    """(value, low, high) as CSV cells: ranges give central/low/high, fractions a fraction.

    Numbers stay numbers (int, float, Decimal), so the CSV writer never mistakes a negative
    amount for a formula; only text goes through the formula neutralisation."""
    if value is None:
        return "", "", ""
    if isinstance(value, dict):
        if "central" in value:
            exact = value.get("exact", value)
            return tuple(_number(exact[k]) for k in ("central", "low", "high"))  # type: ignore[return-value]
        if "fraction" in value:
            return _number(value["fraction"]), "", ""
    return value, "", ""


def _number(value: Any) -> Any:
    return Decimal(value) if isinstance(value, str) else value


def report_csv(report: dict[str, Any]) -> str:
    """One row per indicator and per published cell: the open-data export."""
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")  # no cell reaches a sheet as a formula
    writer.writerow(CSV_COLUMNS)
    base = (
        report["catalogue"]["version"],
        report["period"]["label"],
        report["neighbourhood"] or "",
    )
    for entry in report["indicators"].values():
        value, low, high = _flat(entry["value"])
        writer.writerow(
            (
                *base,
                entry["key"],
                entry["family"],
                entry["unit"],
                "",
                "",
                value,
                low,
                high,
                str(entry["suppressed"]).lower(),
            )
        )
        for cell in entry.get("cells", []):
            dimension, group = _cell_group(cell)
            value, low, high = _flat(cell.get("value"))
            writer.writerow(
                (
                    *base,
                    entry["key"],
                    entry["family"],
                    entry["unit"],
                    dimension,
                    group,
                    value,
                    low,
                    high,
                    str(cell.get("suppressed", False)).lower(),
                )
            )
    return out.getvalue()


# --- HTML ----------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _euros(cents: int | None) -> str:
    if cents is None:
        return "—"
    return f"{cents / 100:,.2f} €".replace(",", " ")


def _show(entry: dict[str, Any]) -> str:
    value = entry["value"]
    if entry["suppressed"]:
        return "suppressed (fewer than k contributors)"
    if value is None:
        return "not applicable"
    if isinstance(value, dict):
        if "fraction" in value:
            return f"{value['percent']} %"
        low, central, high = value["low"], value["central"], value["high"]
        if entry["unit"] == "EUR_cent":
            return f"{_euros(central)} (range {_euros(low)} – {_euros(high)})"
        return f"{central:g} {entry['unit']} (range {low:g} – {high:g})"
    if entry["unit"] == "EUR_cent":
        return _euros(value)
    return f"{value:g} {entry['unit']}" if isinstance(value, int | float) else str(value)


def bar_chart(title: str, bars: list[tuple[str, float | None]], unit: str) -> str:
    """Horizontal bars, one per label; a None value is drawn as 'suppressed'."""
    width, row, left = 640, 22, 170
    height = row * len(bars) + 40
    top = max([v for _, v in bars if v] or [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<text x="0" y="16" font-size="13" font-weight="bold">{_e(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = 30 + i * row
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{_e(label)}</text>')
        if value is None:
            parts.append(
                f'<text x="{left}" y="{y + 14}" font-size="11" fill="#888">suppressed</text>'
            )
            continue
        length = 0 if top == 0 else (width - left - 90) * value / top
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" fill="#2e7d32"/>'
            f'<text x="{left + length + 4:.1f}" y="{y + 14}" font-size="11">'
            f"{value:g} {_e(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, points: list[tuple[str, float | None]], unit: str) -> str:
    """One line over months (a suppressed month is drawn at 0 and labelled so)."""
    points = [(label if v is not None else f"{label} (suppressed)", v or 0) for label, v in points]
    width, height, left, bottom = 640, 220, 50, 40
    plot_w, plot_h = width - left - 20, height - bottom - 30
    top = max([v for _, v in points] or [1]) or 1
    step = plot_w / max(len(points) - 1, 1)
    coords = [(left + i * step, 30 + plot_h - plot_h * v / top) for i, (_, v) in enumerate(points)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<text x="0" y="16" font-size="13" font-weight="bold">{_e(title)} ({_e(unit)})</text>',
        f'<line x1="{left}" y1="{30 + plot_h}" x2="{left + plot_w}" '
        f'y2="{30 + plot_h}" stroke="#999"/>',
        f'<text x="0" y="36" font-size="10">{top:g}</text>',
    ]
    if coords:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>')
    for (label, value), (x, y) in zip(points, coords, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1565c0">'
            f"<title>{_e(label)}: {value:g}</title></circle>"
        )
        parts.append(
            f'<text x="{x - 14:.1f}" y="{height - 20}" font-size="9">{_e(label[2:7])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# The page's one style sheet. It is inline (the report is one standalone file, also written
# by the CLI), allowed by its hash rather than by 'unsafe-inline'; the page has no script.
STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f3f3} .note{color:#555;font-size:.85rem} h2{page-break-before:auto}
@media print{section{page-break-inside:avoid}}
"""
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# Nothing loads or runs but this style sheet; the SVG charts are inline markup with
# presentation attributes (not styles). `frame-ancestors` works only as an HTTP header.
CSP = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
CSP_HEADER = CSP + "; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP_HEADER,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$csp">
<title>$title</title>
<style>$style</style></head><body>
<h1>$title</h1>
<p class="note">Territory: $territory (population $population). Period: $period ($start to $end).
Factor catalogue <strong>$catalogue</strong> (SHA-256 <code>$sha</code>). Cells with fewer than
$k contributors are suppressed. Estimates are ranges: central value, then low – high.
Projection: $facts facts, $parked parked events.</p>
<section><h2>Indicators</h2>$indicators</section>
<section><h2>Per neighbourhood</h2>$neighbourhoods$bars</section>
<section><h2>Month by month</h2>$lines</section>
<section><h2>Participatory budget editions</h2>$editions</section>
<section><h2>Methodology appendix: every factor and its source</h2>
<p class="note">Each estimate multiplies counts of platform events by these factors, evaluated
three times (all low, all central, all high factors). See services/impact/methodology.md.</p>
$factors</section>
</body></html>
""")


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: dict[str, Any]) -> str:
    """The printable report for the city council."""
    version = report["catalogue"]["version"]
    indicators = _table(
        ["family", "indicator", "value", "catalogue"],
        [[e["family"], e["key"], _show(e), version] for e in report["indicators"].values()],
    )
    rows = report.get("neighbourhoods", [])
    neighbourhoods = _table(
        [
            "neighbourhood",
            "population",
            "active members",
            "share of residents",
            "loans",
            "CO2e avoided by loans (kg)",
            "services",
            "money raised",
        ],
        [
            [
                r["name"],
                r["population"],
                r["active_members"] if r["active_members"] is not None else "suppressed",
                f"{r['share_of_residents']['percent']} %" if r["share_of_residents"] else "—",
                r["loans"] if r["loans"] is not None else "suppressed",
                (
                    f"{r['co2e_avoided_by_loans']['central']:g} "
                    f"({r['co2e_avoided_by_loans']['low']:g} – "
                    f"{r['co2e_avoided_by_loans']['high']:g})"
                )
                if r["co2e_avoided_by_loans"]
                else "suppressed",
                r["services"] if r["services"] is not None else "suppressed",
                _euros(r["money_raised"]),
            ]
            for r in rows
        ],
    )
    bars = bar_chart(
        "Loans per neighbourhood", [(r["name"], r["loans"]) for r in rows], "loans"
    ) + bar_chart(
        "CO2e avoided by loans per neighbourhood (central)",
        [
            (
                r["name"],
                r["co2e_avoided_by_loans"]["central"] if r["co2e_avoided_by_loans"] else None,
            )
            for r in rows
        ],
        "kgCO2e",
    )
    monthly = report.get("monthly", [])
    lines = line_chart("Loans per month", [(m["month"], m["loans"]) for m in monthly], "loans")
    lines += line_chart(
        "CO2e avoided per month (central)",
        [(m["month"], (m["co2e_avoided_kg"] or {}).get("central")) for m in monthly],
        "kgCO2e",
    )
    lines += line_chart(
        "Money raised per month", [(m["month"], m["money_raised"] / 100) for m in monthly], "EUR"
    )
    editions = _table(
        [
            "edition",
            "proposals",
            "supports",
            "voters",
            "eligible",
            "turnout",
            "allocated",
            "leftover",
            "selected",
            "delivered",
        ],
        [
            [
                e["edition"],
                e["proposals"],
                e["supports"],
                e["voters"],
                e["eligible"],
                f"{e['turnout']['percent']} %" if e["turnout"] else "not applicable",
                _euros(e["allocated_cents"]),
                _euros(e["leftover_cents"]),
                e["projects_selected"],
                e["projects_delivered"],
            ]
            for e in report.get("editions", [])
        ],
    )
    factors = _table(
        ["factor", "central", "low", "high", "unit", "scope", "source", "licence", "proxy"],
        [
            [
                f["key"],
                f["value"],
                f["low"],
                f["high"],
                f["unit"],
                f["scope"],
                f["source"] + (f" (upstream: {f['upstream']})" if f["upstream"] else ""),
                f["licence"],
                f"yes: {f['proxy_note']}" if f["proxy"] else "no",
            ]
            for f in report["factors"]
        ],
    )
    return PAGE.substitute(
        csp=_e(CSP),
        style=STYLE,
        title=_e(report["title"]),
        territory=_e(report["territory"]["name"]),
        population=_e(report["territory"]["population"]),
        period=_e(report["period"]["label"]),
        start=_e(report["period"]["from"]),
        end=_e(report["period"]["to"]),
        catalogue=_e(version),
        sha=_e(report["catalogue"]["sha256"]),
        k=_e(report["min_cell"]),
        facts=_e(report["projection"]["facts"]),
        parked=_e(report["projection"]["parked_events"]),
        indicators=indicators,
        neighbourhoods=neighbourhoods,
        bars=bars,
        lines=lines,
        editions=editions,
        factors=factors,
    )


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, default=str)
