"""HTTP API of the budget service: thin translations to the service functions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from libs.common.auth import CurrentPrincipal, ReviewerOrStaff, Staff
from libs.common.openapi import problems
from libs.common.problems import Invalid
from libs.common.runtime import Runtime
from services.budget import domain, editions, results, voting
from services.budget.deps import Budget
from services.budget.schemas import (
    AssessmentIn,
    BallotCastOut,
    BallotIn,
    CountIn,
    DeliveryOut,
    DeskCheckOut,
    DeskProposalIn,
    DeskVoterIn,
    DeskVoterOut,
    EditionIn,
    EditionOut,
    ImportedEditionOut,
    MilestoneIn,
    MyParticipationOut,
    MySupportsOut,
    PaperBallotIn,
    PhaseIn,
    ProposalEditIn,
    ProposalIn,
    ProposalOut,
    ProposalVersionOut,
    ReceiptIn,
    ReceiptOut,
    ResultsOut,
    SupportOut,
    TrackersOut,
    VotingExtensionIn,
)

router = APIRouter()


# --- editions and phases ----------------------------------------------------------------


@router.post(
    "/editions",
    response_model=EditionOut,
    response_model_exclude_unset=True,
    status_code=201,
    tags=["editions"],
)
async def create_edition(body: EditionIn, runtime: Runtime, staff: Staff) -> dict:
    """Open a new edition with its envelopes, ballot format, rule and eligibility."""
    async with runtime.unit_of_work() as session:
        return await editions.create_edition(
            session, body=body, actor=staff, territory=runtime.territory(None)
        )


@router.get("/editions", response_model=list[EditionOut], tags=["editions"])
async def list_editions(runtime: Runtime) -> list[dict]:
    async with runtime.db.read() as session:
        return await editions.list_editions(session)


@router.get("/editions/{edition_id}", response_model=EditionOut, tags=["editions"])
async def get_edition(edition_id: str, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        edition = await editions.get_edition(session, edition_id)
        return editions.edition_view(edition, await editions.edition_envelopes(session, edition_id))


@router.post("/editions/{edition_id}/phase", response_model=EditionOut, tags=["editions"])
async def change_phase(
    edition_id: str, body: PhaseIn, runtime: Runtime, budget: Budget, staff: Staff
) -> dict:
    """Move the edition to its next phase (staff control; no skipping, no going back).
    Voting also opens and closes by itself at the edition's dates."""
    async with runtime.unit_of_work() as session:
        view = await editions.change_phase(
            session,
            edition_id=edition_id,
            target=body.phase,
            actor=staff,
            territory=runtime.territory(None),
        )
    if body.phase == "results":
        await budget.box.flush()  # voting closed: write what waits
    return view


# --- proposals --------------------------------------------------------------------------


@router.post(
    "/editions/{edition_id}/proposals",
    response_model=ProposalOut,
    status_code=201,
    tags=["proposals"],
)
async def submit_proposal(
    edition_id: str, body: ProposalIn, runtime: Runtime, principal: CurrentPrincipal
) -> dict:
    """A resident's proposal, online."""
    async with runtime.unit_of_work() as session:
        return await editions.submit_proposal(
            session,
            edition_id=edition_id,
            body=body,
            actor=principal,
            runtime_territory=runtime.territory,
        )


@router.post(
    "/editions/{edition_id}/desk/proposals",
    response_model=ProposalOut,
    status_code=201,
    tags=["proposals"],
)
async def enter_paper_proposal(
    edition_id: str, body: DeskProposalIn, runtime: Runtime, staff: Staff
) -> dict:
    """A paper proposal handed in at the town hall, typed in by staff."""
    async with runtime.unit_of_work() as session:
        return await editions.submit_proposal(
            session,
            edition_id=edition_id,
            body=body,
            actor=staff,
            runtime_territory=runtime.territory,
            desk=True,
        )


