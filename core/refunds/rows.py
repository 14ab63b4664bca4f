"""The payment and refund rows a refund action reads, always fresh (and locked when the action
is about to change what the payment has left), the one way a change of a refund row is
recorded (``touch``), and the sentences refusing a payment that cannot be refunded or an amount
above what it has left."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import audit
from core.context import Context
from core.errors import NotFound
from core.money import format_money
from core.store.models import Payment, Refund


def touch(
    ctx: Context,
    session: Session,
    r: Refund,
    now: datetime,
    *,
    actor: str,
    action: str,
    details: dict[str, Any],
) -> None:
    """One change of ``r`` by ``actor``: its version and time move on (so a person's stale
    decision is refused), and the change is one audit event in the same transaction."""
    r.version += 1
    r.updated_at = now
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        entity_type="refund",
        entity_id=r.id,
        details=details,
        client=ctx.client_id,
    )


def load_payment(session: Session, payment_id: str, *, lock: bool = False) -> Payment:
    """The payment as the database has it now (``lock``: FOR UPDATE); NotFound when none."""
    stmt = select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    payment = session.scalars(stmt).one_or_none()
    if payment is None:
        raise NotFound(f"There is no payment {payment_id}.")
    return payment


def load_refund(session: Session, refund_id: str, *, lock: bool = False) -> Refund:
    """The refund as the database has it now (``lock``: FOR UPDATE); NotFound when none."""
    stmt = select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    refund = session.scalars(stmt).one_or_none()
    if refund is None:
        raise NotFound(f"There is no refund {refund_id}.")
    return refund


def payment_refusal(payment: Payment) -> str | None:
    """Why ``payment`` cannot be refunded at all, or None."""
    if payment.status == "pending":
        return f"Payment {payment.id} is still pending; only a successful, captured payment can be refunded."
    if payment.status != "success":
        return f"Payment {payment.id} {payment.status}; only a successful, captured payment can be refunded."
    if not payment.captured:
        return f"Payment {payment.id} was not captured; only a successful, captured payment can be refunded."
    return None


def exceeds(amount: int, remaining: int, payment: Payment) -> str:
    """The sentence refusing a refund of ``amount`` when ``payment`` has ``remaining`` left."""
    return (
        f"The refund of {format_money(amount, payment.currency)} exceeds the "
        f"{format_money(max(0, remaining), payment.currency)} still refundable on payment {payment.id}."
    )
