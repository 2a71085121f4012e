"""Accounts: sign-up, log-in (argon2id), staff verification, roles. Keyword-only functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import ROLES
from libs.common.clock import clock
from libs.common.ids import new_id
from libs.common.problems import Conflict, Invalid, NotFound
from services.portal.db import accounts
from services.portal.territory import StreetDirectory

HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
# Verifying against this keeps the time of a log-in with an unknown e-mail the same.
_DUMMY_HASH = HASHER.hash("sharitories-no-such-account")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
PENDING, VERIFIED, REJECTED = "pending", "verified", "rejected"


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    display_name: str
    address: str
    neighbourhood: str | None
    roles: tuple[str, ...]
    status: str
    language: str
    created_at: datetime
    status_note: str | None = None
    has_password: bool = True  # False: the account only logs in through the city's OIDC
    birthdate: date | None = None

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED

    def has(self, *roles: str) -> bool:
        return bool(set(self.roles) & set(roles)) or "admin" in self.roles

    @property
    def is_staff(self) -> bool:
        return self.has("staff")

    @property
    def is_reviewer(self) -> bool:
        return self.has("reviewer", "staff")


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        email=row.email,
        display_name=row.display_name,
        address=row.address,
        neighbourhood=row.neighbourhood,
        roles=tuple(r for r in row.roles.split(",") if r),
        status=row.status,
        language=row.language,
        created_at=row.created_at,
        status_note=row.status_note,
        has_password=row.password_hash is not None,
        birthdate=row.birthdate,
    )


OLDEST_BIRTH_YEAR = 1900


def check_birthdate(birthdate: date | None, *, today: date | None = None) -> date | None:
    """A plausible birthdate (from 1900 to today) or None; anything else is a 422."""
    if birthdate is None:
        return None
    today = today or clock.today()
    if not date(OLDEST_BIRTH_YEAR, 1, 1) <= birthdate <= today:
        raise Invalid(
            "Enter a birthdate between 1900 and today.",
            field="body.birthdate",
            code="accounts.birthdate_range",
        )
    return birthdate


def parse_birthdate(text: str | None) -> date | None:
    """A form's birthdate (YYYY-MM-DD, empty: none)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return check_birthdate(date.fromisoformat(text))
    except ValueError:
        raise Invalid(
            "Enter a birthdate as YYYY-MM-DD.", field="body.birthdate", code="accounts.birthdate"
        ) from None


async def set_birthdate(session: AsyncSession, *, account_id: str, birthdate: date | None) -> None:
    """Staff record (or correct) a birthdate, checked against the resident's papers."""
    await get_account(session, account_id=account_id)
    await session.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(birthdate=check_birthdate(birthdate))
    )


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def sign_up(
    session: AsyncSession,
    *,
    directory: StreetDirectory,
    email: str,
    display_name: str,
    password: str,
    address: str,
    language: str = "fr",
    roles: tuple[str, ...] = ("resident",),
    status: str = PENDING,
    account_id: str | None = None,
    birthdate: date | None = None,
) -> Account:
    """A new account, pending verification; its neighbourhood comes from the address."""
    email = normalise_email(email)
    if not EMAIL.match(email) or len(email) > 320:
        raise Invalid("Enter a valid e-mail address.", field="body.email")
    display_name = display_name.strip()
    if not 1 <= len(display_name) <= 100:
        raise Invalid("Enter your name (at most 100 characters).", field="body.display_name")
    if len(password) < MIN_PASSWORD or len(password) > 1000:
        raise Invalid(
            f"Choose a password of at least {MIN_PASSWORD} characters.", field="body.password"
        )
    neighbourhood = directory.neighbourhood_of(address)
    if neighbourhood is None:
        raise Invalid(f"This address is not a street of {directory.name}.", field="body.address")
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise Invalid(f"Unknown roles: {sorted(unknown)}", field="body.roles")
    row = {
        "id": account_id or new_id(),
        "email": email,
        "display_name": display_name,
        "password_hash": HASHER.hash(password),
        "address": address.strip()[:500],
        "neighbourhood": neighbourhood,
        "roles": ",".join(roles),
        "status": status,
        "language": language,
        "created_at": clock.now(),
        "birthdate": check_birthdate(birthdate),
    }
    try:
        async with session.begin_nested():
            await session.execute(accounts.insert().values(**row))
    except IntegrityError as exc:
        raise Conflict("An account already uses this e-mail address.", field="body.email") from exc
    return await get_account(session, account_id=row["id"])


async def find_account(session: AsyncSession, *, account_id: str) -> Account | None:
    row = (await session.execute(select(accounts).where(accounts.c.id == account_id))).first()
    return _account(row) if row else None


