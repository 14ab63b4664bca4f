"""After a sync has read the gateway's lists: the refunds Paydesk sent that the lists did not
show are asked for by id, and the refunds whose POST answer was lost and that are still not
found get a line of evidence; past the policy's ``gateway_refund_check_minutes`` they wait in
"Needs check" for a finance person (core.gateway.refund_review)."""

from __future__ import annotations

from sqlalchemy import select

from core.context import Context
from core.errors import sentence
from core.gateway.capabilities import Capabilities
from core.gateway.client import GatewayClient
from core.gateway.errors import GatewayError, GatewayNotFound
from core.gateway.refund_matching import (
    NEEDS_CHECK,
    UNKNOWN,
    RefundsApplied,
    add_evidence,
    apply_refunds,
    check_minutes,
)
from core.gateway.rows import GatewayRefund
from core.payments.queries import iso
from core.refunds.completion import WORKER_ACTOR
from core.refunds.rows import touch
from core.refunds.states import RefundStatus
from core.store import notify
from core.store.models import Refund

MAX_LOOKUPS = 200  # refunds asked for by id in one sync (the longest unchecked first)


def _where_looked(caps: Capabilities) -> str:
    places = []
    if caps.refund_list:
        places.append("the refund list")
    if caps.webhook_logs:
        places.append("the refund.* webhook payloads")
    places.append("the payment")
    return ", ".join(places)


def look_up_sent(
    ctx: Context, name: str, merchant_id: str, client: GatewayClient, done: RefundsApplied
) -> None:
    """Ask for each sent, still-processing refund the lists did not show, by its id."""
    with ctx.db.read() as session:
        pairs = list(
            session.execute(
                select(Refund.id, Refund.gateway_refund_id)
                .where(
                    Refund.gateway == name,
                    Refund.status == RefundStatus.PROCESSING,
                    Refund.gateway_refund_id.is_not(None),
                )
                .order_by(Refund.gateway_checked_at, Refund.id)
                .limit(MAX_LOOKUPS + len(done.seen))
            )
        )
    found: list[GatewayRefund] = []
    for _refund_id, gateway_id in pairs:
        if gateway_id in done.seen or len(found) >= MAX_LOOKUPS:
            continue
        try:
            found.append(client.get_refund(str(gateway_id)))
        except GatewayNotFound:
            continue  # noted by nobody: the next sync asks again
    if found:
        with ctx.db.write() as session:
            apply_refunds(ctx, session, name, merchant_id, found, "looked up by id", done)
            if done.payments:
                notify.emit(session, "payments", sorted(done.payments), None, ctx.client_id)


def check_open(ctx: Context, name: str, client: GatewayClient, caps: Capabilities) -> int:
    """Note where each still-unknown refund was looked for; those sent longer ago than the
    policy allows move to Needs check. Returns how many moved."""
    now = ctx.clock.now()
    with ctx.db.read() as session:
        limit = check_minutes(session)
        open_ = list(
            session.execute(
                select(Refund.id, Refund.payment_id).where(
                    Refund.gateway == name,
                    Refund.status == RefundStatus.PROCESSING,
                    Refund.gateway_outcome == UNKNOWN,
                    Refund.gateway_refund_id.is_(None),
                )
            )
        )
    if not open_:
        return 0
    said: dict[str, str] = {}
    for pid in sorted({p for _r, p in open_}):
        try:
            said[pid] = f"the gateway says payment {pid} is {client.get_payment(pid).status}"
        except GatewayError as exc:
            said[pid] = f"asking for payment {pid} failed: {sentence(exc).rstrip('.')}"
    moved: list[str] = []
    with ctx.db.write() as session:
        for refund_id, pid in open_:
            r = session.scalars(
                select(Refund)
                .where(Refund.id == refund_id, Refund.gateway_outcome == UNKNOWN)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one_or_none()
            if r is None or r.gateway_refund_id is not None:
                continue
            r.gateway_checked_at = now
            sent = r.gateway_sent_at
            if sent is not None and now - sent < limit:
                continue
            add_evidence(
                r,
                f"{iso(now)}: not found in {_where_looked(caps)} ({said[pid]}) "
                f"{int(limit.total_seconds() // 60)} minutes after it was sent: needs a check by "
                "a finance person (link it to the gateway's refund, or send it again).",
            )
            r.gateway_outcome = NEEDS_CHECK
            touch(
                ctx,
                session,
                r,
                now,
                actor=WORKER_ACTOR,
                action="refund.gateway_needs_check",
                details={"gateway": name, "evidence": r.gateway_evidence},
            )
            moved.append(r.id)
        if moved:
            notify.emit(session, "refunds", moved, "processing", ctx.client_id)
    return len(moved)
