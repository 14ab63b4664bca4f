"""What finishing a refund writes: processed (its time, its ``refund.processed`` webhook log) or
failed with a sentence, the worker's audit events and the change notices, in the caller's
transaction.

Both ends of processing use it: the processing task finishing Paydesk's own refunds, and the
gateway code when a gateway reports a refund Paydesk sent as processed or failed. The caller
has locked the rows and checked that each is ``processing``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.access import audit, roles
from core.context import Context
from core.money import format_money
from core.payments.queries import iso
from core.store import notify
from core.store.models import Refund
from core.webhooks import events as webhook_events

WORKER_ACTOR = roles.WORKER_ACTOR


def webhook_data(r: Refund, processed_at: datetime) -> dict[str, Any]:
    """The ``data`` of a ``refund.processed`` event."""
    return {
        "id": r.id,
        "payment_id": r.payment_id,
        "amount": r.amount,
        "currency": r.currency,
        "kind": r.kind,
        "reason": r.reason,
        "status": "processed",
        "created_at": iso(r.created_at),
        "processed_at": iso(processed_at),
    }


def record_outcomes(
    ctx: Context,
    session: Session,
    *,
    now: datetime,
    worker: str,
    processed: list[tuple[Refund, datetime]],
    failed: list[tuple[Refund, str]],
) -> None:
    """Mark ``processed`` (each with its processed time) and ``failed`` (each with its
    sentence), and write their webhook logs, audit events and notices."""
    done = {
        "lease_owner": None,
        "lease_expires_at": None,
        "version": Refund.version + 1,
        "updated_at": now,
    }
    # One statement per processed time (a batch of the processing task shares one).
    by_time: dict[datetime, list[str]] = defaultdict(list)
    for r, at in processed:
        by_time[at].append(r.id)
    for at, ids in by_time.items():
        session.execute(
            update(Refund)
            .where(Refund.id.in_(ids))
            .values(status="processed", processed_at=at, **done)
            .execution_options(synchronize_session=False)
        )
    for r, reason in failed:
        session.execute(
            update(Refund)
            .where(Refund.id == r.id)
            .values(status="failed", failure_reason=reason, **done)
            .execution_options(synchronize_session=False)
        )
    # A failed refund no longer counts against its payment: the database's trigger takes it
    # out of refunded_amount.
    webhook_events.enqueue_many(
        session,
        (
            webhook_events.NewEvent(r.merchant_id, "refund.processed", webhook_data(r, at), r.id)
            for r, at in processed
        ),
        now=now,
        origin=ctx.client_id,
    )

    def details(r: Refund, status: str, **extra: Any) -> dict[str, Any]:
        found = {
            "payment_id": r.payment_id,
            "amount": r.amount,
            "currency": r.currency,
            "amount_text": format_money(r.amount, r.currency),
            "status": status,
            "worker": worker,
            **extra,
        }
        if r.gateway:
            found["gateway"] = r.gateway
            found["gateway_refund_id"] = r.gateway_refund_id
        return found

    audit.record_many(
        session,
        at=now,
        actor=WORKER_ACTOR,
        action="refund.process",
        entity_type="refund",
        events=((r.id, details(r, "processed")) for r, _at in processed),
        client=ctx.client_id,
    )
    audit.record_many(
        session,
        at=now,
        actor=WORKER_ACTOR,
        action="refund.fail",
        entity_type="refund",
        events=((r.id, details(r, "failed", failure_reason=why)) for r, why in failed),
        client=ctx.client_id,
    )
    if processed:
        notify.emit(session, "refunds", [r.id for r, _ in processed], "processed", ctx.client_id)
    if failed:
        notify.emit(session, "refunds", [r.id for r, _ in failed], "failed", ctx.client_id)
        notify.emit(
            session, "payments", sorted({r.payment_id for r, _ in failed}), None, ctx.client_id
        )