@router.get(
    "/editions/{edition_id}/proposals", response_model=list[ProposalOut], tags=["proposals"]
)
async def list_proposals(edition_id: str, runtime: Runtime) -> list[dict]:
    async with runtime.db.read() as session:
        return await editions.list_proposals(session, edition_id=edition_id)


@router.get(
    "/editions/{edition_id}/proposals/{proposal_id}", response_model=ProposalOut, tags=["proposals"]
)
async def get_proposal(edition_id: str, proposal_id: str, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        return editions.proposal_view(await editions.get_proposal(session, edition_id, proposal_id))


@router.patch(
    "/editions/{edition_id}/proposals/{proposal_id}", response_model=ProposalOut, tags=["proposals"]
)
async def edit_proposal(
    edition_id: str,
    proposal_id: str,
    body: ProposalEditIn,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict:
    """The author edits their proposal until assessment starts; every version is kept."""
    async with runtime.unit_of_work() as session:
        return await editions.edit_proposal(
            session, edition_id=edition_id, proposal_id=proposal_id, body=body, actor=principal
        )


@router.get(
    "/editions/{edition_id}/proposals/{proposal_id}/history",
    response_model=list[ProposalVersionOut],
    tags=["proposals"],
)
async def proposal_history(edition_id: str, proposal_id: str, runtime: Runtime) -> list[dict]:
    async with runtime.db.read() as session:
        return await editions.proposal_history(
            session, edition_id=edition_id, proposal_id=proposal_id
        )


@router.post(
    "/editions/{edition_id}/proposals/{proposal_id}/supports",
    response_model=SupportOut,
    tags=["proposals"],
)
async def support_proposal(
    edition_id: str, proposal_id: str, runtime: Runtime, principal: CurrentPrincipal
) -> dict:
    """Support a proposal during pre-selection (once per resident)."""
    async with runtime.unit_of_work() as session:
        return await editions.support_proposal(
            session,
            edition_id=edition_id,
            proposal_id=proposal_id,
            actor=principal,
            territory=runtime.territory(principal.neighbourhood),
        )


@router.post(
    "/editions/{edition_id}/proposals/{proposal_id}/assessment",
    response_model=ProposalOut,
    tags=["proposals"],
)
async def assess_proposal(
    edition_id: str,
    proposal_id: str,
    body: AssessmentIn,
    runtime: Runtime,
    reviewer: ReviewerOrStaff,
) -> dict:
    """A reviewer marks a proposal feasible (with its cost) or unfeasible, with a reason."""
    async with runtime.unit_of_work() as session:
        return await editions.assess_proposal(
            session,
            edition_id=edition_id,
            proposal_id=proposal_id,
            body=body,
            actor=reviewer,
            territory=runtime.territory(None),
        )


# --- voting -----------------------------------------------------------------------------


@router.post(
    "/editions/{edition_id}/ballots", response_model=BallotCastOut, status_code=201, tags=["voting"]
)
async def vote_online(
    edition_id: str, body: BallotIn, runtime: Runtime, budget: Budget, principal: CurrentPrincipal
) -> dict:
    """Cast (or, where allowed, replace) the caller's ballot in one envelope. Residents
    only (role `resident`, verified, a neighbourhood of the territory). The answer carries
    the receipt, the ballot's tracker: it appears in the list of counted trackers."""
    voter = domain.Voter(
        verified=principal.verified,
        neighbourhood=principal.neighbourhood,
        birthdate=domain.parse_birthdate(principal.birthdate),
        resident="resident" in principal.roles,
    )
    return await voting.cast(
        runtime=runtime,
        box=budget.box,
        secret=budget.ballot_secret,
        neighbourhoods=budget.territory.codes,
        edition_id=edition_id,
        envelope_id=body.envelope_id,
        projects=body.projects,
        points=body.points,
        voter_id=principal.sub,
        voter=voter,
        channel="online",
        checked_in_by=None,
    )


@router.post(
    "/editions/{edition_id}/desk/voters",
    response_model=DeskVoterOut,
    status_code=201,
    tags=["voting"],
)
async def register_desk_voter(
    edition_id: str, body: DeskVoterIn, runtime: Runtime, budget: Budget, staff: Staff
) -> dict:
    """Register a resident at the town-hall desk (identity document seen): the voter id
    their paper ballot is entered under. Registering the same person again gives the same id."""
    async with runtime.unit_of_work() as session:
        return await voting.register_desk_voter(
            session,
            edition_id=edition_id,
            identity=body.identity,
            member_id=body.member_id,
            neighbourhood=body.neighbourhood,
            birthdate=body.birthdate,
            neighbourhoods=budget.territory.codes,
            staff_id=staff.sub,
            secret=budget.ballot_secret,
        )


@router.post(
    "/editions/{edition_id}/desk/ballots",
    response_model=BallotCastOut,
    status_code=201,
    tags=["voting"],
)
async def vote_on_paper(
    edition_id: str, body: PaperBallotIn, runtime: Runtime, budget: Budget, staff: Staff
) -> dict:
    """A paper ballot of a resident registered at the desk, entered by staff. Refused (409,
    with the reason) when that resident already voted online."""
    async with runtime.db.transaction() as session:
        registered = await voting.desk_voter(session, edition_id=edition_id, voter_id=body.voter_id)
    voter = domain.Voter(
        verified=True,
        neighbourhood=registered["neighbourhood"],
        birthdate=registered["birthdate"],
        resident=True,
    )
    return await voting.cast(
        runtime=runtime,
        box=budget.box,
        secret=budget.ballot_secret,
        neighbourhoods=budget.territory.codes,
        edition_id=edition_id,
        envelope_id=body.envelope_id,
        projects=body.projects,
        points=body.points,
        voter_id=body.voter_id,
        voter=voter,
        channel="paper",
        checked_in_by=staff.sub,
    )


@router.get("/editions/{edition_id}/supports/me", response_model=MySupportsOut, tags=["proposals"])
async def my_supports(edition_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """The proposals the caller supports in this edition."""
    async with runtime.db.read() as session:
        return await editions.supports_of(
            session, edition_id=edition_id, supporter_id=principal.sub
        )


@router.get(
    "/editions/{edition_id}/participation/me", response_model=MyParticipationOut, tags=["voting"]
)
async def my_participation(edition_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """Where the caller has voted (not what)."""
    async with runtime.db.read() as session:
        envelopes = await voting.voter_participation(
            session, edition_id=edition_id, voter_id=principal.sub
        )
    return {"envelopes": envelopes}


@router.get(
    "/editions/{edition_id}/desk/voters/{voter_id}", response_model=DeskCheckOut, tags=["voting"]
)
async def desk_check(edition_id: str, voter_id: str, runtime: Runtime, staff: Staff) -> dict:
    """At the desk: has this person already voted (online or on paper), and where?"""
    async with runtime.db.read() as session:
        envelopes = await voting.voter_participation(
            session, edition_id=edition_id, voter_id=voter_id
        )
    return {"voter_id": voter_id, "envelopes": envelopes}


@router.post(
    "/editions/{edition_id}/voting/extension",
    response_model=EditionOut,
    status_code=201,
    tags=["voting"],
)
async def extend_voting(
    edition_id: str, body: VotingExtensionIn, runtime: Runtime, staff: Staff
) -> dict:
    """Extend the voting period to `until` (included); recorded with who, when and why."""
    async with runtime.unit_of_work() as session:
        return await editions.extend_voting(
            session, edition_id=edition_id, until=body.until, reason=body.reason, actor=staff
        )


@router.post(
    "/receipts/lookup",
    response_model=ReceiptOut,
    response_model_exclude_unset=True,
    tags=["voting"],
)
async def lookup_receipt(body: ReceiptIn, runtime: Runtime, budget: Budget) -> dict:
    """Was the ballot behind a receipt (its tracker) received, and counted? Sent in the
    body, not the URL, so that it never lands in access logs. Never says what it said."""
    async with runtime.db.transaction() as session:
        return await voting.lookup_receipt(session, receipt=body.receipt, box=budget.box)


# --- results and delivery ---------------------------------------------------------------


@router.post(
    "/editions/{edition_id}/results", status_code=201, tags=["results"], response_model=ResultsOut
)
async def publish_results(
    edition_id: str,
    runtime: Runtime,
    budget: Budget,
    staff: Staff,
    body: CountIn | None = None,
) -> dict:
    """The count: k keyholders' shares open the sealed ballots in memory; every envelope is
    tallied with the edition's rule and the explained results are published."""
    body = body or CountIn()
    await budget.box.flush()
    async with runtime.unit_of_work() as session:
        return await results.publish_results(
            session,
            edition_id=edition_id,
            actor=staff,
            territory=runtime.territory(None),
            shares=body.shares,
            accept_missing=body.accept_missing,
        )


@router.get("/editions/{edition_id}/trackers", response_model=TrackersOut, tags=["results"])
async def counted_trackers(edition_id: str, runtime: Runtime) -> dict:
    """Every counted ballot's tracker, sorted: find your receipt here."""
    async with runtime.db.read() as session:
        return await results.counted_trackers(session, edition_id=edition_id)


@router.get("/editions/{edition_id}/results", tags=["results"], response_model=ResultsOut)
async def get_results(edition_id: str, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        return await results.published_results(session, edition_id=edition_id)


@router.post(
    "/editions/{edition_id}/proposals/{proposal_id}/milestones",
    response_model=DeliveryOut,
    status_code=201,
    tags=["delivery"],
)
async def add_milestone(
    edition_id: str, proposal_id: str, body: MilestoneIn, runtime: Runtime, staff: Staff
) -> dict:
    async with runtime.unit_of_work() as session:
        return await results.add_milestone(
            session,
            edition_id=edition_id,
            proposal_id=proposal_id,
            status=body.status,
            on=body.on,
            note=body.note,
            actor=staff,
            territory_for=runtime.territory,
        )


@router.get(
    "/editions/{edition_id}/proposals/{proposal_id}/delivery",
    response_model=DeliveryOut,
    tags=["delivery"],
)
async def project_delivery(edition_id: str, proposal_id: str, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        return await results.project_delivery(
            session, edition_id=edition_id, proposal_id=proposal_id
        )


# --- pabulib ----------------------------------------------------------------------------


@router.post(
    "/editions/import",
    response_model=ImportedEditionOut,
    response_model_exclude_unset=True,
    status_code=201,
    tags=["pabulib"],
    openapi_extra={  # the body is read raw: say what it is
        "requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def import_pb(
    request: Request,
    runtime: Runtime,
    staff: Staff,
    rule: Annotated[Literal["greedy", "mes", "mes-add1"], Query()] = "mes",
) -> dict:
    """Import a pabulib `.pb` file (request body, text) as a closed edition."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("The .pb file must be UTF-8 text.", field="body") from exc
    async with runtime.unit_of_work() as session:
        return await results.import_pb(
            session, text=text, rule=rule, actor=staff, territory=runtime.territory(None)
        )


@router.get(
    "/editions/{edition_id}/export.pb",
    response_class=PlainTextResponse,
    tags=["pabulib"],
    responses=problems(409),  # not closed yet
)
async def export_pb(
    edition_id: str,
    runtime: Runtime,
    budget: Budget,
    envelope_id: Annotated[str | None, Query()] = None,
) -> PlainTextResponse:
    """A closed edition's envelope (default: city-wide) as a pabulib file: projects,
    anonymous ballots and the result. Recompute it with pabutools."""
    async with runtime.db.read() as session:
        text = await results.export_pb(
            session, edition_id=edition_id, envelope_id=envelope_id, territory=budget.territory
        )
    return PlainTextResponse(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{edition_id}.pb"'},
    )
