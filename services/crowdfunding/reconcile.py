"""Reconcile the ledger with the payment provider: find holds nobody will ever settle.

A hold is an orphan when the provider keeps it (an authorisation, or a card saved for us)
while our pledge is closed (voided, cancelled, declined…) or unknown: a process that died
between the card's answer and our write, or a void that never reached the provider. Such
a hold is voided (with its own idempotency key, `<pledge>:reconcile-void`). The other way
round, an authorised pledge without a hold at the provider is reported, not changed: the
capture at settlement will say what the bank thinks.

Dry run by default: `sharitories crowdfunding reconcile` reports, `--apply` acts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select

from services.crowdfunding import domain
from services.crowdfunding.db import pledges
from services.crowdfunding.payments import Payment, idempotency_key
from services.crowdfunding.pledges import Crowdfunding


@dataclass(frozen=True)
class Finding:
    problem: str  # orphan-hold | unknown-pledge | missing-hold
    reference: str
    payment_id: str | None
    amount_cents: int
    pledge_status: str | None
    action: str  # voided | would-void | void-failed | report-only


async def reconcile(cf: Crowdfunding, *, apply: bool = False) -> list[Finding]:
    holds = await cf.provider.open_holds()
    async with cf.runtime.db.read() as session:
        rows = (
            await session.execute(
                select(pledges).where(
                    pledges.c.id.in_([h.reference for h in holds])
                    | ((pledges.c.status == domain.ACTIVE) & (pledges.c.channel == "online"))
                )
            )
        ).all()
    ledger = {r.id: r for r in rows}
    findings: list[Finding] = []
    for hold in holds:
        row = ledger.get(hold.reference)
        if row is not None and row.status in domain.OPEN:
            continue
        payment = Payment(
            payment_id=hold.payment_id,
            reference=hold.reference,
            amount_cents=hold.amount_cents,
            customer_id=row.customer_id if row is not None else None,
            method_id=hold.method_id or (row.method_id if row is not None else None),
        )
        action = "would-void"
        if apply:
            result = await cf.provider.void(
                idempotency_key=idempotency_key(hold.reference, "reconcile-void"),
                payment=payment,
            )
            action = "voided" if result.status == "voided" else "void-failed"
        findings.append(
            Finding(
                problem="orphan-hold" if row is not None else "unknown-pledge",
                reference=hold.reference,
                payment_id=hold.payment_id,
                amount_cents=hold.amount_cents,
                pledge_status=row.status if row is not None else None,
                action=action,
            )
        )
    held = {h.reference for h in holds}
    for row in ledger.values():
        if row.status == domain.ACTIVE and row.channel == "online" and row.id not in held:
            findings.append(
                Finding(
                    problem="missing-hold",
                    reference=row.id,
                    payment_id=row.payment_id,
                    amount_cents=row.amount_cents,
                    pledge_status=row.status,
                    action="report-only",
                )
            )
    return findings


def as_dicts(findings: list[Finding]) -> list[dict]:
    return [asdict(f) for f in findings]
