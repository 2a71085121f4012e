"""The impact service's edge: dates and periods in queries lie in sane years (422 else)."""

from __future__ import annotations

import pytest

from services.impact.app import create_app


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # parsing does not depend on the database


@pytest.fixture
async def impact(service_factory):
    return await service_factory("impact", create_app)


KEY = "environment.co2e_avoided_by_loans"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "0151-10-01"}, "query.from"),
        ({"to": "2101-01-01"}, "query.to"),
        ({"from": "0"}, "query.from"),
    ],
)
async def test_series_dates_are_iso_and_bounded(impact, params, field):
    response = await impact.client.get(f"/indicators/{KEY}", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize("period", ["0151", "9999-12", "0151-10-01", "2101-W01"])
async def test_report_periods_outside_the_platform_years_are_refused(impact, period):
    response = await impact.client.get("/report", params={"period": period})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.period"


async def test_a_period_within_the_years_is_reported(impact):
    response = await impact.client.get("/report", params={"period": "2026-05"})
    assert response.status_code == 200, response.text


async def test_the_report_of_an_unknown_edition_is_empty_not_a_crash(impact):
    # Found by tests/test_openapi_fuzz.py: the monthly series spanned 1970..9999 and failed.
    response = await impact.client.get("/report", params={"period": "edition:nothing-here"})
    assert response.status_code == 200, response.text
    assert response.json()["monthly"] == []


async def test_a_csv_named_after_any_edition_id_has_a_plain_file_name(impact):
    # Found by tests/test_openapi_fuzz.py: a non-latin-1 label broke the response header.
    response = await impact.client.get(
        "/report", params={"period": "edition:été-𖈜 2030", "format": "csv"}
    )
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="sharitories-impact-edition_')
    assert disposition.isascii()
