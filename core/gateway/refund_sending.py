"""Sending approved refunds of gateway payments to their gateway, exactly once.

Only a copy that holds the connection's secret sends. It claims the refunds (``processing``,
with a lease), and before each POST commits that the refund is being sent
(``gateway_sent_at``, outcome ``unknown``): a copy that dies after the POST leaves a refund
that is looked for, never one that is sent again. Then:

- ``201``: the gateway's refund id is stored; the refund stays ``processing`` until the
  gateway reports it ``processed`` (core.gateway.refund_matching, on each sync).
- ``400``/``404`` (over-refund, payment not refundable, unknown payment): ``failed`` with the
  gateway's own sentence.
- The answer lost (timeout, reset), a ``5xx``, a page that is not the API's JSON: the outcome
  is unknown and recorded with its evidence; Paydesk never sends it again by itself.
- Nothing sent (no connection, the gateway refused the key): the refund waits and is tried
  again after ``RETRY_AFTER``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.context import Context
from core.errors import NotFound, sentence
from core.gateway import secrets
from core.gateway.capabilities import Capabilities
from core.gateway.client import GatewayClient
from core.gateway.connections import get_row
from core.gateway.errors import (
    GatewayAuthFailed,
    GatewayError,
    GatewayMissingRoute,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnreachable,
)
from core.gateway.refund_matching import (
    RESEND,
    UNKNOWN,
    add_evidence,
    follow_status,
    reason_text,
)
from core.gateway.rows import GatewayRefund
from core.money import format_money
from core.payments.queries import iso
from core.refunds.completion import WORKER_ACTOR, record_outcomes
from core.refunds.rows import touch
from core.refunds.states import RefundStatus
from core.store import notify
from core.store.models import Payment, Refund

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
RETRY_AFTER = timedelta(seconds=30)  # a refund that could not be sent waits this long
BATCH = 50
# The notice that wakes the processing task when a person asks for a refund to be sent again
# (no view lists this "table"; the refund's own notice says it is still processing).
RESEND_NOTICE = "gateway_refunds"
# Errors after which nothing reached the gateway's books: safe to send again later.
NOT_SENT = (GatewayUnreachable, GatewayTimeout, GatewayAuthFailed)
# Errors in which the gateway refused the refund with its own sentence.
REFUSED = (GatewayRejected, GatewayMissingRoute)


@dataclass(frozen=True)
class SendOutcome:
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    waiting: int = 0  # not sent: tried again after RETRY_AFTER
    error: str | None = None  # why refunds are waiting

    def __add__(self, other: SendOutcome) -> SendOutcome:
        return SendOutcome(
            self.sent + other.sent,
            self.failed + other.failed,
            self.unknown + other.unknown,
            self.waiting + other.waiting,
            self.error or other.error,
        )


def _due(now: datetime) -> ColumnElement[bool]:
    """Refunds of gateway payments that are due to be sent."""
    return or_(
        Refund.status == RefundStatus.APPROVED,
        and_(
            Refund.status == RefundStatus.PROCESSING,
            Refund.gateway_refund_id.is_(None),
            or_(
                Refund.gateway_outcome == RESEND,
                # Claimed by a copy that stopped before sending, or waiting after "not sent".
                and_(
                    Refund.gateway_outcome.is_(None),
                    Refund.gateway_sent_at.is_(None),
                    Refund.lease_expires_at < now,
                ),
            ),
        ),
    )


def connections_due(session: Session, now: datetime) -> list[str]:
    """The connections with refunds to send."""
    return list(
        session.scalars(
            select(Payment.gateway)
            .distinct()
            .join(Refund, Refund.payment_id == Payment.id)
            .where(Payment.gateway.is_not(None), _due(now))
        )
    )


def _claim(ctx: Context, owner: str, name: str, limit: int) -> list[str]:
    with ctx.db.write() as session:
        now = ctx.clock.now()
        claimed = list(
            session.scalars(
                select(Refund.id)
                .join(Payment, Payment.id == Refund.payment_id)
                .where(Payment.gateway == name, _due(now))
                .order_by(Refund.created_at, Refund.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Refund)
            )
        )
        if not claimed:
            return []
        session.execute(
            update(Refund)
            .where(Refund.id.in_(claimed))
            .values(
                status=RefundStatus.PROCESSING,
                lease_owner=owner,
                lease_expires_at=now + LEASE,
                gateway=name,
                gateway_outcome=None,
                version=Refund.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        notify.emit(session, "refunds", claimed, "processing", ctx.client_id)
        return claimed


@dataclass(frozen=True)
class _Sending:
    id: str
    payment_id: str
    amount: int
    reason: str
    what: str  # the request in words, for the evidence
    sent_at: datetime


def _locked(session: Session, refund_id: str) -> Refund | None:
    return session.scalars(
        select(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.PROCESSING)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def _mark_sending(ctx: Context, owner: str, refund_id: str, route: str) -> _Sending | None:
    """Commit that the refund is being sent, before it is; None when it is no longer ours."""
    with ctx.db.write() as session:
        r = _locked(session, refund_id)
        if r is None or r.lease_owner != owner or r.gateway_sent_at is not None:
            return None
        now = ctx.clock.now()
        path = "/refunds" if route == "body" else f"/payments/{r.payment_id}/refunds"
        what = f"POST {path} of {format_money(r.amount, r.currency)} with Idempotency-Key {r.id}"
        r.gateway_sent_at = now
        r.gateway_outcome = UNKNOWN
        add_evidence(r, f"{iso(now)}: sent to {r.gateway} ({what}); no answer recorded yet.")
        r.lease_owner = None
        r.lease_expires_at = None
        r.version += 1
        r.updated_at = now
        return _Sending(r.id, r.payment_id, r.amount, reason_text(r), what, now)


def _still_sent(session: Session, s: _Sending) -> Refund | None:
    r = _locked(session, s.id)
    if r is None or r.gateway_sent_at is None or r.gateway_sent_at != s.sent_at:
        return None  # changed meanwhile (linked by a person, found by a sync and finished)
    return r


def _record_created(ctx: Context, s: _Sending, g: GatewayRefund) -> None:
    with ctx.db.write() as session:
        r = _still_sent(session, s)
        now = ctx.clock.now()
        if r is None:
            log.warning("Refund %s changed while it was sent; the gateway made %s", s.id, g.id)
            return
        if r.gateway_refund_id and r.gateway_refund_id != g.id:
            add_evidence(r, f"{iso(now)}: the gateway also answered with refund {g.id}.")
            return
        r.gateway_refund_id = g.id
        r.gateway_outcome = None
        r.gateway_checked_at = now
        touch(
            ctx,
            session,
            r,
            now,
            actor=WORKER_ACTOR,
            action="refund.gateway_send",
            details={
                "gateway": r.gateway,
                "gateway_refund_id": g.id,
                "amount": r.amount,
                "currency": r.currency,
                "request": s.what,
            },
        )
        follow_status(ctx, session, r, g, now)


def _record_refused(ctx: Context, s: _Sending, why: str) -> None:
    with ctx.db.write() as session:
        r = _still_sent(session, s)
        if r is None:
            return
        now = ctx.clock.now()
        r.gateway_outcome = None
        add_evidence(r, f"{iso(now)}: refused by the gateway: {why}")
        session.flush()
        record_outcomes(
            ctx, session, now=now, worker=ctx.client_id, processed=[], failed=[(r, why)]
        )


def _record_unknown(ctx: Context, s: _Sending, why: str) -> None:
    with ctx.db.write() as session:
        r = _still_sent(session, s)
        if r is None:
            return
        now = ctx.clock.now()
        add_evidence(
            r,
            f"{iso(now)}: the answer was lost: {why} Whether the gateway made the refund is "
            "unknown; Paydesk looks for it on each sync and does not send it again by itself.",
        )
        r.gateway_checked_at = now
        touch(
            ctx,
            session,
            r,
            now,
            actor=WORKER_ACTOR,
            action="refund.gateway_unknown",
            details={"gateway": r.gateway, "request": s.what, "error": why},
        )
        notify.emit(session, "refunds", [r.id], "processing", ctx.client_id)


def _record_not_sent(ctx: Context, refund_ids: list[str], why: str) -> None:
    """Nothing reached the gateway: the refunds wait and are sent later."""
    with ctx.db.write() as session:
        now = ctx.clock.now()
        for refund_id in refund_ids:
            r = _locked(session, refund_id)
            if r is None or r.gateway_refund_id is not None:
                continue
            r.gateway_sent_at = None
            r.gateway_outcome = None
            r.lease_owner = None
            r.lease_expires_at = now + RETRY_AFTER
            add_evidence(r, f"{iso(now)}: not sent: {why} Paydesk tries again.")


def send_connection(
    ctx: Context, owner: str, name: str, client: GatewayClient, limit: int
) -> SendOutcome:
    """Claim and send the due refunds of connection ``name`` through ``client``."""
    with ctx.db.read() as session:
        caps = Capabilities.from_json(get_row(session, name, removed_ok=False).capabilities)
    total = SendOutcome()
    while total.sent + total.failed + total.unknown < limit:
        claimed = _claim(ctx, owner, name, min(BATCH, limit))
        if not claimed:
            break
        for i, refund_id in enumerate(claimed):
            s = _mark_sending(ctx, owner, refund_id, caps.refund_route)
            if s is None:
                continue
            try:
                g = client.create_refund(
                    s.payment_id,
                    s.amount,
                    s.reason,
                    s.id,
                    route="body" if caps.refund_route == "body" else "payment",
                )
            except NOT_SENT as exc:
                why = sentence(exc)
                _record_not_sent(ctx, claimed[i:], why)
                return total + SendOutcome(waiting=len(claimed) - i, error=why)
            except REFUSED as exc:
                _record_refused(ctx, s, sentence(exc))
                total += SendOutcome(failed=1)
                continue
            except GatewayError as exc:
                _record_unknown(ctx, s, sentence(exc))
                total += SendOutcome(unknown=1)
                continue
            _record_created(ctx, s, g)
            total += SendOutcome(sent=1)
    return total


ClientFactory = Callable[[str, str, str], GatewayClient]


def send_due(
    ctx: Context, owner: str, limit: int, client_factory: ClientFactory = GatewayClient
) -> SendOutcome:
    """Send the due gateway refunds of every connection whose secret this copy holds."""
    with ctx.db.read() as session:
        names = connections_due(session, ctx.clock.now())
    total = SendOutcome()
    for name in names:
        secret = secrets.read(name)
        if not secret:
            continue  # copies that hold the secret send; this one leaves them approved
        try:
            with ctx.db.read() as session:
                row = get_row(session, name, removed_ok=False)
                url, key = row.url, row.api_key
        except NotFound:
            continue  # a removed connection sends nothing
        client = client_factory(url, key, secret)
        try:
            total += send_connection(ctx, owner[:64], name, client, limit)
        finally:
            client.close()
    return total
