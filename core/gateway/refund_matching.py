"""What a gateway says about refunds, applied to Paydesk's refunds: the refunds Paydesk sent
move to ``processed`` or ``failed`` as the gateway reports them, a refund whose POST answer was
lost is found and linked, and a refund made at the gateway that Paydesk did not request
becomes a refund row of its own (so the payment's refunded amount, which the database derives
from the live refunds, follows the gateway).

How a lost refund is recognised: Paydesk sends its refund id as the ``Idempotency-Key``, in
the body's ``idempotency_key`` and at the end of the ``reason`` (``… (Paydesk rfnd_…)``); the
gateways echo the reason in their refund rows. A gateway refund naming a Paydesk refund is
that refund when payment and amount agree. One that names none is taken for the only open
refund of the same payment and amount, if there is exactly one. Anything else waits for a
person: while a payment has an open refund, a gateway refund on it that cannot be matched is
noted as a candidate in that refund's evidence, never added on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import ids
from core.access import audit, policy
from core.context import Context
from core.gateway.rows import GatewayRefund, Skipped
from core.money import format_money
from core.payments.queries import iso
from core.refunds.completion import WORKER_ACTOR, record_outcomes
from core.refunds.rows import touch
from core.refunds.states import COUNTED, RefundStatus
from core.store import notify
from core.store.models import Payment, Refund

# gateway_outcome values (migration 0010).
UNKNOWN = "unknown"  # sent, the answer lost: looked for on each sync
NEEDS_CHECK = "needs_check"  # not found within gateway_refund_check_minutes: a person decides
RESEND = "resend"  # a person asked for it to be sent again
OPEN = (UNKNOWN, NEEDS_CHECK, RESEND)
MAX_EVIDENCE = 4000  # characters of evidence kept (the newest lines)
_MARK = re.compile(r"\(Paydesk (rfnd_[A-Za-z0-9]{1,40})\)")
# The gateway's statuses, from least to most final, so a page naming a refund twice keeps the
# latest word.
_RANK = {"pending": 0, "failed": 1, "processed": 2}


def reason_text(r: Refund) -> str:
    """The ``reason`` sent with a refund: Paydesk's reason and its refund id, which the
    gateway echoes in its refund rows."""
    return f"{r.reason} (Paydesk {r.id})"


def marked_id(g: GatewayRefund) -> str | None:
    """The Paydesk refund a gateway refund names (its reason, or an echoed idempotency key)."""
    if g.idempotency_key:
        return g.idempotency_key
    found = _MARK.search(g.reason or "")
    return found.group(1) if found else None


def add_evidence(r: Refund, line: str) -> None:
    text = f"{r.gateway_evidence}\n{line}" if r.gateway_evidence else line
    r.gateway_evidence = text[-MAX_EVIDENCE:]


def describe(g: GatewayRefund) -> str:
    return f"{g.id} ({g.amount} minor units, {g.status}, created {iso(g.created_at)})"


@dataclass
class RefundsApplied:
    """What one batch of gateway refunds changed."""

    added: int = 0
    updated: int = 0
    skipped: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # gateway refund ids read in this sync
    payments: set[str] = field(default_factory=set)  # payments whose refunds changed


def _newest(refunds: Iterable[GatewayRefund]) -> dict[str, GatewayRefund]:
    by_id: dict[str, GatewayRefund] = {}
    for g in refunds:
        old = by_id.get(g.id)
        if old is None or _RANK.get(g.status, 0) >= _RANK.get(old.status, 0):
            by_id[g.id] = g
    return by_id


def _match(g: GatewayRefund, open_refunds: list[Refund]) -> tuple[Refund | None, str]:
    """The open Paydesk refund ``g`` is, and how it was recognised."""
    named = marked_id(g)
    same = [r for r in open_refunds if r.payment_id == g.payment_id and r.amount == g.amount]
    if named:
        hit = [r for r in same if r.id == named]
        return (hit[0], "it names this refund") if hit else (None, "")
    if len(same) == 1:
        return same[0], "the only open refund of this payment and amount"
    return None, ""


def follow_status(
    ctx: Context, session: Session, r: Refund, g: GatewayRefund, now: datetime
) -> None:
    """Once ``r`` is known to be the gateway's ``g``: processed or failed as the gateway says,
    with the usual bookkeeping (``record_outcomes``), or still waiting for it."""
    session.flush()
    if g.status == "processed":
        processed = [(r, g.processed_at or now)]
        record_outcomes(ctx, session, now=now, worker=ctx.client_id, processed=processed, failed=[])
    elif g.status == "failed":
        why = f"The gateway {r.gateway} reports refund {g.id} failed."
        record_outcomes(
            ctx, session, now=now, worker=ctx.client_id, processed=[], failed=[(r, why)]
        )
    else:
        notify.emit(session, "refunds", [r.id], r.status, ctx.client_id)


def link(
    ctx: Context, session: Session, r: Refund, g: GatewayRefund, how: str, now: datetime
) -> None:
    """Record ``g`` as the gateway's refund for ``r`` (audited as found by the worker)."""
    r.gateway_refund_id = g.id
    r.gateway_outcome = None
    r.gateway_checked_at = now
    add_evidence(r, f"{iso(now)}: found at the gateway as {describe(g)}; {how}.")
    touch(
        ctx,
        session,
        r,
        now,
        actor=WORKER_ACTOR,
        action="refund.gateway_found",
        details={"gateway": r.gateway, "gateway_refund_id": g.id, "how": how},
    )


