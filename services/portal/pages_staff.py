"""Reviewer and staff pages: verification, review queues, desk mode, moderation, phases,
match pools. Every action is re-checked by the service that owns it (roles in the JWT)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from libs.common.auth import ROLES
from libs.common.clock import clock
from libs.common.ids import new_id
from libs.common.money import parse_euros
from libs.common.problems import Conflict, Invalid, NotFound, Problem
from services.portal import accounts
from services.portal import roles as roles_mod
from services.portal.backends import BackendDown, BackendProblem, Backends
from services.portal.i18n import problem_message, translate
from services.portal.pages_budget import BALLOT_STATUSES, PHASES
from services.portal.pages_public import sync_profile
from services.portal.territory import directory
from services.portal.web import (
    Admin,
    Form,
    Reviewer,
    Services,
    Staff,
    back_with_problem,
    caller,
    flash,
    language,
    redirect,
    render,
    runtime,
    whole_number,
)

router = APIRouter(prefix="/staff", include_in_schema=False)
ASSIGNABLE = tuple(sorted(roles_mod.STAFF_GRANTS))  # staff and admin: only an admin


def done(request: Request, key: str, url: str, **values):
    flash(request, translate(language(request), key, **values), "success")
    return redirect(url)


async def act(
    request: Request,
    me: accounts.Account,
    services: Backends,
    *,
    service: str,
    path: str,
    back: str,
    message: str,
    json: dict | None = None,
):
    """Post a staff action to a service; back to `back` with the outcome flashed."""
    try:
        await services.post(service, path, caller=caller(me), json=json)
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    return done(request, message, back)


def _said(request: Request, exc: Problem) -> str:
    """The portal's own refusal, worded like a service's: from its code, in the reader's
    language."""
    return problem_message(language(request), code=exc.code, params={}, status=exc.status)


async def _safely(coro, default=None):
    try:
        return await coro
    except (BackendProblem, BackendDown):
        return default


@router.get("")
async def staff_home(request: Request, me: Reviewer):
    async with runtime(request).db.transaction() as session:
        pending = await accounts.verification_queue(session)
    return render(request, "staff/home.html", pending=len(pending))


# --- residents ---------------------------------------------------------------------------


@router.get("/residents")
async def residents_page(request: Request, me: Staff, q: str = ""):
    async with runtime(request).db.transaction() as session:
        pending = await accounts.verification_queue(session)
        found = await accounts.search_accounts(session, query=q) if q.strip() else []
    assignable = ROLES if "admin" in me.roles else ASSIGNABLE
    return render(
        request,
        "staff/residents.html",
        pending=pending,
        found=found,
        q=q,
        assignable=assignable,
        may_change=lambda account: roles_mod.may_change(me, account),
    )


@router.post("/residents/{account_id}/decide")
async def decide(request: Request, account_id: str, me: Staff, form: Form, services: Services):
    verified = form.get("decision") == "verify"
    try:
        # The birthdate as read on the papers (typed or corrected by staff), before deciding.
        birthdate = accounts.parse_birthdate(form.get("birthdate"))
        async with runtime(request).db.transaction() as session:
            if birthdate is not None:
                await accounts.set_birthdate(session, account_id=account_id, birthdate=birthdate)
            account = await accounts.decide(
                session,
                account_id=account_id,
                staff_id=me.id,
                verified=verified,
                note=form.get("note", ""),
            )
    except (Conflict, NotFound, Invalid) as exc:
        flash(request, _said(request, exc), "error")
        return redirect("/staff/residents")
    if verified:
        await sync_profile(services, account)
    key = "staff.verified" if verified else "staff.rejected"
    return done(request, key, "/staff/residents", name=account.display_name)


@router.post("/residents/{account_id}/roles")
async def change_roles(request: Request, account_id: str, me: Staff, form: Form):
    wanted = form.get("roles") or []
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    try:
        async with runtime(request).db.transaction() as session:
            account = await roles_mod.change_roles(
                session, actor=me, account_id=account_id, roles=wanted
            )
    except roles_mod.RoleChangeRefused as exc:
        message = translate(language(request), f"roles.refused.{exc.reason}")
        return render(request, "error.html", status=403, message=message)
    except (Invalid, NotFound, Conflict) as exc:
        flash(request, _said(request, exc), "error")
        return redirect("/staff/residents")
    return done(request, "staff.roles_saved", f"/staff/residents?q={account.email}")


@router.get("/roles")
async def role_changes_page(request: Request, me: Admin):
    """Admins: every change of roles, newest first (who, whose, what, when)."""
    async with runtime(request).db.transaction() as session:
        changes = await roles_mod.recent_changes(session)
    return render(request, "staff/roles.html", changes=changes)


# --- campaigns ---------------------------------------------------------------------------


@router.get("/campaigns")
async def campaign_queue(request: Request, me: Reviewer, services: Services):
    rows = await services.get("crowdfunding", "/campaigns", caller=caller(me))
    pools = await _safely(services.get("crowdfunding", "/match-pools"), [])
    by_state: dict[str, list] = {}
    for c in rows:
        by_state.setdefault(c["state"], []).append(c)
    return render(request, "staff/campaigns.html", by_state=by_state, pools=pools)


@router.post("/campaigns/{campaign_id}/review")
async def review_campaign(
    request: Request, campaign_id: str, me: Reviewer, form: Form, services: Services
):
    try:
        result = await services.post(
            "crowdfunding",
            f"/campaigns/{campaign_id}/review",
            caller=caller(me),
            json={"note": form.get("note", "")},
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/campaigns", exc)
    key = "staff.campaign_approved" if result.get("approved") else "staff.campaign_rejected"
    return done(request, key, "/staff/campaigns")


@router.post("/campaigns/{campaign_id}/pool")
async def attach_pool(
    request: Request, campaign_id: str, me: Staff, form: Form, services: Services
):
    return await act(
        request,
        me,
        services,
        service="crowdfunding",
        path=f"/campaigns/{campaign_id}/match-pool",
        json={"pool_id": form.get("pool_id", "")},
        back="/staff/campaigns",
        message="staff.pool_attached",
    )


@router.post("/campaigns/{campaign_id}/payout")
async def payout(request: Request, campaign_id: str, me: Staff, form: Form, services: Services):
    return await act(
        request,
        me,
        services,
        service="crowdfunding",
        path=f"/campaigns/{campaign_id}/payout",
        json={"reference": form.get("reference", "")},
        back="/staff/campaigns",
        message="staff.paid_out",
    )


@router.post("/settlement")
async def run_settlement(request: Request, me: Staff, form: Form, services: Services):
    try:
        result = await services.post("crowdfunding", "/settlement/run", caller=caller(me))
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/campaigns", exc)
    return done(request, "staff.settled", "/staff/campaigns", n=len(result.get("settled", [])))


# --- match pools -------------------------------------------------------------------------


@router.get("/match-pools")
async def pools_page(request: Request, me: Staff, services: Services):
    pools, leftovers, editions = await asyncio.gather(
        services.get("crowdfunding", "/match-pools"),
        _safely(services.get("crowdfunding", "/budget-leftovers", caller=caller(me)), []),
        _safely(services.get("budget", "/editions"), []),
    )
    # A leftover is named by its edition and envelope (the ids mean nothing to staff).
    names = {e["id"]: e["name"] for e in editions}
    envelopes = {v["id"]: v["name"] for e in editions for v in e.get("envelopes", [])}
    for leftover in leftovers:
        leftover["edition_name"] = names.get(leftover.get("edition_id"), "–")
        leftover["envelope_name"] = envelopes.get(leftover.get("envelope_id"), "–")
    return render(request, "staff/pools.html", pools=pools, leftovers=leftovers, values={})


@router.post("/match-pools")
async def create_pool(request: Request, me: Staff, form: Form, services: Services):
    try:
        body = {
            "name": form.get("name", ""),
            "budget_cents": parse_euros(form.get("budget") or "0"),
            "match_factor": form.get("match_factor") or "1",
            "cap_per_project_cents": parse_euros(form["cap_project"])
            if form.get("cap_project")
            else None,
            "residents_only": form.get("residents_only") == "on",
            "neighbourhoods": [form["neighbourhood"]] if form.get("neighbourhood") else None,
        }
        await services.post("crowdfunding", "/match-pools", caller=caller(me), json=body)
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/match-pools", exc)
    return done(request, "staff.pool_created", "/staff/match-pools")


# --- proposals and editions -----------------------------------------------------------------


@router.get("/proposals")
async def proposal_queue(request: Request, me: Reviewer, services: Services):
    editions = await services.get("budget", "/editions")
    open_editions = [e for e in editions if e["phase"] == "assessment"]
    queues = []
    for edition in open_editions:
        proposals = await services.get("budget", f"/editions/{edition['id']}/proposals")
        queues.append(
            (
                edition,
                [p for p in proposals if p["status"] in ("promoted", "feasible", "unfeasible")],
            )
        )
    return render(request, "staff/proposals.html", queues=queues, editions=editions)


@router.post("/proposals/{edition_id}/{proposal_id}/assess")
async def assess(
    request: Request, edition_id: str, proposal_id: str, me: Reviewer, form: Form,
    services: Services,
):  # fmt: skip
    try:
        feasible = form.get("feasible") == "yes"
        body = {
            "feasible": feasible,
            "reason": form.get("reason", ""),
            "cost_cents": parse_euros(form["cost"]) if feasible and form.get("cost") else None,
        }
        await services.post(
            "budget",
            f"/editions/{edition_id}/proposals/{proposal_id}/assessment",
            caller=caller(me),
            json=body,
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/proposals", exc)
    return done(request, "staff.assessed", "/staff/proposals")


@router.get("/editions")
async def editions_page(request: Request, me: Staff, services: Services):
    editions = await services.get("budget", "/editions")
    selected = {}
    for e in editions:
        if e["phase"] in ("results", "delivery"):
            proposals = await _safely(services.get("budget", f"/editions/{e['id']}/proposals"), [])
            selected[e["id"]] = [p for p in proposals if p["status"] == "selected"]
    return render(
        request,
        "staff/editions.html",
        editions=editions,
        phases=PHASES,
        selected=selected,
        today=clock.today().isoformat(),
    )


@router.post("/editions")
async def create_edition(request: Request, me: Staff, form: Form, services: Services):
    try:
        envelopes = [
            {
                "name": form.get("city_envelope_name") or "Ville",
                "district": None,
                "amount_cents": parse_euros(form.get("city_amount") or "0"),
            }
        ]
        for code in (form.get("district_codes") or "").split(","):
            if code.strip():
                envelopes.append(
                    {
                        # Residents read the neighbourhood's name, not its code.
                        "name": directory().name_of(code.strip()),
                        "district": code.strip(),
                        "amount_cents": parse_euros(form.get("district_amount") or "0"),
                    }
                )
        kind = form.get("ballot_kind") or "knapsack"
        keyholders = [k.strip() for k in (form.get("keyholders") or "").split(",") if k.strip()]
        body = {
            "name": form.get("name", ""),
            "envelopes": envelopes,
            "rule": form.get("rule") or "greedy",
            "ballot_format": {"kind": kind},
            "keyholders": keyholders,
            "threshold": whole_number(form.get("threshold"), default=None),
        }
        if form.get("voting_start") or form.get("voting_end"):
            body["phase_dates"] = {
                "voting": {"start": form.get("voting_start"), "end": form.get("voting_end")}
            }
        edition = await services.post("budget", "/editions", caller=caller(me), json=body)
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/editions", exc)
    # The keyholders' shares exist only in this answer: shown once, never stored here, and
    # kept out of every cache.
    page = render(request, "staff/edition_keys.html", status=201, edition=edition)
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post("/editions/{edition_id}/phase")
async def change_phase(request: Request, edition_id: str, me: Staff, form: Form,
                       services: Services):  # fmt: skip
    return await act(
        request,
        me,
        services,
        service="budget",
        path=f"/editions/{edition_id}/phase",
        json={"phase": form.get("phase", "")},
        back="/staff/editions",
        message="staff.phase_changed",
    )


@router.post("/editions/{edition_id}/results")
async def publish_results(request: Request, edition_id: str, me: Staff, form: Form,
                          services: Services):  # fmt: skip
    shares = [line.strip() for line in (form.get("shares") or "").splitlines() if line.strip()]
    return await act(
        request,
        me,
        services,
        service="budget",
        path=f"/editions/{edition_id}/results",
        json={"shares": shares, "accept_missing": form.get("accept_missing") == "on"},
        back="/staff/editions",
        message="staff.results_published",
    )


@router.post("/editions/{edition_id}/extend")
async def extend_voting(request: Request, edition_id: str, me: Staff, form: Form,
                        services: Services):  # fmt: skip
    return await act(
        request,
        me,
        services,
        service="budget",
        path=f"/editions/{edition_id}/voting/extension",
        json={"until": form.get("until") or None, "reason": form.get("reason", "")},
        back="/staff/editions",
        message="staff.voting_extended",
    )


@router.post("/editions/{edition_id}/proposals/{proposal_id}/milestone")
async def add_milestone(request: Request, edition_id: str, proposal_id: str, me: Staff,
                        form: Form, services: Services):  # fmt: skip
    return await act(
        request,
        me,
        services,
        service="budget",
        path=f"/editions/{edition_id}/proposals/{proposal_id}/milestones",
        json={"status": form.get("status"), "on": form.get("on"), "note": form.get("note", "")},
        back="/staff/editions",
        message="staff.milestone_added",
    )


# --- moderation --------------------------------------------------------------------------


@router.get("/reports")
async def reports_page(request: Request, me: Staff, services: Services, status: str = "open"):
    status = status if status in ("open", "closed") else "open"
    rows = await services.get(
        "exchange", "/staff/reports", caller=caller(me), params={"status": status}
    )
    # Not `status=`: that is render's HTTP status.
    return render(request, "staff/reports.html", reports=rows, shown=status)


@router.post("/reports/{report_id}/close")
async def close_report(request: Request, report_id: str, me: Staff, form: Form,
                       services: Services):  # fmt: skip
    return await act(
        request,
        me,
        services,
        service="exchange",
        path=f"/staff/reports/{report_id}/close",
        json={"resolution": form.get("resolution", "")},
        back="/staff/reports",
        message="staff.report_closed",
    )


# --- desk mode ---------------------------------------------------------------------------


async def _resident(request: Request, email: str) -> accounts.Account | None:
    if not email.strip():
        return None
    async with runtime(request).db.transaction() as session:
        return await accounts.find_by_email(session, email=email)


@router.get("/desk")
async def desk_page(request: Request, me: Staff, services: Services):
    editions, campaigns = await asyncio.gather(
        _safely(services.get("budget", "/editions"), []),
        _safely(services.get("crowdfunding", "/campaigns", params={"state": "live"}), []),
    )
    voting = [e for e in editions if e["phase"] == "voting"]
    proposing = [e for e in editions if e["phase"] == "proposals"]
    proposals = await asyncio.gather(
        *(_safely(services.get("budget", f"/editions/{e['id']}/proposals"), []) for e in voting)
    )
    # Every edition in voting, one ballot paper per envelope with only that envelope's
    # projects (as the resident's own paper ballot is).
    papers = [
        {
            "edition": edition,
            "envelope": envelope,
            "choices": [
                p
                for p in rows
                if p["envelope_id"] == envelope["id"]
                and p["status"] in BALLOT_STATUSES
                and (p.get("assessment") or {}).get("cost_cents")
            ],
        }
        for edition, rows in zip(voting, proposals, strict=True)
        for envelope in edition["envelopes"]
    ]
    return render(
        request,
        "staff/desk.html",
        voting=voting,
        papers=papers,
        proposing=proposing,
        campaigns=campaigns,
    )


@router.post("/desk/ballot")
async def desk_ballot(request: Request, me: Staff, form: Form, services: Services):
    """Register the resident at the desk (identity document seen), then enter their paper
    ballot under the desk voter id the budget service gives."""
    resident = await _resident(request, form.get("email", ""))
    identity = (form.get("identity") or "").strip()
    neighbourhood = resident.neighbourhood if resident else (form.get("neighbourhood") or "")
    picked = form.get("projects") or []
    picked = [picked] if isinstance(picked, str) else list(picked)
    edition_id = form.get("edition_id", "")
    try:
        if not resident and not identity:
            raise ValueError(translate(language(request), "desk.need_voter"))
        who = {"member_id": resident.id} if resident else {"identity": identity}
        registered = await services.post(
            "budget",
            f"/editions/{edition_id}/desk/voters",
            caller=caller(me),
            json={
                **who,
                "neighbourhood": neighbourhood,
                "birthdate": form.get("birthdate") or None,
            },
        )
        receipt = await services.post(
            "budget",
            f"/editions/{edition_id}/desk/ballots",
            caller=caller(me),
            json={
                "envelope_id": form.get("envelope_id", ""),
                "projects": picked,
                "voter_id": registered["voter_id"],
            },
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/desk", exc)
    return done(request, "desk.ballot_done", "/staff/desk", receipt=receipt.get("receipt", ""))


@router.post("/desk/pledge")
async def desk_pledge(request: Request, me: Staff, form: Form, services: Services):
    resident = await _resident(request, form.get("email", ""))
    try:
        backer = resident.id if resident else (form.get("backer_id") or "").strip()
        if not backer:
            backer = f"desk-{new_id()}"
        await services.post(
            "crowdfunding",
            f"/campaigns/{form.get('campaign_id', '')}/desk-pledges",
            caller=caller(me),
            json={
                "backer_id": backer,
                "backer_kind": "resident",
                "verified_resident": bool(resident and resident.verified),
                "backer_neighbourhood": resident.neighbourhood if resident else None,
                "amount_cents": parse_euros(form.get("amount") or "0"),
                "method": "cheque" if form.get("method") == "cheque" else "cash",
            },
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/desk", exc)
    return done(request, "desk.pledge_done", "/staff/desk")


@router.post("/desk/transfer")
async def desk_transfer(request: Request, me: Staff, form: Form, services: Services):
    payer = await _resident(request, form.get("from_email", ""))
    payee = await _resident(request, form.get("to_email", ""))
    try:
        if payer is None or payee is None:
            raise ValueError(translate(language(request), "credits.unknown_member"))
        await services.post(
            "exchange",
            "/transfers",
            caller=caller(me),
            idempotency_key=form.get("idem") or new_id(),
            json={
                "to_member": payee.id,
                "minutes": whole_number(form.get("minutes")),
                "memo": form.get("memo", ""),
                "on_behalf_of": payer.id,
            },
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/desk", exc)
    return done(request, "desk.transfer_done", "/staff/desk")


@router.post("/desk/proposal")
async def desk_proposal(request: Request, me: Staff, form: Form, services: Services):
    resident = await _resident(request, form.get("email", ""))
    try:
        cost = form.get("cost")
        await services.post(
            "budget",
            f"/editions/{form.get('edition_id', '')}/desk/proposals",
            caller=caller(me),
            json={
                "title": form.get("title", ""),
                "description": form.get("description", ""),
                "proposed_cost_cents": parse_euros(cost) if cost else None,
                "author_id": resident.id if resident else None,
                "neighbourhood": resident.neighbourhood if resident else None,
            },
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/staff/desk", exc)
    return done(request, "desk.proposal_done", "/staff/desk")
