"""Citizen energy units: buy units of a local installation; staff record its production."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Request

from services.portal.backends import BackendDown, BackendProblem
from services.portal.i18n import format_number, translate
from services.portal.web import (
    Form,
    Member,
    Services,
    Staff,
    back_with_problem,
    caller,
    flash,
    language,
    redirect,
    render,
    whole_number,
)

router = APIRouter(include_in_schema=False)
MAX_CSV_BYTES = 100_000


def with_kwh(energy: dict, lang: str) -> dict:
    """kWh as the reader writes numbers (the service counts watt-hours)."""
    energy["produced_kwh"] = format_number(Decimal(energy["produced_wh"]) / 1000, lang)
    for month in energy.get("production", []):
        month["kwh_text"] = format_number(Decimal(month["wh"]) / 1000, lang)
    return energy


async def energy_of(request: Request, services, campaign: dict, me) -> dict | None:
    """The installation of an energy campaign (None for any other campaign)."""
    if campaign.get("kind") != "energy":
        return None
    energy = await services.get(
        "crowdfunding", f"/campaigns/{campaign['id']}/energy", caller=caller(me) if me else None
    )
    return with_kwh(energy, language(request))


@router.post("/campaigns/{campaign_id}/units")
async def buy_units(request: Request, campaign_id: str, me: Member, form: Form, services: Services):
    back = f"/campaigns/{campaign_id}"
    try:
        units = whole_number(form.get("units"), default=1)
        card = form.get("card_token") or None
        row = await services.post(
            "crowdfunding",
            f"/campaigns/{campaign_id}/units",
            caller=caller(me),
            json={"units": units, "card_token": card},
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    lang = language(request)
    if row.get("status") == "awaiting_action" and not row.get("next_action_url"):
        return redirect(f"/my-pledges/{row['id']}/card")
    flash(request, translate(lang, "energy.bought", n=format_number(units, lang)), "success")
    return redirect(back)


@router.get("/staff/energy/{campaign_id}")
async def production_page(request: Request, campaign_id: str, me: Staff, services: Services):
    campaign = await services.get("crowdfunding", f"/campaigns/{campaign_id}", caller=caller(me))
    energy = await energy_of(request, services, campaign, me)
    if energy is None:
        return render(request, "error.html", status=404, message_key="energy.not_energy")
    return render(request, "staff/energy.html", campaign=campaign, energy=energy)


@router.post("/staff/energy/{campaign_id}/production")
async def record_month(
    request: Request, campaign_id: str, me: Staff, form: Form, services: Services
):
    back = f"/staff/energy/{campaign_id}"
    month = str(form.get("month") or "").strip() or "-"
    try:
        await services.request(
            "crowdfunding",
            "PUT",
            f"/campaigns/{campaign_id}/production/{month}",
            caller=caller(me),
            json={"kwh": str(form.get("kwh") or "")},
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    flash(request, translate(language(request), "energy.recorded", month=month), "success")
    return redirect(back)


@router.post("/staff/energy/{campaign_id}/import")
async def import_csv(request: Request, campaign_id: str, me: Staff, form: Form, services: Services):
    back = f"/staff/energy/{campaign_id}"
    lang = language(request)
    upload = form.get("file")
    raw = await upload.read(MAX_CSV_BYTES + 1) if hasattr(upload, "read") else b""
    if not raw or len(raw) > MAX_CSV_BYTES:
        flash(request, translate(lang, "energy.file_missing"), "error")
        return redirect(back)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # spreadsheets on older systems save in Latin-1
    try:
        done = await services.post(
            "crowdfunding",
            f"/campaigns/{campaign_id}/production/import",
            caller=caller(me),
            json={"csv": text},
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    message = translate(
        lang,
        "energy.imported",
        n=format_number(done["recorded"], lang),
        replaced=format_number(done["replaced"], lang),
    )
    flash(request, message, "success")
    return redirect(back)