async def get_account(session: AsyncSession, *, account_id: str) -> Account:
    account = await find_account(session, account_id=account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.", code="accounts.not_found")
    return account


async def find_by_email(session: AsyncSession, *, email: str) -> Account | None:
    row = (
        await session.execute(select(accounts).where(accounts.c.email == normalise_email(email)))
    ).first()
    return _account(row) if row else None


async def authenticate(session: AsyncSession, *, email: str, password: str) -> Account | None:
    """The account if the password matches (rehashing it if the parameters changed)."""
    row = (
        await session.execute(select(accounts).where(accounts.c.email == normalise_email(email)))
    ).first()
    stored = row.password_hash if row is not None and row.password_hash else None
    try:
        HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if stored is None:
        return None
    if HASHER.check_needs_rehash(stored):
        await session.execute(
            update(accounts)
            .where(accounts.c.id == row.id)
            .values(password_hash=HASHER.hash(password))
        )
    return _account(row)


async def change_password(
    session: AsyncSession, *, account_id: str, current: str, new: str
) -> None:
    """Replace the password after checking the current one (the caller ends the sessions)."""
    row = (
        await session.execute(select(accounts.c.password_hash).where(accounts.c.id == account_id))
    ).first()
    try:
        HASHER.verify((row.password_hash if row else None) or _DUMMY_HASH, current)
    except (VerificationError, InvalidHashError):
        raise Invalid("The current password is wrong.", field="body.current_password") from None
    if row is None or row.password_hash is None:
        raise Invalid("This account has no password.", field="body.current_password")
    if len(new) < MIN_PASSWORD or len(new) > 1000:
        raise Invalid(
            f"Choose a password of at least {MIN_PASSWORD} characters.", field="body.new_password"
        )
    await session.execute(
        update(accounts).where(accounts.c.id == account_id).values(password_hash=HASHER.hash(new))
    )


async def verification_queue(session: AsyncSession, *, limit: int = 100) -> list[Account]:
    rows = await session.execute(
        select(accounts)
        .where(accounts.c.status == PENDING)
        .order_by(accounts.c.created_at, accounts.c.id)
        .limit(limit)
    )
    return [_account(r) for r in rows]


async def decide(
    session: AsyncSession, *, account_id: str, staff_id: str, verified: bool, note: str = ""
) -> Account:
    """Staff verify (or reject) a pending resident; a decided account is a 409."""
    result = await session.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.status == PENDING)
        .values(
            status=VERIFIED if verified else REJECTED,
            status_note=note[:2000] or None,
            verified_by=staff_id,
            verified_at=clock.now(),
        )
    )
    if result.rowcount != 1:
        await get_account(session, account_id=account_id)
        raise Conflict("This account was already decided.", code="accounts.already_decided")
    return await get_account(session, account_id=account_id)


async def set_language(session: AsyncSession, *, account_id: str, language: str) -> None:
    await session.execute(
        update(accounts).where(accounts.c.id == account_id).values(language=language)
    )


async def search_accounts(session: AsyncSession, *, query: str, limit: int = 20) -> list[Account]:
    pattern = f"%{query.strip().lower()}%"
    rows = await session.execute(
        select(accounts)
        .where(
            (func.lower(accounts.c.email).like(pattern))
            | (func.lower(accounts.c.display_name).like(pattern))
        )
        .order_by(accounts.c.display_name)
        .limit(limit)
    )
    return [_account(r) for r in rows]


async def find_by_oidc_subject(session: AsyncSession, *, subject: str) -> Account | None:
    row = (
        await session.execute(select(accounts).where(accounts.c.oidc_subject == subject))
    ).first()
    return _account(row) if row else None


async def oidc_account(
    session: AsyncSession,
    *,
    subject: str,
    email: str,
    display_name: str,
    roles: tuple[str, ...],
    neighbourhood: str | None,
) -> Account:
    """The account linked to an identity-provider subject, created on first log-in.

    The provider has checked the identity: the account is verified from the start."""
    row = (
        await session.execute(select(accounts).where(accounts.c.oidc_subject == subject))
    ).first()
    if row is None:
        account_id = new_id()
        await session.execute(
            accounts.insert().values(
                id=account_id,
                email=normalise_email(email) or f"{account_id}@oidc.invalid",
                display_name=(display_name or email or "—")[:100],
                password_hash=None,
                address="",
                neighbourhood=neighbourhood,
                roles=",".join(roles or ("resident",)),
                status=VERIFIED,
                oidc_subject=subject,
                language="fr",
                created_at=clock.now(),
            )
        )
        return await get_account(session, account_id=account_id)
    values = {"roles": ",".join(roles)} if roles else {}
    if neighbourhood:
        values["neighbourhood"] = neighbourhood
    if values:
        await session.execute(update(accounts).where(accounts.c.id == row.id).values(**values))
    return await get_account(session, account_id=row.id)
