"""Participatory budget pages: editions, proposals, supports, the ballot, results, delivery."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from libs.common.money import parse_euros
from libs.common.taxonomy import PB_PHASES
from services.portal.backends import BackendDown, BackendProblem
from services.portal.debate import pages as debate_pages
from services.portal.i18n import translate
from services.portal.web import (
    Form,
    Member,
    Services,
    Viewer,
    back_with_problem,
    caller,
    flash,
    language,
    problem_text,
    redirect,
    render,
    whole_number,
)

router = APIRouter(include_in_schema=False)
PHASES = PB_PHASES
BALLOT_STATUSES = ("feasible", "selected", "not_selected")


def envelopes_for(edition: dict, neighbourhood: str | None) -> list[dict]:
    """Where a resident votes: the city-wide envelope and their own district's."""
    return [e for e in edition["envelopes"] if e["district"] in (None, neighbourhood)]


@router.get("/budget")
async def budget_page(request: Request, me: Viewer, services: Services):
    editions = await services.get("budget", "/editions")
    return render(request, "budget/editions.html", editions=editions)


@router.get("/budget/{edition_id}")
async def edition_page(request: Request, edition_id: str, me: Viewer, services: Services):
    edition, proposals = await asyncio.gather(
        services.get("budget", f"/editions/{edition_id}"),
        services.get("budget", f"/editions/{edition_id}/proposals"),
    )
    voted: list = []
    supported: list = []
    if me is not None:
        try:
            mine = await services.get(
                "budget", f"/editions/{edition_id}/participation/me", caller=caller(me)
            )
            voted = [p.get("envelope_id") for p in mine.get("envelopes", [])]
        except (BackendProblem, BackendDown):
            voted = []
        if edition["phase"] == "pre_selection":
            try:
                backed = await services.get(
                    "budget", f"/editions/{edition_id}/supports/me", caller=caller(me)
                )
                supported = list(backed.get("proposal_ids", []))
            except (BackendProblem, BackendDown):
                supported = []
    results = None
    if edition["results_published"]:
        try:
            results = await services.get("budget", f"/editions/{edition_id}/results")
        except BackendProblem:
            results = None
    by_envelope = {e["id"]: [] for e in edition["envelopes"]}
    for p in proposals:
        by_envelope.setdefault(p["envelope_id"], []).append(p)
    return render(
        request,
        "budget/edition.html",
        edition=edition,
        by_envelope=by_envelope,
        phases=PHASES,
        voted=voted,
        supported=supported,
        my_envelopes=envelopes_for(edition, me.neighbourhood if me else None),
        results=results,
    )


@router.get("/budget/{edition_id}/propose")
async def propose_page(request: Request, edition_id: str, me: Member, services: Services):
    edition = await services.get("budget", f"/editions/{edition_id}")
    if edition["phase"] != "proposals":  # the form closes with the proposals phase
        return render(request, "error.html", status=409, message_key="budget.proposals_closed")
    return render(
        request,
        "budget/propose.html",
        edition=edition,
        envelopes=envelopes_for(edition, me.neighbourhood),
        values={},
    )


