"""Roles: only an admin grants or removes staff or admin, nobody changes their own roles,
and every change is recorded and shown to admins."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.portal import accounts, roles
from services.portal.db import role_changes
from services.portal.roles import refusal
from services.portal.testkit import csrf_of, log_in, make_account


async def post_roles(portal, account_id: str, roles: list[str]):
    token = await csrf_of(portal.client, "/account")
    return await portal.client.post(
        f"/staff/residents/{account_id}/roles", data={"roles": roles, "csrf": token}
    )


async def roles_of(portal, account_id: str) -> tuple[str, ...]:
    async with portal.runtime.db.transaction() as session:
        return (await accounts.get_account(session, account_id=account_id)).roles


async def recorded(portal) -> list:
    async with portal.runtime.db.transaction() as session:
        return (await session.execute(select(role_changes))).all()


@pytest.mark.parametrize(
    ("actor", "current", "wanted", "expected"),
    [
        (("staff",), ("resident",), ("resident", "reviewer"), None),
        (("staff",), ("resident", "reviewer"), ("organisation",), None),
        (("staff",), ("resident",), ("resident", "staff"), "privileged_role"),
        (("staff",), ("admin",), ("admin", "reviewer"), "privileged_account"),
        (("staff",), ("staff",), ("resident",), "privileged_account"),
        (("staff", "reviewer"), ("staff", "reviewer"), ("staff",), "privileged_account"),
        (("reviewer",), ("resident",), ("reviewer",), "not_staff"),
        (("admin",), ("staff",), ("resident",), None),
        (("admin",), ("resident",), ("admin",), None),
    ],
)
def test_who_may_change_which_roles(actor, current, wanted, expected):
    assert (
        refusal(actor_id="a", actor_roles=actor, account_id="b", current=current, wanted=wanted)
        == expected
    )


def test_nobody_changes_their_own_roles_not_even_an_admin():
    own = {"actor_id": "a", "account_id": "a", "current": ("admin",)}
    assert refusal(actor_roles=("admin",), wanted=("admin", "reviewer"), **own) == "self"


async def test_staff_cannot_demote_an_admin_or_another_agent(portal):
    admin = await make_account(portal, email="mayor@example.org", roles=("admin",))
    colleague = await make_account(portal, email="colleague@example.org", roles=("staff",))
    await make_account(portal, email="agent@example.org", roles=("staff",))
    await log_in(portal.client, "agent@example.org")
    for target, held in ((admin, ("admin",)), (colleague, ("staff",))):
        response = await post_roles(portal, target.id, ["resident"])
        assert response.status_code == 403
        assert "administrateur" in response.text
        assert await roles_of(portal, target.id) == held
    # The page shows their roles without a form.
    page = await portal.client.get("/staff/residents", params={"q": "example.org"})
    assert page.text.count('data-testid="roles-read-only"') == 3  # admin, colleague, self
    assert await recorded(portal) == []


async def test_staff_cannot_grant_staff_nor_change_their_own_roles(portal):
    resident = await make_account(portal, email="ben@example.org")
    agent = await make_account(portal, email="agent@example.org", roles=("staff",))
    await log_in(portal.client, "agent@example.org")
    assert (await post_roles(portal, resident.id, ["resident", "staff"])).status_code == 403
    assert (await post_roles(portal, agent.id, ["staff", "reviewer"])).status_code == 403
    assert await roles_of(portal, resident.id) == ("resident",)
    assert await roles_of(portal, agent.id) == ("staff",)


async def test_staff_grant_reviewer_and_every_change_is_recorded_for_admins(portal):
    resident = await make_account(portal, email="ben@example.org")
    agent = await make_account(portal, email="agent@example.org", roles=("staff",))
    await make_account(portal, email="mayor@example.org", roles=("admin",))
    await log_in(portal.client, "agent@example.org")
    response = await post_roles(portal, resident.id, ["resident", "reviewer"])
    assert response.status_code == 303
    assert await roles_of(portal, resident.id) == ("resident", "reviewer")
    [change] = await recorded(portal)
    assert (change.actor_id, change.account_id) == (agent.id, resident.id)
    assert (change.granted, change.removed) == ("reviewer", "")
    assert change.changed_at is not None
    assert (await portal.client.get("/staff/roles")).status_code == 403  # admins only

    portal.client.cookies.clear()
    await log_in(portal.client, "mayor@example.org")
    assert (await post_roles(portal, agent.id, ["resident"])).status_code == 303
    page = await portal.client.get("/staff/roles")
    assert page.status_code == 200
    rows = page.text.split('data-testid="role-changes"')[1]
    assert rows.index("Agent") < rows.index("Ben")  # newest first
    assert "Agent de la ville" in rows and "Instructeur" in rows
    changes = await recorded(portal)
    assert {(c.granted, c.removed) for c in changes} == {
        ("reviewer", ""),
        ("resident", "staff"),
    }


async def test_roles_set_by_the_identity_provider_are_recorded_too(portal):
    fields = {
        "subject": "https://id.valmont.example|kc-42",
        "email": "lea@valmont.example",
        "display_name": "Léa",
        "neighbourhood": "gare",
    }
    async with portal.runtime.db.transaction() as session:
        first = await roles.provider_account(session, roles=("resident",), **fields)
        again = await roles.provider_account(session, roles=("resident",), **fields)
        promoted = await roles.provider_account(session, roles=("reviewer",), **fields)
    assert first.id == again.id == promoted.id and promoted.roles == ("reviewer",)
    changes = sorted((c.granted, c.removed) for c in await recorded(portal))
    assert changes == [("resident", ""), ("reviewer", "resident")]
    assert {c.actor_id for c in await recorded(portal)} == {roles.IDENTITY_PROVIDER}
