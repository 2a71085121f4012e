"""The portal's small JSON API, for staff tools (bulk account creation, the demo loader)."""

from __future__ import annotations

from fastapi import APIRouter

from libs.common.auth import Staff
from libs.common.problems import Conflict, Forbidden
from libs.common.runtime import Runtime
from services.portal import accounts, roles
from services.portal.schemas import AccountIn, AccountOut
from services.portal.territory import directory

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/accounts", response_model=AccountOut, status_code=201)
async def create_account(body: AccountIn, runtime: Runtime, staff: Staff) -> dict:
    """Staff: open an account (already verified if staff checked the resident's papers)."""
    if not staff.has("admin") and set(body.roles) & {"staff", "admin"}:
        raise Forbidden("Only an admin may grant staff or admin.")
    async with runtime.unit_of_work() as session:
        if body.id and await accounts.find_account(session, account_id=body.id):
            raise Conflict(f"Account {body.id} already exists.", field="body.id")
        account = await accounts.sign_up(
            session,
            directory=directory(),
            email=body.email,
            display_name=body.display_name,
            password=body.password,
            address=body.address,
            roles=tuple(body.roles),
            status=accounts.VERIFIED if body.verified else accounts.PENDING,
            account_id=body.id,
            birthdate=body.birthdate,
        )
        await roles.record(
            session, actor_id=staff.sub, account_id=account.id, before=(), after=account.roles
        )
    return {
        "id": account.id,
        "email": account.email,
        "neighbourhood": account.neighbourhood,
        "roles": list(account.roles),
        "verified": account.verified,
        "birthdate": account.birthdate.isoformat() if account.birthdate else None,
    }