def _add_external(
    ctx: Context,
    session: Session,
    name: str,
    merchant_id: str,
    g: GatewayRefund,
    now: datetime,
    done: RefundsApplied,
) -> Refund | None:
    """A refund made at the gateway that Paydesk did not request, as a refund row."""
    payment = session.get(Payment, g.payment_id)
    if payment is None or payment.gateway != name:
        why = "its payment is not synced from this connection (yet)"
        done.skipped.append(Skipped("refund", g.id, why).sentence())
        return None
    if g.status != "failed":
        live = session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.payment_id == payment.id, Refund.status.in_(COUNTED)
            )
        )
        if int(live or 0) + g.amount > payment.amount:
            why = (
                f"with Paydesk's own refunds of payment {payment.id} it would add up to more "
                f"than the payment's {format_money(payment.amount, payment.currency)}"
            )
            done.skipped.append(Skipped("refund", g.id, why).sentence())
            return None
    status = {"pending": "processing", "processed": "processed", "failed": "failed"}[g.status]
    who = f"gateway {name}"[:100]
    row = Refund(
        id=ids.new_id("refund"),
        payment_id=payment.id,
        merchant_id=merchant_id,
        amount=g.amount,
        currency=payment.currency,
        kind="full" if g.amount == payment.amount else "partial",
        reason="other",
        note=f"Made at the gateway: {g.reason}"[:2000] if g.reason else "Made at the gateway.",
        status=status,
        requested_by=who,
        decided_by=who,
        decided_at=g.created_at,
        processed_at=(g.processed_at or now) if status == "processed" else None,
        failure_reason="The gateway reports this refund failed." if status == "failed" else None,
        version=1,
        created_at=g.created_at,
        updated_at=now,
        gateway=name,
        gateway_refund_id=g.id,
        gateway_checked_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=WORKER_ACTOR,
        action="refund.gateway_seen",
        entity_type="refund",
        entity_id=row.id,
        details={"gateway": name, "gateway_refund_id": g.id, "status": status},
        client=ctx.client_id,
    )
    done.added += 1
    done.payments.add(payment.id)
    notify.emit(session, "refunds", [row.id], status, ctx.client_id)
    return row


def apply_refunds(
    ctx: Context,
    session: Session,
    name: str,
    merchant_id: str,
    refunds: Iterable[GatewayRefund],
    where: str,
    done: RefundsApplied,
) -> None:
    """Apply what the gateway reports (``where``: the refund list, a webhook payload, a
    look-up by id) in the caller's transaction."""
    by_id = _newest(refunds)
    if not by_id:
        return
    now = ctx.clock.now()
    done.seen.update(by_id)
    known = {
        r.gateway_refund_id: r
        for r in session.scalars(
            select(Refund)
            .where(Refund.gateway == name, Refund.gateway_refund_id.in_(list(by_id)))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    payment_ids = sorted({g.payment_id for g in by_id.values()})
    open_refunds = list(
        session.scalars(
            select(Refund)
            .where(
                Refund.payment_id.in_(payment_ids),
                Refund.gateway == name,
                Refund.status == RefundStatus.PROCESSING,
                Refund.gateway_outcome.in_(OPEN),
                Refund.gateway_refund_id.is_(None),
            )
            .order_by(Refund.created_at, Refund.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    processed: list[tuple[Refund, datetime]] = []
    failed: list[tuple[Refund, str]] = []
    for g in by_id.values():
        row = known.get(g.id)
        if row is None:
            found, how = _match(g, open_refunds)
            if found is not None:
                link(ctx, session, found, g, f"{how} ({where})", now)
                open_refunds.remove(found)
                row = known[g.id] = found
                done.updated += 1
                done.payments.add(found.payment_id)
                notify.emit(session, "refunds", [found.id], found.status, ctx.client_id)
            elif any(r.payment_id == g.payment_id for r in open_refunds):
                for r in open_refunds:
                    line = f"Candidate at the gateway ({where}): {describe(g)}."
                    if r.payment_id == g.payment_id and line not in (r.gateway_evidence or ""):
                        add_evidence(r, line)
                continue
            else:
                _add_external(ctx, session, name, merchant_id, g, now, done)
                continue
        if row.status != RefundStatus.PROCESSING:
            continue  # final in Paydesk already; the gateway never moves a refund back
        if g.status == "processed":
            processed.append((row, g.processed_at or now))
        elif g.status == "failed":
            failed.append((row, f"The gateway {name} reports refund {g.id} failed."))
    if processed or failed:
        session.flush()
        record_outcomes(
            ctx, session, now=now, worker=ctx.client_id, processed=processed, failed=failed
        )
        done.updated += len(processed) + len(failed)
        done.payments.update(r.payment_id for r, _ in processed)
        done.payments.update(r.payment_id for r, _ in failed)


def check_minutes(session: Session) -> timedelta:
    return timedelta(minutes=int(policy.get(session, "gateway_refund_check_minutes")))
