"""Pages against a fake of the services: tokens, refusals, outages, security headers."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import jwt

from services.portal.testkit import csrf_of, log_in, make_account

ITEM = {
    "id": "it-1",
    "owner_id": "someone-else",
    "title": "Perceuse",
    "description": "",
    "category": "drill",
    "condition": "good",
    "deposit_cents": 2000,
    "max_loan_days": 7,
    "pickup_notes": "",
    "neighbourhood": "faubourg",
    "listed": True,
    "created_at": "2026-01-01T10:00:00Z",
}


async def test_items_near_me_ask_the_exchange_for_my_neighbourhood(portal):
    me = await make_account(portal, email="ben@example.org")
    portal.fake.on("GET", "http://exchange.test/items", [ITEM])
    await log_in(portal.client, "ben@example.org")
    page = await portal.client.get("/items", params={"q": "perce"})
    assert page.status_code == 200 and "Perceuse" in page.text
    [call] = portal.fake.calls[-1:]
    assert call.url.params["neighbourhood"] == me.neighbourhood == "faubourg"
    assert call.url.params["q"] == "perce"
    fragment = await portal.client.get("/items", params={"q": "perce", "fragment": 1})
    assert "<html" not in fragment.text and "Perceuse" in fragment.text


async def test_a_loan_request_carries_a_short_lived_token_for_the_resident(portal):
    me = await make_account(portal, email="ben@example.org")
    portal.fake.on("POST", "http://exchange.test/loans", {"id": "loan-1"}, status=201)
    await log_in(portal.client, "ben@example.org")
    portal.fake.on("GET", "http://exchange.test/items/it-1", ITEM)
    token = await csrf_of(portal.client, "/items/it-1")
    response = await portal.client.post(
        "/items/it-1/borrow",
        data={"starts_on": "2030-01-01", "due_on": "2030-01-03", "csrf": token},
    )
    assert response.headers["location"] == "/loans/loan-1"
    call = portal.fake.calls[-1]
    claims = jwt.decode(
        call.headers["authorization"].split()[1],
        portal.settings.jwt_secret,
        algorithms=["HS256"],
        issuer=portal.settings.jwt_issuer,
    )
    assert claims["sub"] == me.id
    assert claims["roles"] == ["resident"] and claims["neighbourhood"] == "faubourg"
    assert claims["verified"] is True
    assert claims["exp"] - datetime.now(UTC).timestamp() <= 5 * 60 + 5
    assert "ben@example.org" not in str(claims)  # no personal data in tokens


async def test_a_refusal_from_a_service_is_shown_not_a_500(portal):
    await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    portal.fake.on("GET", "http://exchange.test/items/it-1", ITEM)
    portal.fake.on(
        "POST",
        "http://exchange.test/loans",
        {"title": "Conflict", "status": 409, "detail": "The item is already lent then."},
        status=409,
    )
    token = await csrf_of(portal.client, "/items/it-1")
    response = await portal.client.post(
        "/items/it-1/borrow",
        data={"starts_on": "2030-01-01", "due_on": "2030-01-03", "csrf": token},
    )
    assert response.status_code == 303
    page = await portal.client.get(response.headers["location"])
    # A problem without a code the catalogue knows: a generic French sentence, never the
    # service's English detail.
    assert 'role="alert"' in page.text
    assert "The item is already lent then." not in page.text
    assert "plus possible dans l&#39;état actuel" in page.text


async def test_a_service_that_is_down_gives_a_clear_503_page(portal):
    def down(request):
        raise httpx.ConnectError("refused", request=request)

    portal.fake.routes[("GET", "http://budget.test/editions")] = down
    page = await portal.client.get("/budget")
    assert page.status_code == 503
    assert "service du budget participatif" in page.text


async def test_the_home_page_survives_every_service_being_down(portal):
    def down(request):
        raise httpx.ConnectError("refused", request=request)

    for url in ("http://exchange.test/items", "http://crowdfunding.test/campaigns",
                "http://budget.test/editions"):  # fmt: skip
        portal.fake.routes[("GET", url)] = down
    page = await portal.client.get("/")
    assert page.status_code == 200
    assert "Nous ne pouvons pas joindre le service d&#39;échanges" in page.text
    assert "Nous ne pouvons pas joindre le service de financement" in page.text


async def test_pages_send_security_headers_and_the_session_cookie_is_httponly(portal):
    await make_account(portal, email="ben@example.org")
    response = await log_in(portal.client, "ben@example.org")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = await portal.client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


async def test_staff_desk_enters_a_paper_transfer_on_the_residents_behalf(portal):
    payer = await make_account(portal, email="payer@example.org")
    payee = await make_account(portal, email="payee@example.org")
    await make_account(portal, email="agent@example.org", roles=("staff",))
    portal.fake.on("GET", "http://budget.test/editions", [])
    portal.fake.on("GET", "http://crowdfunding.test/campaigns", [])
    portal.fake.on("POST", "http://exchange.test/transfers", {"id": "tr-1"}, status=201)
    await log_in(portal.client, "agent@example.org")
    token = await csrf_of(portal.client, "/staff/desk")
    response = await portal.client.post(
        "/staff/desk/transfer",
        data={"from_email": payer.email, "to_email": payee.email, "minutes": "90",
              "idem": "slip-0001-abcd", "csrf": token},
    )  # fmt: skip
    assert response.status_code == 303
    call = portal.fake.calls[-1]
    assert call.headers["idempotency-key"] == "slip-0001-abcd"
    body = httpx.Response(200, content=call.content).json()
    assert body == {
        "to_member": payee.id,
        "minutes": 90,
        "memo": "",
        "on_behalf_of": payer.id,
    }
    claims = jwt.decode(
        call.headers["authorization"].split()[1], options={"verify_signature": False}
    )
    assert claims["roles"] == ["staff"]


async def test_the_impact_downloads_are_passed_through(portal):
    portal.fake.routes[("GET", "http://impact.test/report")] = lambda request: httpx.Response(
        200,
        text="indicator,value\nloans,1\n",
        headers={"content-type": "text/csv; charset=utf-8",
                 "content-disposition": 'attachment; filename="impact.csv"'},
    )  # fmt: skip
    response = await portal.client.get("/impact/report.csv")
    assert response.status_code == 200
    assert response.text.startswith("indicator,value")
    assert "attachment" in response.headers["content-disposition"]
    assert (await portal.client.get("/impact/report.pdf")).status_code == 404


async def test_the_html_report_keeps_the_impact_services_strict_policy(portal):
    policy = "default-src 'none'; style-src 'sha256-abc='; frame-ancestors 'none'"
    portal.fake.routes[("GET", "http://impact.test/report")] = lambda request: httpx.Response(
        200,
        text="<!doctype html><html></html>",
        headers={"content-type": "text/html; charset=utf-8",
                 "content-security-policy": policy},
    )  # fmt: skip
    response = await portal.client.get("/impact/report.html")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == policy
    assert response.headers["x-content-type-options"] == "nosniff"
