"""What the Refund… form reads while a person fills it in, each in one call that opens and
closes its own session: the payment's summary with what is refundable, its pro-rata quote and
the policy's refund reasons, and the preview of one state of the form (or the sentence refusing it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.access import policy
from core.payments import queries as payments
from core.refunds import queries as rq
from core.refunds import service as rf
from core.refunds.prorata import pro_rata_quote
from core.refunds.records import ProRataQuote, RequestPreview
from core.refunds.rows import payment_refusal
from core.store.db import Database


@dataclass(frozen=True)
class PaymentInfo:
    """What the form shows about the payment."""

    id: str
    merchant_name: str
    order_id: str
    amount: int
    currency: str
    refunded: int
    refundable: int
    refusal: str | None  # why this payment cannot be refunded at all
    quote: ProRataQuote
    reasons: dict[str, str]  # the policy's refund reasons, code → label, in its order


def payment_info(db: Database, payment_id: str, now: datetime) -> PaymentInfo:
    with db.read() as session:
        d = payments.detail(session, payment_id)
        p = d.payment
        return PaymentInfo(
            id=p.id,
            merchant_name=d.merchant_name,
            order_id=p.order_id,
            amount=p.amount,
            currency=p.currency,
            refunded=p.refunded_amount,
            refundable=rq.refundable(session, p.id),
            refusal=payment_refusal(p),
            quote=pro_rata_quote(session, p.id, now),
            reasons=policy.get(session, "refund_reasons"),
        )


def preview(
    db: Database, payment_id: str, *, kind: str, amount_text: str, now: datetime
) -> RequestPreview:
    """What requesting ``kind`` (with ``amount_text`` for a partial refund) would do now;
    raises the service's PaydeskError when it would be refused."""
    with db.read() as session:
        amount = None
        if kind == "partial" and amount_text.strip():
            amount = rq.parse_refund_amount(session, payment_id, amount_text)
        return rf.preview_request(session, payment_id, amount=amount, kind=kind, now=now)
