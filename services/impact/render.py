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
from services.impact import indicators as ind
from services.impact.wording import Words

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
    # Added at the end (existing consumers read the columns above by position): the factors
    # each figure multiplies (catalogue_version above names their catalogue) and the
    # upstream datasets it rests on.
    "factor_ids",
    "sources",
)
PLATFORM_SOURCE = "Sharitories platform events (counts, no factor)"


def _provenance(report: dict[str, Any], key: str) -> tuple[str, str]:
    """(factor ids, sources) of an indicator: the catalogue keys it multiplies by and the
    datasets behind them; a plain count rests on the platform's events only."""
    definition = ind.INDICATORS.get(key)
    keys = ind.factor_keys_of(definition) if definition else []
    by_key = {f["key"]: f for f in report.get("factors", [])}
    names: list[str] = []
    for factor_key in keys:
        for dataset in by_key.get(factor_key, {}).get("datasets", []):
            cited = f"{dataset['name']} ({dataset['publisher']}, {dataset['licence']}"
            cited += f", {dataset['url']})" if dataset["url"] else ")"
            if cited not in names:
                names.append(cited)
    return ";".join(keys), " | ".join(names) if keys else PLATFORM_SOURCE


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
        provenance = _provenance(report, entry["key"])
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
                *provenance,
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
                    *provenance,
                )
            )
    return out.getvalue()


# --- HTML ----------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _range(w: Words, value: dict[str, Any], unit: str) -> str:
    """'1 234,5 kg CO2e (fourchette 1 000 – 1 500)'."""
    if unit == "EUR_cent":
        central, low, high = (w.euros(round(value[k])) for k in ("central", "low", "high"))
        return f"{central} ({w('range')} {low} – {high})"
    central, low, high = (w.number(value[k]) for k in ("central", "low", "high"))
    return f"{central}\u00a0{w.unit(unit)} ({w('range')} {low} – {high})"


def _show(w: Words, entry: dict[str, Any], k: Any) -> str:
    value, unit = entry["value"], entry["unit"]
    if entry["suppressed"]:
        return w("suppressed", k=k)
    if value is None:
        return w("not_applicable")
    if isinstance(value, dict):
        if "fraction" in value:
            return w.percent(value["percent"])
        return _range(w, value, unit)
    if unit == "EUR_cent":
        return w.euros(value)
    if isinstance(value, int | float):
        return f"{w.number(value)}\u00a0{w.unit(unit)}"
    return str(value)


def _or_hidden(w: Words, value: Any) -> str:
    return w("suppressed_short") if value is None else w.number(value)


def _chart_text(w: Words, bars: list[tuple[str, float | None]], unit: str) -> str:
    """The chart's values as a sentence: the text alternative of the picture."""
    return "; ".join(
        f"{label}: {w('suppressed_short') if v is None else w.number(v) + ' ' + unit}"
        for label, v in bars
    )


def _svg_open(chart_id: str, title: str, desc: str, width: int, height: int) -> str:
    # width/height give the drawing's proportions; the style sheet scales it to its box.
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{_e(title)}</title><desc id="{chart_id}-d">{_e(desc)}</desc>'
    )


def bar_chart(
    w: Words, chart_id: str, title: str, bars: list[tuple[str, float | None]], unit: str
) -> str:
    """Horizontal bars, one per label; a None value is written 'suppressed'."""
    if not bars:
        return ""
    width, row, left = 640, 22, 170
    height = row * len(bars) + 40
    top = max([v for _, v in bars if v] or [1])
    parts = [
        "<figure>",
        _svg_open(chart_id, title, _chart_text(w, bars, unit), width, height),
        f'<text x="0" y="16" font-size="13" font-weight="bold">{_e(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = 30 + i * row
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{_e(label[:24])}</text>')
        if value is None:
            parts.append(
                f'<text x="{left}" y="{y + 14}" font-size="11" fill="#595959">'
                f"{_e(w('suppressed_short'))}</text>"
            )
            continue
        length = 0 if top == 0 else (width - left - 110) * value / top
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" fill="#2e7d32"/>'
            f'<text x="{left + length + 4:.1f}" y="{y + 14}" font-size="11">'
            f"{_e(w.number(value))} {_e(unit)}</text>"
        )
    parts.append(f"</svg><figcaption>{_e(title)}</figcaption></figure>")
    return "".join(parts)


