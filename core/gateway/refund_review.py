"""Needs check: the gateway refunds whose POST answer was lost and that Paydesk could not find.
A finance person (finance or admin, as for approving) reads the evidence and either links the
refund to the gateway's refund id (checked at the gateway first) or has it sent again. Both are
audited (``refund.gateway_link``, ``refund.gateway_resend``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import roles
from core.context import Context
from core.errors import NotFound, Refused
from core.gateway import secrets
from core.gateway.client import GatewayClient
from core.gateway.connections import get_row
from core.gateway.errors import GatewayNotFound
from core.gateway.refund_matching import (
    NEEDS_CHECK,
    RESEND,
    UNKNOWN,
    add_evidence,
    describe,
    follow_status,
)
from core.gateway.refund_sending import RESEND_NOTICE, ClientFactory
from core.payments.queries import iso
from core.refunds.records import RefundView
from core.refunds.rows import load_refund, touch
from core.refunds.states import RefundStatus
from core.store import notify
from core.store.models import Refund


@dataclass(frozen=True)
class NeedsCheck:
    """A refund waiting for a person, with what Paydesk knows about it."""

    refund: RefundView
    gateway: str | None
    outcome: str | None
    sent_at: datetime | None
    checked_at: datetime | None
    evidence: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.refund.as_json(),
            "gateway": self.gateway,
            "gateway_outcome": self.outcome,
            "gateway_sent_at": iso(self.sent_at),
            "gateway_checked_at": iso(self.checked_at),
            "gateway_evidence": self.evidence,
        }


def _of(r: Refund) -> NeedsCheck:
    return NeedsCheck(
        RefundView.of(r),
        r.gateway,
        r.gateway_outcome,
        r.gateway_sent_at,
        r.gateway_checked_at,
        r.gateway_evidence,
    )


def needs_check(
    session: Session, *, limit: int = 100, unknown_too: bool = False
) -> list[NeedsCheck]:
    """The refunds in Needs check (with ``unknown_too``, also those still looked for), oldest
    sent first."""
    outcomes = (NEEDS_CHECK, UNKNOWN) if unknown_too else (NEEDS_CHECK,)
    rows = session.scalars(
        select(Refund)
        .where(Refund.gateway_outcome.in_(outcomes), Refund.status == RefundStatus.PROCESSING)
        .order_by(Refund.gateway_sent_at, Refund.id)
        .limit(limit)
    )
    return [_of(r) for r in rows]


def gateway_state(session: Session, refund_id: str) -> NeedsCheck:
    """A refund's gateway fields (``refunds show``)."""
    return _of(load_refund(session, refund_id))


def _open(session: Session, actor: str, refund_id: str, outcomes: tuple[str, ...]) -> Refund:
    roles.require(session, actor, "refund.decide")
    r = load_refund(session, refund_id, lock=True)
    if (
        r.gateway is None
        or r.status != RefundStatus.PROCESSING
        or r.gateway_outcome not in outcomes
        or r.gateway_refund_id is not None
    ):
        state = (
            f"linked to the gateway's refund {r.gateway_refund_id}"
            if r.gateway_refund_id
            else r.status.replace("_", " ")
        )
        raise Refused(
            f"Refund {r.id} is not waiting for a check ({state}); only a gateway refund whose "
            "outcome is unknown can be linked or sent again."
        )
    return r


def link(
    ctx: Context,
    actor: str,
    refund_id: str,
    gateway_refund_id: str,
    *,
    client_factory: ClientFactory = GatewayClient,
) -> RefundView:
    """Link an unknown-outcome refund to the gateway's refund ``gateway_refund_id``, after the
    gateway confirms it is a refund of the same payment and amount."""
    gid = (gateway_refund_id or "").strip()
    if not gid:
        raise Refused("Give the gateway's refund id (rfnd_…) to link to.")
    with ctx.db.read() as session:
        r = _open(session, actor, refund_id, (UNKNOWN, NEEDS_CHECK))
        name, payment_id, amount = str(r.gateway), r.payment_id, r.amount
        taken = session.scalar(
            select(Refund.id).where(Refund.gateway == name, Refund.gateway_refund_id == gid)
        )
        if taken:
            raise Refused(f"The gateway's refund {gid} is already refund {taken} in Paydesk.")
        conn = get_row(session, name)
        url, key = conn.url, conn.api_key
    secret = secrets.read(name)
    if not secret:
        raise Refused(
            f"This copy does not hold the secret of {name}, so it cannot check {gid} at the "
            f"gateway; link it from a copy that does (or set {secrets.env_var(name)})."
        )
    with client_factory(url, key, secret) as client:
        try:
            g = client.get_refund(gid)
        except GatewayNotFound:
            raise NotFound(f"The gateway {name} has no refund {gid}.") from None
    if g.payment_id != payment_id or g.amount != amount:
        raise Refused(
            f"The gateway's refund {describe(g)} is of payment {g.payment_id}; refund "
            f"{refund_id} is {amount} minor units of {payment_id}: they are not the same refund."
        )
    with ctx.db.write() as session:
        r = _open(session, actor, refund_id, (UNKNOWN, NEEDS_CHECK))
        now = ctx.clock.now()
        previous = r.gateway_outcome
        r.gateway_refund_id = g.id
        r.gateway_outcome = None
        r.gateway_checked_at = now
        add_evidence(r, f"{iso(now)}: linked by {actor} to the gateway's refund {describe(g)}.")
        touch(
            ctx,
            session,
            r,
            now,
            actor=actor,
            action="refund.gateway_link",
            details={
                "gateway": name,
                "gateway_refund_id": g.id,
                "gateway_status": g.status,
                "previous_outcome": previous,
                "evidence": r.gateway_evidence,
            },
        )
        follow_status(ctx, session, r, g, now)
        return RefundView.of(load_refund(session, refund_id))


def resend(ctx: Context, actor: str, refund_id: str) -> RefundView:
    """Have a Needs-check refund sent to the gateway again (by the processing task of a copy
    that holds the secret). On a gateway that ignores idempotency keys this makes a second
    refund if the first did reach it: the evidence is what the person decides on."""
    with ctx.db.write() as session:
        r = _open(session, actor, refund_id, (NEEDS_CHECK,))
        now = ctx.clock.now()
        evidence = r.gateway_evidence
        r.gateway_outcome = RESEND
        r.gateway_sent_at = None
        r.lease_owner = None
        r.lease_expires_at = None
        add_evidence(r, f"{iso(now)}: {actor} had it sent again.")
        touch(
            ctx,
            session,
            r,
            now,
            actor=actor,
            action="refund.gateway_resend",
            details={"gateway": r.gateway, "evidence": evidence},
        )
        notify.emit(session, "refunds", [r.id], r.status, ctx.client_id)
        notify.emit(session, RESEND_NOTICE, [r.id], "resend", ctx.client_id)
        return RefundView.of(r)
