"""What the Refunds view, the CLI and the export read about refunds: a filtered page, refunds by
id, one refund's detail and audit trail, multi-approve totals, and what a payment still has to
refund. No writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Select, func, or_, select, tuple_
from sqlalchemy.orm import Session

from core import ids, money
from core.clock import utc
from core.refunds.prorata import compute_pro_rata
from core.refunds.records import (
    AuditEntry,
    PaymentSummary,
    RefundDetail,
    RefundFilter,
    RefundView,
)
from core.refunds.rows import load_payment, load_refund, payment_refusal
from core.refunds.states import COUNTED
from core.store.models import AuditEvent, Merchant, Refund, Subscription

PAGE_SIZE = 200


def parse_refund_amount(session: Session, payment_id: str, text: str) -> int:
    """What a person typed ("12.50") as minor units of the payment's currency; refuses zero,
    negatives, non-numbers and more decimals than the currency has."""
    payment = load_payment(session, payment_id)
    return money.parse_amount(text, payment.currency)


def refundable(session: Session, payment_id: str) -> int:
    """Minor units of the payment still refundable: its amount minus every refund that is not
    rejected, failed or cancelled (0 for a payment that cannot be refunded)."""
    payment = load_payment(session, payment_id)
    if payment_refusal(payment):
        return 0
    return max(0, payment.amount - payment.refunded_amount)


def live_total(session: Session, payment_id: str) -> int:
    """The sum of the payment's refunds still counted (pending approval, approved, processing,
    processed): what it has had refunded and requested so far."""
    total = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment_id, Refund.status.in_(COUNTED)
        )
    )
    return int(total or 0)


def totals_by_currency(session: Session, refund_ids: Sequence[str]) -> dict[str, int]:
    """The total of the given refunds per currency (the multi-approve confirmation)."""
    if not refund_ids:
        return {}
    rows = session.execute(
        select(Refund.currency, func.sum(Refund.amount))
        .where(Refund.id.in_(list(refund_ids)))
        .group_by(Refund.currency)
        .order_by(Refund.currency)
    )
    return {currency: int(total) for currency, total in rows}


def build_query(f: RefundFilter, *, now: datetime | None = None) -> Select[Refund]:
    """The filtered, ordered query without a page bound."""
    stmt = select(Refund)
    if f.status:
        stmt = stmt.where(Refund.status == f.status)
    if f.merchant_id:
        stmt = stmt.where(Refund.merchant_id == f.merchant_id)
    if f.requested_by:
        stmt = stmt.where(Refund.requested_by == f.requested_by)
    if f.kind:
        stmt = stmt.where(Refund.kind == f.kind)
    if f.payment_id:
        stmt = stmt.where(Refund.payment_id == f.payment_id)
    if f.currency:
        stmt = stmt.where(Refund.currency == f.currency)
    if f.created_from:
        stmt = stmt.where(Refund.created_at >= f.created_from)
    if f.created_to:
        stmt = stmt.where(Refund.created_at < f.created_to)
    if f.processed_from:
        stmt = stmt.where(Refund.processed_at >= f.processed_from)
    if f.processed_to:
        stmt = stmt.where(Refund.processed_at < f.processed_to)
    if f.min_age is not None or f.max_age is not None:
        if now is None:
            raise ValueError("an age filter needs now")
        if f.min_age is not None:
            stmt = stmt.where(Refund.created_at <= utc(now) - f.min_age)
        if f.max_age is not None:
            stmt = stmt.where(Refund.created_at >= utc(now) - f.max_age)
    if f.search:
        q = f.search
        if q.startswith(f"{ids.PREFIXES['refund']}_"):
            stmt = stmt.where(Refund.id == q)
        elif q.startswith(f"{ids.PREFIXES['payment']}_"):
            stmt = stmt.where(Refund.payment_id == q)
        else:
            stmt = stmt.where(or_(Refund.id == q, Refund.payment_id == q))
    if f.descending:
        return stmt.order_by(Refund.created_at.desc(), Refund.id.desc())
    return stmt.order_by(Refund.created_at.asc(), Refund.id.asc())


def page(
    session: Session,
    f: RefundFilter,
    after: tuple[datetime, str] | None = None,
    limit: int = PAGE_SIZE,
    *,
    now: datetime | None = None,
) -> list[RefundView]:
    """One page of refunds after ``after`` (from ``RefundView.cursor``), newest first unless
    ``f.descending`` is False. ``now`` (the clock's) is needed only for age filters."""
    f = f.validated()
    stmt = build_query(f, now=now)
    if after is not None:
        pair = tuple_(Refund.created_at, Refund.id)
        stmt = stmt.where(pair < tuple_(*after) if f.descending else pair > tuple_(*after))
    return [RefundView.of(r) for r in session.scalars(stmt.limit(limit))]


def get(session: Session, refund_id: str) -> RefundView:
    """One refund; NotFound when there is none."""
    return RefundView.of(load_refund(session, refund_id))


def get_many(session: Session, refund_ids: Sequence[str]) -> list[RefundView]:
    """The refunds with these ids that exist, in no particular order (a view refreshing the
    rows a change notice named)."""
    wanted = list(dict.fromkeys(refund_ids))
    found: list[RefundView] = []
    # Bounded IN lists keep every statement well under the databases' parameter limits.
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.extend(
            RefundView.of(r)
            for r in session.scalars(
                select(Refund).where(Refund.id.in_(chunk)).execution_options(populate_existing=True)
            )
        )
    return found


def audit_trail(session: Session, refund_id: str) -> list[AuditEntry]:
    """Every audit event about this refund, oldest first."""
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == "refund", AuditEvent.entity_id == refund_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [
        AuditEntry(e.at, e.actor, e.action, json.loads(e.details) if e.details else {}, e.client)
        for e in rows
    ]


def detail(session: Session, refund_id: str) -> RefundDetail:
    """The refund, its payment's summary and remaining refundable amount, every refund of that
    payment, the pro-rata computation behind a pro-rata refund, and this refund's audit trail."""
    refund = load_refund(session, refund_id)
    payment = load_payment(session, refund.payment_id)
    merchant_name = session.scalar(select(Merchant.name).where(Merchant.id == payment.merchant_id))
    summary = PaymentSummary(
        id=payment.id,
        merchant_id=payment.merchant_id,
        merchant_name=merchant_name or payment.merchant_id,
        order_id=payment.order_id,
        amount=payment.amount,
        currency=payment.currency,
        method=payment.method,
        status=payment.status,
        captured=payment.captured,
        refunded_amount=payment.refunded_amount,
        created_at=payment.created_at,
    )
    siblings = session.scalars(
        select(Refund)
        .where(Refund.payment_id == payment.id)
        .order_by(Refund.created_at, Refund.id)
        .execution_options(populate_existing=True)
    )
    quote = None
    if refund.subscription_id is not None:
        sub = session.get(Subscription, refund.subscription_id)
        if sub is not None:
            # As computed when it was requested (the amount it was requested for).
            computed = compute_pro_rata(payment, sub, refund.created_at)
            quote = replace(computed, amount=refund.amount, capped=refund.amount < computed.amount)
    return RefundDetail(
        refund=RefundView.of(refund),
        payment=summary,
        refundable=0 if payment_refusal(payment) else summary.refundable,
        refunds=[RefundView.of(r) for r in siblings],
        pro_rata=quote,
        audit=audit_trail(session, refund_id),
    )
