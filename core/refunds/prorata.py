"""The pro-rata refund of a subscription payment: the unused share of its period in seconds,
rounded down to the minor unit and capped at what the payment has left, and the sentence saying
why it is not offered (no subscription, outside the refund window, already refunded pro rata,
nothing left)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utc
from core.refunds.records import ProRataQuote
from core.refunds.rows import load_payment, payment_refusal
from core.refunds.states import COUNTED
from core.store.models import Payment, Refund, Subscription


def compute_pro_rata(payment: Payment, sub: Subscription, at: datetime) -> ProRataQuote:
    """The computation at ``at``, whether or not it is offered (a refund's detail shows it as
    it was at the request)."""
    start, end = utc(sub.period_start), utc(sub.period_end)
    used_until = utc(at)
    if sub.cancelled_at is not None and utc(sub.cancelled_at) < used_until:
        used_until = utc(sub.cancelled_at)
    total = max(0, int((end - start).total_seconds()))
    used = min(total, max(0, int((used_until - start).total_seconds())))
    unused = total - used
    amount = payment.amount * unused // total if total else 0
    return ProRataQuote(
        payment_id=payment.id,
        currency=payment.currency,
        payment_amount=payment.amount,
        at=utc(at),
        subscription_id=sub.id,
        period_start=start,
        period_end=end,
        used_until=used_until,
        window_ends_at=start + timedelta(days=sub.refund_window_days),
        seconds_in_period=total,
        seconds_used=used,
        seconds_unused=unused,
        amount=amount,
    )


def pro_rata_for(session: Session, payment: Payment, now: datetime) -> ProRataQuote:
    """``pro_rata_quote`` for a payment row already read (locked, when requesting)."""
    sub = session.scalars(select(Subscription).where(Subscription.payment_id == payment.id)).first()
    if sub is None:
        return ProRataQuote(
            payment_id=payment.id,
            currency=payment.currency,
            payment_amount=payment.amount,
            at=utc(now),
            why_not=f"Payment {payment.id} is not a subscription payment, so it has no pro-rata refund.",
        )
    quote = compute_pro_rata(payment, sub, now)
    refusal = payment_refusal(payment)
    if refusal:
        return replace(quote, why_not=refusal)
    assert quote.window_ends_at is not None and quote.period_end is not None
    if quote.at > quote.window_ends_at:
        return replace(
            quote,
            why_not=(
                f"The refund window of subscription {sub.id} closed on "
                f"{quote.window_ends_at:%Y-%m-%d} ({sub.refund_window_days} days from the period start)."
            ),
        )
    if quote.seconds_unused <= 0 or quote.amount <= 0:
        return replace(
            quote,
            why_not=f"Nothing of subscription {sub.id}'s period is unused, so there is nothing to refund pro rata.",
        )
    earlier = session.scalar(
        select(Refund.id).where(
            Refund.subscription_id == sub.id,
            Refund.kind == "pro_rata",
            Refund.status.in_(COUNTED),
        )
    )
    if earlier:
        return replace(
            quote,
            why_not=f"Subscription {sub.id} already has a pro-rata refund ({earlier}); it is offered once.",
        )
    remaining = payment.amount - payment.refunded_amount
    if remaining <= 0:
        return replace(quote, why_not=f"Payment {payment.id} has nothing left to refund.")
    if quote.amount > remaining:
        return replace(quote, amount=remaining, capped=True)
    return quote


def pro_rata_quote(session: Session, payment_id: str, now: datetime) -> ProRataQuote:
    """The pro-rata refund of a subscription payment at ``now``: the period, seconds used and
    unused, the amount, and ``why_not`` when it is not offered (no subscription, outside the
    refund window, already refunded pro rata, nothing left)."""
    return pro_rata_for(session, load_payment(session, payment_id), now)