@router.post("/budget/{edition_id}/propose")
async def propose(request: Request, edition_id: str, me: Member, form: Form, services: Services):
    try:
        cost = form.get("cost")
        body = {
            "title": form.get("title", ""),
            "description": form.get("description", ""),
            "envelope_id": form.get("envelope_id") or None,
            "proposed_cost_cents": parse_euros(cost) if cost else None,
        }
        await services.post(
            "budget", f"/editions/{edition_id}/proposals", caller=caller(me), json=body
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        flash(request, problem_text(request, exc), "error")
        edition = await services.get("budget", f"/editions/{edition_id}")
        return render(
            request,
            "budget/propose.html",
            status=422,
            edition=edition,
            envelopes=envelopes_for(edition, me.neighbourhood),
            values=form,
        )
    flash(request, translate(language(request), "budget.proposed"), "success")
    return redirect(f"/budget/{edition_id}")


@router.post("/budget/{edition_id}/proposals/{proposal_id}/support")
async def support(
    request: Request, edition_id: str, proposal_id: str, me: Member, form: Form, services: Services
):
    try:
        await services.post(
            "budget", f"/editions/{edition_id}/proposals/{proposal_id}/supports", caller=caller(me)
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/budget/{edition_id}", exc)
    flash(request, translate(language(request), "budget.supported"), "success")
    return redirect(f"/budget/{edition_id}#p-{proposal_id}")


@router.get("/budget/{edition_id}/proposals/{proposal_id}")
async def proposal_page(
    request: Request, edition_id: str, proposal_id: str, me: Viewer, services: Services
):
    proposal = await services.get("budget", f"/editions/{edition_id}/proposals/{proposal_id}")
    delivery = None
    if proposal["status"] == "selected":
        try:
            delivery = await services.get(
                "budget", f"/editions/{edition_id}/proposals/{proposal_id}/delivery"
            )
        except BackendProblem:
            delivery = None
    edition = await services.get("budget", f"/editions/{edition_id}")
    debate = await debate_pages.on_proposal(request, me, edition_id, proposal_id)
    return render(
        request,
        "budget/proposal.html",
        edition=edition,
        proposal=proposal,
        delivery=delivery,
        debate=debate,
    )


async def _ballot_context(services, edition_id: str, envelope_id: str) -> dict:
    edition, proposals = await asyncio.gather(
        services.get("budget", f"/editions/{edition_id}"),
        services.get("budget", f"/editions/{edition_id}/proposals"),
    )
    envelope = next((e for e in edition["envelopes"] if e["id"] == envelope_id), None)
    choices = [
        p
        for p in proposals
        if p["envelope_id"] == envelope_id
        and p["status"] in BALLOT_STATUSES
        and p.get("assessment")
        and p["assessment"].get("cost_cents")
    ]
    return {"edition": edition, "envelope": envelope, "choices": choices}


@router.get("/budget/{edition_id}/vote/{envelope_id}")
async def ballot_page(
    request: Request, edition_id: str, envelope_id: str, me: Member, services: Services
):
    context = await _ballot_context(services, edition_id, envelope_id)
    if context["envelope"] is None:
        return render(request, "error.html", status=404, message_key="budget.no_envelope")
    return render(request, "budget/ballot.html", picked=[], **context)


@router.post("/budget/{edition_id}/vote/{envelope_id}")
async def cast_ballot(
    request: Request, edition_id: str, envelope_id: str, me: Member, form: Form, services: Services
):
    picked = form.get("projects") or []
    picked = [picked] if isinstance(picked, str) else list(picked)
    body: dict = {"envelope_id": envelope_id, "projects": picked}
    context = await _ballot_context(services, edition_id, envelope_id)
    if context["edition"]["ballot_format"].get("kind") == "cumulative":
        points = {
            p["id"]: whole_number(form.get(f"points-{p['id']}"))
            for p in context["choices"]
            if (form.get(f"points-{p['id']}") or "0").isdigit()
        }
        body = {"envelope_id": envelope_id, "points": {k: v for k, v in points.items() if v}}
    try:
        receipt = await services.post(
            "budget", f"/editions/{edition_id}/ballots", caller=caller(me), json=body
        )
    except (BackendProblem, BackendDown) as exc:
        flash(request, problem_text(request, exc), "error")
        return render(request, "budget/ballot.html", status=422, picked=picked, **context)
    return render(request, "budget/receipt.html", receipt=receipt, **context)


@router.get("/budget-receipt")
async def receipt_lookup_page(request: Request, me: Viewer):
    return render(request, "budget/receipt_lookup.html", found=None)


@router.post("/budget-receipt")
async def receipt_lookup(request: Request, me: Viewer, form: Form, services: Services):
    try:
        found = await services.post(
            "budget", "/receipts/lookup", json={"receipt": form.get("receipt", "").strip()}
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/budget-receipt", exc)
    return render(request, "budget/receipt_lookup.html", found=found)


@router.get("/budget/{edition_id}/export.pb")
async def export_pb(request: Request, edition_id: str, me: Viewer, services: Services):
    """The published edition as a pabulib file, to recount with `sharitories budget tally`
    or pabutools."""
    try:
        response = await services.get("budget", f"/editions/{edition_id}/export.pb", raw=True)
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/budget/{edition_id}", exc)
    return Response(
        response.text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{edition_id}.pb"'},
    )


@router.get("/budget/{edition_id}/trackers")
async def trackers_page(request: Request, edition_id: str, me: Viewer, services: Services):
    """Every counted ballot's tracker: voters find their receipt here."""
    edition = await services.get("budget", f"/editions/{edition_id}")
    try:
        trackers = await services.get("budget", f"/editions/{edition_id}/trackers")
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/budget/{edition_id}", exc)
    names = {e["id"]: e["name"] for e in edition["envelopes"]}
    return render(request, "budget/trackers.html", edition=edition, trackers=trackers, names=names)
