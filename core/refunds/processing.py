"""Processing approved refunds and auto-approving stale pro-rata requests (scheduler tasks).

Processing is a durable queue over the refunds table. A worker first *claims* a batch of
approved refunds in a short transaction: it marks them ``processing`` with a lease (its owner
name and an expiry). On Postgres the claim selects with ``FOR UPDATE SKIP LOCKED``, so two
copies never claim the same row; on SQLite ``BEGIN IMMEDIATE`` serialises claims. It then
*completes* the batch in a second transaction that locks the claimed rows, keeps only those
still leased to it, re-checks the invariant, marks each processed (or failed, with a
sentence) and inserts its ``refund.processed`` webhook log in the same transaction. A copy
that dies between the two leaves rows whose lease expires; the next claim takes them back.

Refunds of gateway payments (``payments.gateway`` set) are not completed here: each round sends
them to their gateway (core.gateway.refund_sending), from copies that hold the connection's
secret, and they become processed when the gateway says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from core.access import policy, roles
from core.context import Context
from core.gateway.refund_sending import RESEND_NOTICE, send_due
from core.jobs.task import Task
from core.money import format_money
from core.refunds.completion import record_outcomes
from core.refunds.rows import payment_refusal, touch
from core.refunds.service import AUTO_ACTOR
from core.refunds.states import COUNTED, RefundStatus
from core.store import notify
from core.store.models import Payment, Refund

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# Refunds one task run handles at most, so a run (and a stop() waiting for it) stays short.
ROUND_LIMIT = 5_000
LEASE = timedelta(seconds=60)
WORKER_ACTOR = roles.WORKER_ACTOR
PROCESSING_TASK = "refund_processing"
PROCESSING_INTERVAL = 2.0
AUTO_APPROVE_INTERVAL = 300.0


@dataclass(frozen=True)
class ProcessingOutcome:
    processed: int = 0
    failed: int = 0
    # Claimed rows whose lease another worker took over before this one completed them.
    lost: int = 0
    # Gateway refunds: sent (the gateway's id stored), sent with the answer lost, waiting
    # because nothing reached the gateway (and why).
    sent: int = 0
    unknown: int = 0
    waiting: int = 0
    error: str | None = None

    def __add__(self, other: ProcessingOutcome) -> ProcessingOutcome:
        return ProcessingOutcome(
            self.processed + other.processed,
            self.failed + other.failed,
            self.lost + other.lost,
            self.sent + other.sent,
            self.unknown + other.unknown,
            self.waiting + other.waiting,
            self.error or other.error,
        )

    @property
    def handled(self) -> int:
        return self.processed + self.failed + self.sent + self.unknown

    def describe(self) -> str | None:
        if not self.handled and not self.lost and not self.waiting:
            return None
        parts = [f"{self.processed} processed"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.lost:
            parts.append(f"{self.lost} taken over by another worker")
        if self.sent:
            parts.append(f"{self.sent} sent to the gateway")
        if self.unknown:
            parts.append(f"{self.unknown} sent with the answer lost (looked for on each sync)")
        if self.waiting:
            parts.append(f"{self.waiting} waiting: {self.error}")
        return ", ".join(parts)


def _owner(owner: str) -> str:
    return owner[:64]  # the lease_owner column's width


def claim(ctx: Context, owner: str, limit: int = BATCH_SIZE) -> list[str]:
    """Lease up to ``limit`` approved refunds of Paydesk's own payments (and ones whose lease
    expired) to ``owner``. Returns their ids, oldest first."""
    owner = _owner(owner)
    with ctx.db.write() as session:
        now = ctx.clock.now()
        claimed = list(
            session.scalars(
                select(Refund.id)
                .join(Payment, Payment.id == Refund.payment_id)
                .where(Refund.status == "approved", Payment.gateway.is_(None))
                .order_by(Refund.created_at, Refund.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Refund)
            )
        )
        if len(claimed) < limit:
            # A copy that died mid-batch: its lease ran out, so the work is free again.
            expired = list(
                session.scalars(
                    select(Refund.id)
                    .join(Payment, Payment.id == Refund.payment_id)
                    .where(
                        Refund.status == "processing",
                        Refund.lease_expires_at < now,
                        Payment.gateway.is_(None),
                    )
                    .order_by(Refund.created_at, Refund.id)
                    .limit(limit - len(claimed))
                    .with_for_update(skip_locked=True, of=Refund)
                )
            )
            if expired:
                log.info("Reclaiming %d refunds whose processing lease expired", len(expired))
            claimed += expired
        if not claimed:
            return []
        session.execute(
            update(Refund)
            .where(Refund.id.in_(claimed))
            .values(
                status="processing",
                lease_owner=owner,
                lease_expires_at=now + LEASE,
                version=Refund.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        notify.emit(session, "refunds", claimed, "processing", ctx.client_id)
        return claimed


def complete(ctx: Context, owner: str, refund_ids: list[str]) -> ProcessingOutcome:
    """Process the refunds ``owner`` claimed: each still leased to it becomes processed (with
    its ``refund.processed`` webhook log) or failed with a sentence, in one transaction."""
    owner = _owner(owner)
    if not refund_ids:
        return ProcessingOutcome()
    with ctx.db.write() as session:
        now = ctx.clock.now()
        # The row locks keep a reclaiming worker off these rows until this commits; the
        # owner test drops rows another worker already took over.
        rows = list(
            session.scalars(
                select(Refund)
                .where(
                    Refund.id.in_(refund_ids),
                    Refund.status == "processing",
                    Refund.lease_owner == owner,
                )
                .order_by(Refund.created_at, Refund.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        lost = len(refund_ids) - len(rows)
        if not rows:
            return ProcessingOutcome(lost=lost)
        payment_ids = sorted({r.payment_id for r in rows})
        payments = {
            p.id: p for p in session.scalars(select(Payment).where(Payment.id.in_(payment_ids)))
        }
        # Re-check the invariant from the refunds themselves, not from the bookkeeping.
        counted: dict[str, int] = {
            pid: int(total)
            for pid, total in session.execute(
                select(Refund.payment_id, func.sum(Refund.amount))
                .where(Refund.payment_id.in_(payment_ids), Refund.status.in_(COUNTED))
                .group_by(Refund.payment_id)
            )
        }
        processed: list[Refund] = []
        failed: list[tuple[Refund, str]] = []
        for r in rows:
            payment = payments[r.payment_id]
            reason = payment_refusal(payment)
            if reason is None and counted.get(payment.id, 0) > payment.amount:
                reason = (
                    f"The refunds of payment {payment.id} add up to "
                    f"{format_money(counted[payment.id], payment.currency)}, more than its "
                    f"{format_money(payment.amount, payment.currency)}."
                )
            if reason is None:
                processed.append(r)
            else:
                counted[payment.id] = counted.get(payment.id, 0) - r.amount
                failed.append((r, reason))
        record_outcomes(
            ctx,
            session,
            now=now,
            worker=owner,
            processed=[(r, now) for r in processed],
            failed=failed,
        )
    if failed:
        log.warning("%d refunds could not be processed", len(failed))
    return ProcessingOutcome(len(processed), len(failed), lost)


def process_round(ctx: Context, owner: str, limit: int = ROUND_LIMIT) -> ProcessingOutcome:
    """Claim and complete batches until nothing is due or ``limit`` refunds were handled, then
    send the due refunds of gateway payments."""
    total = ProcessingOutcome()
    while total.handled < limit:
        claimed = claim(ctx, owner, min(BATCH_SIZE, limit - total.handled))
        if not claimed:
            break
        total = total + complete(ctx, owner, claimed)
    if total.handled < limit:
        sent = send_due(ctx, _owner(owner), limit - total.handled)
        total = total + ProcessingOutcome(
            failed=sent.failed,
            sent=sent.sent,
            unknown=sent.unknown,
            waiting=sent.waiting,
            error=sent.error,
        )
    return total


def process_due(ctx: Context, owner: str, limit: int = ROUND_LIMIT) -> int:
    """Process due refunds as ``owner``; returns how many were processed or failed."""
    return process_round(ctx, owner, limit).handled


def auto_approve_due(ctx: Context, limit: int = 500) -> int:
    """Approve pro-rata requests pending longer than the policy's ``pro_rata_auto_approve_days``
    (0 = never), as ``paydesk-auto``, each audited as ``refund.auto_approve``. Returns the count.
    In shared mode only a copy whose login may decide refunds does it (the database refuses
    the others); any other copy approves nothing."""
    with ctx.db.write() as session:
        if roles.login_refusal(session, "refund.decide"):
            return 0
        days = int(policy.get(session, "pro_rata_auto_approve_days") or 0)
        if days <= 0:
            return 0
        now = ctx.clock.now()
        cutoff = now - timedelta(days=days)
        rows = list(
            session.scalars(
                select(Refund)
                .where(
                    Refund.status == RefundStatus.PENDING_APPROVAL,
                    Refund.kind == "pro_rata",
                    Refund.created_at <= cutoff,
                )
                .order_by(Refund.created_at, Refund.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        )
        for r in rows:
            r.status = "approved"
            r.decided_by = AUTO_ACTOR
            r.decided_at = now
            touch(
                ctx,
                session,
                r,
                now,
                actor=AUTO_ACTOR,
                action="refund.auto_approve",
                details={
                    "payment_id": r.payment_id,
                    "amount": r.amount,
                    "currency": r.currency,
                    "amount_text": format_money(r.amount, r.currency),
                    "status": "approved",
                    "pending_days": days,
                    "requested_by": r.requested_by,
                },
            )
        if rows:
            notify.emit(session, "refunds", [r.id for r in rows], "approved", ctx.client_id)
        return len(rows)


def _run_processing(ctx: Context) -> str | None:
    return process_round(ctx, ctx.client_id).describe()


def _run_auto_approve(ctx: Context) -> str | None:
    with ctx.db.read() as session:
        why_not = roles.login_refusal(session, "refund.decide")
    if why_not:
        return f"Skipped: {why_not}; a finance or admin copy auto-approves."
    n = auto_approve_due(ctx)
    return f"{n} auto-approved" if n else None


def processing_task() -> Task:
    """The scheduler task that processes approved refunds every 2 s."""
    return Task(
        name=PROCESSING_TASK,
        title="Process approved refunds",
        interval=PROCESSING_INTERVAL,
        run=_run_processing,
        wake_on=_is_approval,
    )


def _is_approval(notice: notify.Notice) -> bool:
    # An approval, or a person asking for a gateway refund to be sent again.
    return (notice.table == "refunds" and notice.status == "approved") or (
        notice.table == RESEND_NOTICE and notice.status == "resend"
    )


def auto_approve_task() -> Task:
    """The scheduler task that auto-approves stale pro-rata requests every 5 minutes."""
    return Task(
        name="refund_auto_approve",
        title="Auto-approve stale pro-rata refunds",
        interval=AUTO_APPROVE_INTERVAL,
        run=_run_auto_approve,
        initial_delay=5.0,
    )
