"""The report as a council member reads it (issue 17): French or English, labels instead of
keys, readable periods and numbers, every factor citing its upstream dataset, and the CSV
saying which factors, catalogue and sources stand behind each figure."""

from __future__ import annotations

import csv
import io
import re

import pytest

from services.impact import indicators as ind
from services.impact.catalogue import CURRENT_VERSION, load_catalogue
from services.impact.citations import datasets_of
from services.impact.render import CSV_COLUMNS, PLATFORM_SOURCE
from services.impact.tests.test_impact_service import impact, publish, until_applied
from services.impact.wording import INDICATOR_LABELS, Words, language_of
from tests.impact_scenario import hand_computed_scenario

__all__ = ["impact"]

RAW_KEY = re.compile(r"\b(participation|exchange|money|environment|delivery)\.[a-z_]+\b")


async def loaded(service) -> None:
    events = hand_computed_scenario()
    for envelope in events:
        await publish(service, envelope)
    await until_applied(service, len(events))


def visible_text(page: str) -> str:
    """What a reader sees: the page without its markup and its style sheet."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


def test_every_indicator_has_a_label_in_both_languages():
    assert set(INDICATOR_LABELS) == set(ind.INDICATORS)
    assert all(fr and en and fr != key for key, (fr, en) in INDICATOR_LABELS.items())


def test_every_factor_cites_an_upstream_dataset_with_publisher_licence_and_url():
    catalogue = load_catalogue()
    for factor in catalogue.factors.values():
        cited = datasets_of(factor)
        assert cited, factor.key
        for dataset in cited:
            assert dataset.name and dataset.publisher and dataset.licence
            # Only our own assumptions have no upstream address.
            assert dataset.url.startswith("https://") or dataset.id == "sharitories"
    # The steel floor comes from ADEME's Base Empreinte through Nos Gestes Climat.
    steel = {d.id for d in datasets_of(catalogue.factor("material.steel_per_kg"))}
    assert {"ademe-base-empreinte", "nosgestesclimat"} <= steel


@pytest.mark.parametrize(
    ("requested", "header", "expected"),
    [
        ("en", "fr-FR,fr;q=0.9", "en"),
        (None, "en-GB,en;q=0.9,fr;q=0.5", "en"),
        (None, "de-DE, fr;q=0.3, en;q=0.8", "en"),
        (None, "de-DE", "fr"),
        (None, None, "fr"),
        ("xx", "en;q=0", "fr"),
    ],
)
def test_the_language_comes_from_the_query_then_the_browser(requested, header, expected):
    assert language_of(requested, header) == expected


def test_periods_and_numbers_read_as_people_say_them():
    fr, en = Words("fr"), Words("en")
    everything = {"kind": "all", "label": "all", "from": "2000-01-01", "to": "2099-12-31"}
    assert fr.period(everything) == "depuis le début"
    assert en.period(everything) == "since the start"
    assert fr.period({"kind": "year", "label": "2026"}) == "année 2026"
    assert fr.period({"kind": "month", "label": "2026-03"}) == "mars 2026"
    assert en.period({"kind": "month", "label": "2026-03"}) == "March 2026"
    edition = {"kind": "edition", "label": "edition:e-1", "edition": "e-1"}
    assert fr.period(edition, {"e-1": "Budget 2026"}) == "édition Budget 2026"
    assert fr.number(1234.5) == "1\u202f234,5"
    assert en.number(1234.5) == "1,234.5"
    assert fr.euros(123456) == "1\u202f234,56\u00a0€"


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_the_html_report_speaks_one_language_and_no_raw_key(impact, lang):
    await loaded(impact)
    said = {
        "fr": ("année 2026", "depuis le début", "mars 2026"),
        "en": ("year 2026", "since the start", "March 2026"),
    }
    for period, words in zip(("2026", "all", "2026-03"), said[lang], strict=True):
        response = await impact.client.get(
            "/report", params={"period": period, "format": "html", "lang": lang}
        )
        assert response.status_code == 200
        assert response.headers["content-language"] == lang
        page = response.text
        assert f'<html lang="{lang}">' in page
        text = visible_text(page)
        assert RAW_KEY.findall(text) == [], period
        assert "1970" not in text and "9999" not in text and "2099-12-31" not in text
        assert "shared/impact-factors" not in text  # sources are upstream datasets, not paths
        assert "Base Empreinte" in text and "https://base-empreinte.ademe.fr/" in text
        assert words in text
        label = INDICATOR_LABELS["participation.active_members"][0 if lang == "fr" else 1]
        assert label in text


async def test_the_browser_language_chooses_the_report_language(impact):
    await loaded(impact)
    english = await impact.client.get(
        "/report", params={"format": "html"}, headers={"Accept-Language": "en-GB,en;q=0.9"}
    )
    assert '<html lang="en">' in english.text and "Vary" in english.headers
    french = await impact.client.get("/report", params={"format": "html"})
    assert '<html lang="fr">' in french.text and "Rapport d&#x27;impact" in french.text
    bad = await impact.client.get("/report", params={"format": "html", "lang": "de"})
    assert bad.status_code == 422
    assert "lang" in bad.text


async def test_french_report_writes_decimal_commas_and_readable_months(impact):
    await loaded(impact)
    page = (await impact.client.get("/report", params={"period": "2026", "format": "html"})).text
    text = visible_text(page)
    assert "année 2026" in text
    assert re.search(r"\d,\d+\u00a0kg CO2e", text)  # a French decimal comma before a unit
    assert re.search(r"(janvier|février|mars|avril|mai|juin) 2026", text)
    # Charts carry their values as text for readers who cannot see them.
    assert text.count("<desc") == 0 and page.count("<desc id=") >= 2
    assert 'role="img"' in page and "aria-labelledby=" in page


async def test_the_csv_names_factors_catalogue_and_sources_of_every_figure(impact):
    await loaded(impact)
    text = (await impact.client.get("/report", params={"period": "2026", "format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    header = next(csv.reader(io.StringIO(text)))
    assert tuple(header) == CSV_COLUMNS
    # The new columns come last: consumers reading the first twelve by position still work.
    assert header[:12][0] == "catalogue_version" and header[-2:] == ["factor_ids", "sources"]
    assert rows and all(r["catalogue_version"] == CURRENT_VERSION and r["sources"] for r in rows)
    loans = next(r for r in rows if r["key"] == "environment.co2e_avoided_by_loans")
    assert "loan.purchase_substitution" in loans["factor_ids"].split(";")
    assert "footprint.drill" in loans["factor_ids"].split(";")
    assert "Base Empreinte" in loans["sources"] and "https://" in loans["sources"]
    count = next(r for r in rows if r["key"] == "exchange.loans_by_category")
    assert count["factor_ids"] == "" and count["sources"] == PLATFORM_SOURCE


async def test_editions_are_named_as_the_budget_named_them(impact):
    await loaded(impact)
    report = (await impact.client.get("/report", params={"period": "edition:PB26"})).json()
    assert report["editions"][0]["name"] == "Budget participatif 2026"
    assert report["period"]["edition_name"] == "Budget participatif 2026"
    page = (
        await impact.client.get("/report", params={"period": "edition:PB26", "format": "html"})
    ).text
    text = visible_text(page)
    assert "Rapport d&#x27;impact – Valmont – édition Budget participatif 2026" in text
    assert "PB26" not in text
    # An edition whose creation was never seen keeps its id (nothing is made up).
    unknown = (await impact.client.get("/report", params={"period": "edition:PB99"})).json()
    assert unknown["period"]["edition_name"] is None
