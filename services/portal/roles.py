"""Who may change whose roles, and the record of every change.

Rules (pure, `refusal`): nobody changes their own roles; only an admin grants or removes
`staff` or `admin`, or touches the roles of someone who holds them; staff may grant and
remove `resident`, `organisation` and `reviewer`. Every change is written to
`role_changes` (who, whom, what was granted and removed, when), which admins read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import ROLES
from libs.common.clock import clock
from libs.common.ids import new_id
from libs.common.problems import Conflict, Forbidden, Invalid
from services.portal.accounts import (
    Account,
    find_by_oidc_subject,
    get_account,
    oidc_account,
)
from services.portal.db import accounts, role_changes

STAFF_GRANTS = frozenset({"resident", "organisation", "reviewer"})
PRIVILEGED = frozenset({"staff", "admin"})
BOOTSTRAP = "bootstrap"  # actor of the accounts PORTAL_BOOTSTRAP_STAFF creates
IDENTITY_PROVIDER = "oidc"  # actor of the roles the city's identity provider sets
REASONS = {
    "self": "Nobody changes their own roles: ask another administrator.",
    "not_staff": "Only staff change roles.",
    "privileged_account": "Only an admin changes the roles of staff or of an admin.",
    "privileged_role": "Only an admin grants or removes the staff or admin role.",
}


class RoleChangeRefused(Forbidden):
    def __init__(self, reason: str) -> None:
        super().__init__(REASONS[reason], field="body.roles")
        self.reason = reason


def refusal(
    *, actor_id: str, actor_roles: tuple[str, ...], account_id: str,
    current: tuple[str, ...], wanted: tuple[str, ...],
) -> str | None:  # fmt: skip
    """Why `actor` may not turn `current` into `wanted` on `account`: a key of REASONS,
    or None when allowed."""
    if actor_id == account_id:
        return "self"
    if "admin" in actor_roles:
        return None
    if "staff" not in actor_roles:
        return "not_staff"
    if PRIVILEGED & set(current):
        return "privileged_account"
    if (set(current) ^ set(wanted)) - STAFF_GRANTS:
        return "privileged_role"
    return None


def may_change(actor: Account, account: Account) -> bool:
    """Whether the staff page offers `actor` a form for `account`'s roles."""
    return (
        refusal(
            actor_id=actor.id,
            actor_roles=actor.roles,
            account_id=account.id,
            current=account.roles,
            wanted=account.roles,
        )
        is None
    )


async def change_roles(
    session: AsyncSession, *, actor: Account, account_id: str, roles: list[str]
) -> Account:
    """Set the account's roles if `actor` may, and record what changed."""
    wanted = tuple(dict.fromkeys(roles))
    unknown = set(wanted) - set(ROLES)
    if unknown or not wanted:
        raise Invalid(f"Unknown roles: {sorted(unknown)}", field="body.roles", code="roles.unknown")
    account = await get_account(session, account_id=account_id)
    reason = refusal(
        actor_id=actor.id,
        actor_roles=actor.roles,
        account_id=account.id,
        current=account.roles,
        wanted=wanted,
    )
    if reason:
        raise RoleChangeRefused(reason)
    # Only if nobody changed them meanwhile: the check above was made on `account.roles`.
    result = await session.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.roles == ",".join(account.roles))
        .values(roles=",".join(wanted))
    )
    if result.rowcount != 1:
        raise Conflict(
            "The roles changed meanwhile: reload the page and try again.", code="roles.changed"
        )
    await record(session, actor_id=actor.id, account_id=account_id,
                 before=account.roles, after=wanted)  # fmt: skip
    return await get_account(session, account_id=account_id)


async def record(
    session: AsyncSession, *, actor_id: str, account_id: str,
    before: tuple[str, ...], after: tuple[str, ...],
) -> None:  # fmt: skip
    granted = [r for r in after if r not in before]
    removed = [r for r in before if r not in after]
    if not granted and not removed:
        return
    await session.execute(
        role_changes.insert().values(
            id=new_id(),
            actor_id=actor_id,
            account_id=account_id,
            granted=",".join(granted),
            removed=",".join(removed),
            changed_at=clock.now(),
        )
    )


async def provider_account(session: AsyncSession, **fields) -> Account:
    """The account an identity-provider log-in opens (`oidc_account`), recording the roles
    the provider granted or removed since the last log-in."""
    before = await find_by_oidc_subject(session, subject=fields["subject"])
    account = await oidc_account(session, **fields)
    await record(session, actor_id=IDENTITY_PROVIDER, account_id=account.id,
                 before=before.roles if before else (), after=account.roles)  # fmt: skip
    return account


@dataclass(frozen=True)
class RoleChange:
    actor_id: str
    actor: str  # display name and e-mail, or the id when the account is gone
    account_id: str
    account: str
    granted: tuple[str, ...]
    removed: tuple[str, ...]
    changed_at: datetime


async def recent_changes(session: AsyncSession, *, limit: int = 200) -> list[RoleChange]:
    rows = (
        await session.execute(
            select(role_changes).order_by(role_changes.c.changed_at.desc()).limit(limit)
        )
    ).all()
    ids = {r.actor_id for r in rows} | {r.account_id for r in rows}
    names = {
        a.id: f"{a.display_name} <{a.email}>"
        for a in (
            await session.execute(
                select(accounts.c.id, accounts.c.display_name, accounts.c.email).where(
                    accounts.c.id.in_(ids)
                )
            )
        ).all()
    }
    return [
        RoleChange(
            actor_id=r.actor_id,
            actor=names.get(r.actor_id, r.actor_id),
            account_id=r.account_id,
            account=names.get(r.account_id, r.account_id),
            granted=tuple(x for x in r.granted.split(",") if x),
            removed=tuple(x for x in r.removed.split(",") if x),
            changed_at=r.changed_at,
        )
        for r in rows
    ]