def line_chart(
    w: Words, chart_id: str, title: str, points: list[tuple[str, float | None]], unit: str
) -> str:
    """One line over months (a suppressed month is drawn at 0 and said so in the text)."""
    if not points:
        return ""
    desc = _chart_text(w, [(w.month(m), v) for m, v in points], unit)
    drawn = [(label, v or 0) for label, v in points]
    width, height, left, bottom = 640, 220, 50, 40
    plot_w, plot_h = width - left - 20, height - bottom - 30
    top = max([v for _, v in drawn] or [1]) or 1
    step = plot_w / max(len(drawn) - 1, 1)
    coords = [(left + i * step, 30 + plot_h - plot_h * v / top) for i, (_, v) in enumerate(drawn)]
    every = max(1, len(drawn) // 12)  # at most about twelve month labels under the axis
    parts = [
        "<figure>",
        _svg_open(chart_id, f"{title} ({unit})", desc, width, height),
        f'<text x="0" y="16" font-size="13" font-weight="bold">{_e(title)} ({_e(unit)})</text>',
        f'<line x1="{left}" y1="{30 + plot_h}" x2="{left + plot_w}" '
        f'y2="{30 + plot_h}" stroke="#999"/>',
        f'<text x="0" y="36" font-size="10">{_e(w.number(top))}</text>',
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>')
    for i, ((label, value), (x, y)) in enumerate(zip(points, coords, strict=True)):
        said = w("suppressed_short") if value is None else w.number(value)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1565c0">'
            f"<title>{_e(w.month(label))}: {_e(said)}</title></circle>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x - 14:.1f}" y="{height - 20}" font-size="9">'
                f"{_e(label[5:7])}/{_e(label[2:4])}</text>"
            )
    parts.append(f"</svg><figcaption>{_e(title)}</figcaption></figure>")
    return "".join(parts)


# The page's one style sheet. It is inline (the report is one standalone file, also written
# by the CLI), allowed by its hash rather than by 'unsafe-inline'; the page has no script.
# Tables wrap any long word (hashes, URLs, ids) and become one block per row on narrow
# screens, so nothing runs past the page at 390 px; print is A4 with repeated table heads.
STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.4}
h1{font-size:1.6rem}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .4rem;text-align:left;vertical-align:top;
overflow-wrap:break-word}
th{background:#f3f3f3} td.num{text-align:right;white-space:nowrap}
td.id,.note,code{overflow-wrap:anywhere}
table.fixed{table-layout:fixed} col.w8{width:8%} col.w10{width:10%} col.w11{width:11%}
col.w12{width:12%} col.w16{width:16%} col.w27{width:27%}
figure{margin:1rem 0} figcaption{font-size:.8rem;color:#555}
svg{display:block;max-width:100%;height:auto}
ul.sources{margin:0;padding-left:1rem} a{color:#0b5394;overflow-wrap:anywhere}
@media (max-width:40rem){
body{margin:1rem auto}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
table.stack thead{display:none}
table.stack tr{border:1px solid #ccc;margin:0 0 .6rem}
table.stack td{border:0;border-bottom:1px solid #eee;text-align:left;white-space:normal}
table.stack td::before{content:attr(data-label);display:block;font-weight:bold;
font-size:.75rem;color:#555}
}
@page{size:A4;margin:15mm 12mm}
@media print{
body{max-width:none;margin:0;padding:0;font-size:10pt}
a{color:inherit}
h2{break-after:avoid}
thead{display:table-header-group}
tr,figure{break-inside:avoid}
section.appendix{break-before:page}
}
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
<html lang="$lang"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="$csp">
<title>$title</title>
<style>$style</style></head><body>
<h1>$title</h1>
<p class="note">$intro</p>
<section><h2>$h_indicators</h2>$indicators</section>
$neighbourhoods
<section><h2>$h_monthly</h2>$lines</section>
<section><h2>$h_editions</h2>$editions</section>
<section class="appendix" id="methodology"><h2>$h_methodology</h2>
<p class="note">$methodology_lead</p>
$factors</section>
</body></html>
""")


def _cell(
    value: Any, label: str, *, num: bool = False, markup: bool = False, ident: bool = False
) -> str:
    css = ' class="num"' if num else ' class="id"' if ident else ""
    content = value if markup else _e(value)
    return f'<td{css} data-label="{_e(label)}">{content}</td>'


def _table(
    headers: list[str],
    rows: list[list[Any]],
    *,
    numeric: frozenset[int] = frozenset(),
    markup: frozenset[int] = frozenset(),
    ids: frozenset[int] = frozenset(),
    widths: tuple[str, ...] = (),
) -> str:
    """A table whose cells carry their column's name (shown above them on narrow screens).

    `ids`: columns of identifiers, broken anywhere rather than widening the table; `widths`:
    column width classes (`w14`...) for a fixed layout, where one very long column (the
    sources) would otherwise squeeze the others to a letter a line."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            _cell(c, headers[i], num=i in numeric, markup=i in markup, ident=i in ids)
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    css, cols = "stack", ""
    if widths:
        css += " fixed"
        cols = "<colgroup>" + "".join(f'<col class="{w}">' for w in widths) + "</colgroup>"
    return f'<table class="{css}">{cols}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _sources(datasets: list[dict[str, str]]) -> str:
    items = []
    for d in datasets:
        link = f' — <a href="{_e(d["url"])}">{_e(d["url"])}</a>' if d.get("url") else ""
        items.append(f"<li>{_e(d['name'])} — {_e(d['publisher'])} — {_e(d['licence'])}{link}</li>")
    return f'<ul class="sources">{"".join(items)}</ul>' if items else "—"


def report_html(
    report: dict[str, Any], *, lang: str = "fr", edition_names: dict[str, str] | None = None
) -> str:
    """The printable report for the city council, in French or English.

    Editions are shown by name (the report's `name`, or `edition_names` from the caller);
    one whose creation the projection has not seen is shown by its id."""
    w = Words(lang)
    names = {
        **{e["edition"]: e["name"] for e in report.get("editions", []) if e.get("name")},
        **(edition_names or {}),
    }
    if report["period"].get("edition_name"):
        names.setdefault(report["period"]["edition"], report["period"]["edition_name"])
    k = report["min_cell"]
    version = report["catalogue"]["version"]
    period = w.period(report["period"], names)
    title = f"{w('title')} – {report['territory']['name']} – {period}"
    intro = " ".join(
        [
            f"{w('territory')} : {report['territory']['name']}"
            if w.lang == "fr"
            else f"{w('territory')}: {report['territory']['name']}",
            f"({w('population')} {w.number(report['territory']['population'])}).",
            f"{w('period')}{' :' if w.lang == 'fr' else ':'} {period}.",
            f"{w('catalogue')} {version} (SHA-256 {report['catalogue']['sha256']}).",
            w("suppression", k=k),
            w("ranges"),
            w(
                "projection",
                facts=w.number(report["projection"]["facts"]),
                parked=w.number(report["projection"]["parked_events"]),
            ),
        ]
    )
    indicators = _table(
        [w("h.family"), w("h.indicator"), w("h.value")],
        [
            [w.family(e["family"]), w.indicator(e["key"]), _show(w, e, k)]
            for e in report["indicators"].values()
        ],
    )
    rows = report.get("neighbourhoods")
    neighbourhoods = ""
    if rows is not None:
        table = _table(
            [
                w("h.neighbourhood"),
                w("h.population"),
                w("h.active"),
                w("h.share"),
                w("h.loans"),
                w("h.co2e_loans"),
                w("h.services"),
                w("h.raised"),
            ],
            [
                [
                    r["name"],
                    w.number(r["population"]),
                    _or_hidden(w, r["active_members"]),
                    w.percent(r["share_of_residents"]["percent"])
                    if r["share_of_residents"]
                    else "—",
                    _or_hidden(w, r["loans"]),
                    _range(w, r["co2e_avoided_by_loans"], "kgCO2e")
                    if r["co2e_avoided_by_loans"]
                    else w("suppressed_short"),
                    _or_hidden(w, r["services"]),
                    w.euros(r["money_raised"]),
                ]
                for r in rows
            ],
            numeric=frozenset({1, 2, 3, 4, 6, 7}),
            ids=frozenset({0}),
        )
        charts = bar_chart(
            w,
            "loans-nbhd",
            w("c.loans_nbhd"),
            [(r["name"], r["loans"]) for r in rows],
            w.unit("loans"),
        ) + bar_chart(
            w,
            "co2e-nbhd",
            w("c.co2e_nbhd"),
            [
                (
                    r["name"],
                    r["co2e_avoided_by_loans"]["central"] if r["co2e_avoided_by_loans"] else None,
                )
                for r in rows
            ],
            "kg CO2e",
        )
        neighbourhoods = f"<section><h2>{_e(w('per_neighbourhood'))}</h2>{table}{charts}</section>"
    monthly = report.get("monthly", [])
    if monthly:
        lines = line_chart(
            w,
            "loans-month",
            w("c.loans_month"),
            [(m["month"], m["loans"]) for m in monthly],
            w.unit("loans"),
        )
        lines += line_chart(
            w,
            "co2e-month",
            w("c.co2e_month"),
            [(m["month"], (m["co2e_avoided_kg"] or {}).get("central")) for m in monthly],
            "kg CO2e",
        )
        lines += line_chart(
            w,
            "money-month",
            w("c.money_month"),
            [(m["month"], m["money_raised"] / 100) for m in monthly],
            "€",
        )
        lines += _table(
            [w("h.month"), w("h.loans"), w("h.services"), w("h.co2e"), w("h.raised")],
            [
                [
                    w.month(m["month"]),
                    _or_hidden(w, m["loans"]),
                    _or_hidden(w, m["services"]),
                    _or_hidden(w, (m["co2e_avoided_kg"] or {}).get("central")),
                    w.euros(m["money_raised"]),
                ]
                for m in monthly
            ],
            numeric=frozenset({1, 2, 3, 4}),
        )
    else:
        lines = f"<p>{_e(w('no_data'))}</p>"
    editions_rows = report.get("editions", [])
    editions = f"<p>{_e(w('no_data'))}</p>"
    if editions_rows:
        # Two tables of a few columns each (votes, then money and delivery): ten columns
        # would not fit an A4 page.
        edition = [names.get(e["edition"], e["edition"]) for e in editions_rows]
        editions = _table(
            [
                w("h.edition"),
                w("h.proposals"),
                w("h.supports"),
                w("h.voters"),
                w("h.eligible"),
                w("h.turnout"),
            ],
            [
                [
                    name,
                    w.number(e["proposals"]),
                    w.number(e["supports"]),
                    w.number(e["voters"]),
                    w.number(e["eligible"]),
                    w.percent(e["turnout"]["percent"]) if e["turnout"] else w("not_applicable"),
                ]
                for name, e in zip(edition, editions_rows, strict=True)
            ],
            numeric=frozenset(range(1, 6)),
            ids=frozenset({0}),
        ) + _table(
            [w("h.edition"), w("h.allocated"), w("h.leftover"), w("h.selected"), w("h.delivered")],
            [
                [
                    name,
                    w.euros(e["allocated_cents"]),
                    w.euros(e["leftover_cents"]),
                    w.number(e["projects_selected"]),
                    w.number(e["projects_delivered"]),
                ]
                for name, e in zip(edition, editions_rows, strict=True)
            ],
            numeric=frozenset(range(1, 5)),
            ids=frozenset({0}),
        )
    factors = _table(
        [
            w("h.factor"),
            w("h.central"),
            w("h.low"),
            w("h.high"),
            w("h.unit"),
            w("h.scope"),
            w("h.datasets"),
            w("h.proxy"),
        ],
        [
            [
                f["key"],
                w.number(f["value"], 4),
                w.number(f["low"], 4),
                w.number(f["high"], 4),
                f["unit"],
                f["scope"],
                _sources(f.get("datasets", [])),
                f"{w('yes')} : {f['proxy_note']}"
                if f["proxy"] and w.lang == "fr"
                else f"{w('yes')}: {f['proxy_note']}"
                if f["proxy"]
                else w("no"),
            ]
            for f in report["factors"]
        ],
        markup=frozenset({6}),
        ids=frozenset({0, 4}),
        widths=("w16", "w8", "w8", "w8", "w11", "w12", "w27", "w10"),
    )
    return PAGE.substitute(
        lang=w.lang,
        csp=_e(CSP),
        style=STYLE,
        title=_e(title),
        intro=_e(intro),
        h_indicators=_e(w("indicators")),
        h_monthly=_e(w("monthly")),
        h_editions=_e(w("editions")),
        h_methodology=_e(w("methodology")),
        methodology_lead=_e(w("methodology_lead")),
        indicators=indicators,
        neighbourhoods=neighbourhoods,
        lines=lines,
        editions=editions,
        factors=factors,
    )


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, default=str)
