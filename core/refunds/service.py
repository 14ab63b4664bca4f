"""Refunds: request, four-eyes decisions, cancel, retry, and why a person may not take each.

Every action is one function with the person acting as an explicit argument. Each runs in
one write transaction that also writes its audit event and its change notice, so an action
happens completely or not at all.

The refundable bookkeeping lives on the payment: ``payments.refunded_amount`` is the sum of
the payment's refunds that are not rejected, failed or cancelled. The database keeps it (a
trigger, migration 0005) and refuses a refund that would take it past the amount; the service
checks the same limit first, while the payment row is locked (``FOR UPDATE`` on Postgres;
SQLite writers are serialised by ``BEGIN IMMEDIATE``), so two people refunding the same payment
at once can never exceed it and each is told why in a sentence. Decisions are conditional
UPDATEs on (id, status, version): of two simultaneous approvals exactly one changes the row;
the other is told who decided and when.

Acting on several refunds at once is in ``core.refunds.many``, what the views read in
``core.refunds.queries``, processing of approved refunds in ``core.refunds.processing``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import ids
from core.access import audit, policy, roles
from core.clock import utc
from core.context import Context
from core.errors import Conflict, InputError, Refused
from core.money import format_money
from core.refunds.idempotency import KEY_LIFETIME as IDEMPOTENCY_TTL
from core.refunds.prorata import pro_rata_for
from core.refunds.queries import live_total
from core.refunds.records import ProRataQuote, RefundView, RequestPreview
from core.refunds.rows import exceeds, load_payment, load_refund, payment_refusal
from core.refunds.states import KINDS, NOT_COUNTED, RefundStatus, reason_refusal
from core.store import notify
from core.store.models import IdempotencyKey, Payment, Refund

# Who decided when no person did.
POLICY_ACTOR = roles.POLICY_ACTOR  # below the approval threshold
AUTO_ACTOR = roles.AUTO_ACTOR  # stale pro-rata request, auto-approved

MAX_KEY_LENGTH = 200
MAX_NOTE_LENGTH = 2000

# The decision a status stands for, for "Refund … was already approved by bob at 10:42".
_DECISION_WORD = {
    "approved": "approved",
    "processing": "approved",
    "processed": "approved",
    "failed": "approved",
    "rejected": "rejected",
    "cancelled": "cancelled",
}


def _clean_inputs(
    amount: int | None,
    kind: str | None,
    reason: str | None,
    note: str | None,
    key: str | None,
) -> tuple[str | None, str, str | None, str | None]:
    if amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InputError("The amount must be a whole number of minor units.")
        if amount <= 0:
            raise InputError("The amount must be greater than zero.")
    if kind is not None and kind not in KINDS:
        raise InputError(f"{kind!r} is not a refund kind; use one of {', '.join(KINDS)}.")
    reason = (reason or "").strip() or ("pro_rata" if kind == "pro_rata" else "")
    if not reason:
        raise InputError("A refund needs a reason.")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        raise InputError(f"The note is longer than {MAX_NOTE_LENGTH} characters.")
    if key is not None:
        key = key.strip()
        if not key:
            raise InputError("The idempotency key is empty.")
        if len(key) > MAX_KEY_LENGTH:
            raise InputError(f"The idempotency key is longer than {MAX_KEY_LENGTH} characters.")
    return kind, reason, note, key


def _request_hash(
    payment_id: str, amount: int | None, kind: str | None, reason: str, note: str | None
) -> str:
    # The request as the person made it (amount None = "whatever remains"), so a replay of
    # the same dialog matches even after other refunds changed what remains.
    body = json.dumps(
        {"payment_id": payment_id, "amount": amount, "kind": kind, "reason": reason, "note": note},
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _approval(session: Session, payment: Payment, amount: int) -> tuple[bool, str]:
    """Whether a request of ``amount`` on ``payment`` needs approval, and the note saying why.
    The threshold applies to the payment's total: its refunds still counted plus this one, so
    a refund split into small requests is not approved piece by piece."""
    currency = payment.currency
    thresholds: dict[str, int] = policy.get(session, "refund_approval_threshold") or {}
    limit = thresholds.get(currency)
    if limit is None:
        return True, "needs approval (no threshold for this currency)"
    earlier = live_total(session, payment.id)
    total = earlier + amount
    with_earlier = (
        f"{format_money(total, currency)} in total with the earlier refunds of this payment, "
        if earlier
        else ""
    )
    if total < limit:
        return False, (
            f"approved at once: {with_earlier}below the {currency} approval threshold of "
            f"{format_money(limit, currency)}"
        )
    return True, (
        f"needs approval: {with_earlier}at or above the {format_money(limit, currency)} threshold"
    )


def _resolve(
    session: Session, payment: Payment, amount: int | None, kind: str | None, now: datetime
) -> tuple[int, str, ProRataQuote | None]:
    """The amount and kind a request stands for, or the sentence refusing it."""
    refusal = payment_refusal(payment)
    if refusal:
        raise Refused(refusal)
    remaining = payment.amount - payment.refunded_amount
    quote = None
    if kind == "pro_rata":
        quote = pro_rata_for(session, payment, now)
        if quote.why_not:
            raise Refused(quote.why_not)
        if amount is not None and amount != quote.amount:
            raise InputError(
                f"The pro-rata refund of payment {payment.id} is "
                f"{format_money(quote.amount, payment.currency)}; leave the amount empty or "
                "request a partial refund."
            )
        return quote.amount, kind, quote
    if kind == "full" or (kind is None and amount is None):
        if remaining <= 0:
            raise Refused(f"Payment {payment.id} has nothing left to refund.")
        if amount is not None and amount != remaining:
            raise InputError(
                f"A full refund is the whole {format_money(remaining, payment.currency)} still "
                "refundable; leave the amount empty or request a partial refund."
            )
        return remaining, "full", None
    if amount is None:
        raise InputError("A partial refund needs an amount.")
    if amount > remaining:
        raise Refused(exceeds(amount, remaining, payment))
    if kind is None:
        kind = "full" if amount == payment.amount else "partial"
    return amount, kind, None


def preview_request(
    session: Session,
    payment_id: str,
    *,
    amount: int | None = None,
    kind: str | None = None,
    now: datetime,
) -> RequestPreview:
    """What ``request_refund`` would do, without writing: raises the same sentence it would.
    The request dialog calls it for live validation under the amount field."""
    kind, _reason, _note, _key = _clean_inputs(amount, kind, "other", None, None)
    payment = load_payment(session, payment_id)
    resolved, resolved_kind, quote = _resolve(session, payment, amount, kind, now)
    needs, note = _approval(session, payment, resolved)
    return RequestPreview(
        payment_id=payment.id,
        amount=resolved,
        currency=payment.currency,
        kind=resolved_kind,
        refundable=max(0, payment.amount - payment.refunded_amount),
        needs_approval=needs,
        approval_note=note,
        pro_rata=quote,
    )


# -- who may do what ---------------------------------------------------------------------------


def _local_hhmm(when: datetime | None) -> str:
    return "an unknown time" if when is None else utc(when).astimezone().strftime("%H:%M")


def already_decided(r: Refund | RefundView) -> str:
    """The sentence told to the loser of a decision: who decided it and when (local time)."""
    word = _DECISION_WORD.get(r.status, r.status.replace("_", " "))
    return f"Refund {r.id} was already {word} by {r.decided_by or 'someone'} at {_local_hhmm(r.decided_at)}."


def _role_refusal(session: Session, actor: str, permission: str) -> str | None:
    try:
        roles.require(session, actor, permission)
    except Refused as exc:
        return exc.message
    return None


def why_not(session: Session, actor: str, refund: Refund | RefundView, action: str) -> str | None:
    """Why ``actor`` may not ``action`` ("approve", "reject", "cancel", "retry") ``refund`` as it
    stands, or None when they may. The view uses it to enable buttons and as their tooltip;
    the services refuse with the same sentence."""
    if action in ("approve", "reject"):
        return (
            _role_refusal(session, actor, "refund.decide")
            or (already_decided(refund) if refund.status != RefundStatus.PENDING_APPROVAL else None)
            or (
                f"You requested refund {refund.id}; someone else must approve or reject it."
                if refund.requested_by == actor
                else None
            )
        )
    if action == "cancel":
        return (
            _role_refusal(session, actor, "view")
            or (already_decided(refund) if refund.status != RefundStatus.PENDING_APPROVAL else None)
            or (
                f"Only {refund.requested_by}, who requested refund {refund.id}, can cancel it."
                if refund.requested_by != actor
                else None
            )
        )
    if action == "retry":
        return _role_refusal(session, actor, "refund.decide") or (
            f"Refund {refund.id} is {refund.status.replace('_', ' ')}; only a failed refund can be retried."
            if refund.status != "failed"
            else None
        )
    raise ValueError(f"unknown refund action {action!r}")


def _refuse(session: Session, actor: str, refund: Refund, action: str) -> None:
    sentence = why_not(session, actor, refund, action)
    if sentence is None:
        return
    if refund.status != RefundStatus.PENDING_APPROVAL and sentence == already_decided(refund):
        raise Conflict(sentence)
    raise Refused(sentence)


# -- actions -----------------------------------------------------------------------------------


def _replay(
    session: Session, merchant_id: str, key: str, request_hash: str, now: datetime
) -> RefundView | None:
    """The refund an earlier request with ``key`` created (same request), or None when the key
    is new; refuses a reuse with a different request or after the key expired."""
    row = session.get(IdempotencyKey, (merchant_id, key), populate_existing=True)
    if row is not None and utc(row.expires_at) > utc(now):
        refund_id = json.loads(row.response or "{}").get("refund_id")
        if row.request_hash != request_hash:
            raise Conflict(
                f"The idempotency key {key!r} was already used for a different refund request"
                f"{f' ({refund_id})' if refund_id else ''}; use a new key."
            )
        if refund_id:
            return RefundView.of(load_refund(session, refund_id))
    # The refunds table keeps the key for good; the 24 h record only decides replays.
    used = session.scalar(
        select(Refund.id).where(Refund.merchant_id == merchant_id, Refund.idempotency_key == key)
    )
    if used:
        raise Conflict(
            f"The idempotency key {key!r} was used for refund {used} more than 24 hours ago; "
            "use a new key."
        )
    return None


def request_refund(
    ctx: Context,
    actor: str,
    payment_id: str,
    *,
    amount: int | None = None,
    kind: str | None = None,
    reason: str | None,
    note: str | None = None,
    idempotency_key: str | None = None,
) -> RefundView:
    """Request a refund of ``payment_id``.

    ``amount`` is in minor units; None means the whole remaining amount (``kind`` full or
    unset) or the pro-rata amount (``kind="pro_rata"``). ``kind`` None is inferred (the whole
    payment = full, less = partial). ``reason`` is one of the policy's ``refund_reasons`` (pro_rata by default
    for a pro-rata refund); ``other`` needs a note. With ``idempotency_key`` the same request returns the refund it created
    the first time and a different one is refused. Below the policy's approval threshold
    the refund is approved at once (decided by ``paydesk-policy``) and the audit event says so.
    """
    kind, reason_, note, key = _clean_inputs(amount, kind, reason, note, idempotency_key)
    request_hash = _request_hash(payment_id, amount, kind, reason_, note)
    try:
        with ctx.db.write() as session:
            return _request(
                ctx, session, actor, payment_id, amount, kind, reason_, note, key, request_hash
            )
    except IntegrityError:
        if key is None:
            raise
        # A concurrent request with the same key committed first: answer as its replay.
        with ctx.db.read() as session:
            payment = load_payment(session, payment_id)
            replayed = _replay(session, payment.merchant_id, key, request_hash, ctx.clock.now())
        if replayed is None:
            raise
        return replayed


def _request(
    ctx: Context,
    session: Session,
    actor: str,
    payment_id: str,
    amount: int | None,
    kind: str | None,
    reason: str,
    note: str | None,
    key: str | None,
    request_hash: str,
) -> RefundView:
    now = ctx.clock.now()
    roles.require(session, actor, "refund.request")
    # The payment row lock serialises every refund of this payment (and same-key replays).
    payment = load_payment(session, payment_id, lock=True)
    if key is not None:
        replayed = _replay(session, payment.merchant_id, key, request_hash, now)
        if replayed is not None:
            return replayed
    refused = reason_refusal(reason, note, policy.get(session, "refund_reasons"))
    if refused:
        raise InputError(refused)
    resolved, resolved_kind, quote = _resolve(session, payment, amount, kind, now)
    needs_approval, approval_note = _approval(session, payment, resolved)
    refund_id = ids.new_id("refund")
    if key is not None:
        session.add(
            IdempotencyKey(
                merchant_id=payment.merchant_id,
                key=key,
                request_hash=request_hash,
                response=json.dumps({"refund_id": refund_id}),
                created_at=now,
                expires_at=now + IDEMPOTENCY_TTL,
            )
        )
        session.flush()
    # The payment row is locked (read fresh above): what it has left cannot shrink before this
    # commits. The database's trigger adds the refund to refunded_amount and holds the limit.
    if payment.refunded_amount + resolved > payment.amount:
        raise Refused(exceeds(resolved, payment.amount - payment.refunded_amount, payment))
    status = RefundStatus.PENDING_APPROVAL if needs_approval else "approved"
    refund = Refund(
        id=refund_id,
        payment_id=payment.id,
        merchant_id=payment.merchant_id,
        amount=resolved,
        currency=payment.currency,
        kind=resolved_kind,
        reason=reason,
        note=note,
        status=status,
        idempotency_key=key,
        subscription_id=quote.subscription_id if quote else None,
        requested_by=actor,
        decided_by=None if needs_approval else POLICY_ACTOR,
        decided_at=None if needs_approval else now,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    details: dict[str, Any] = {
        "payment_id": payment.id,
        "amount": resolved,
        "currency": payment.currency,
        "amount_text": format_money(resolved, payment.currency),
        "kind": resolved_kind,
        "reason": reason,
        "note": note,
        "status": status,
        "approval": approval_note,
    }
    if key is not None:
        details["idempotency_key"] = key
    if quote is not None:
        details["pro_rata"] = quote.as_json()
        details["pro_rata_explained"] = quote.explain()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="refund.request",
        entity_type="refund",
        entity_id=refund_id,
        details=details,
        client=ctx.client_id,
    )
    session.flush()
    notify.emit(session, "refunds", [refund_id], status, ctx.client_id)
    notify.emit(session, "payments", [payment.id], None, ctx.client_id)
    return RefundView.of(refund)


def decide(
    ctx: Context,
    actor: str,
    refund_id: str,
    *,
    action: str,
    status: str,
    note: str | None,
    expected_version: int | None,
    session: Session | None = None,
) -> RefundView:
    """Move a pending refund to ``status`` as ``action`` decides it; in the caller's
    ``session`` when given (``decide_many``), else in a transaction of its own."""
    with _transaction(ctx, session) as session:
        now = ctx.clock.now()
        refund = load_refund(session, refund_id)
        _refuse(session, actor, refund, action)
        if expected_version is not None and refund.version != expected_version:
            raise Conflict(f"Refund {refund_id} changed since you looked at it; look again first.")
        decision = {
            "status": status,
            "decided_by": actor,
            "decided_at": now,
            "decision_note": note,
        }
        if not _write_unchanged(session, refund_id, (refund.status, refund.version), now, decision):
            # Somebody else decided between our read and our write; they won.
            fresh = load_refund(session, refund_id)
            raise Conflict(
                already_decided(fresh)
                if fresh.status != RefundStatus.PENDING_APPROVAL
                else f"Refund {refund_id} changed since you looked at it; look again first."
            )
        # A refund no longer counted leaves refunded_amount through the database's trigger.
        refund = load_refund(session, refund_id)
        audit.record(
            session,
            at=now,
            actor=actor,
            action=f"refund.{action}",
            entity_type="refund",
            entity_id=refund_id,
            details=_amount_details(
                refund, note=note, previous_status=RefundStatus.PENDING_APPROVAL
            ),
            client=ctx.client_id,
        )
        notify.emit(session, "refunds", [refund_id], status, ctx.client_id)
        if status in NOT_COUNTED:
            notify.emit(session, "payments", [refund.payment_id], None, ctx.client_id)
        return RefundView.of(refund)


def _write_unchanged(
    session: Session,
    refund_id: str,
    read: tuple[str, int],
    now: datetime,
    values: dict[str, Any],
) -> bool:
    """Write ``values`` to a refund, its version bumped, only while it still has the status
    and version it was ``read`` with; False when somebody changed it in between."""
    status, version = read
    changed = cast(
        CursorResult[Any],
        session.execute(
            update(Refund)
            .where(Refund.id == refund_id, Refund.status == status, Refund.version == version)
            .values(**values, version=Refund.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    return changed.rowcount == 1


def _transaction(
    ctx: Context, session: Session | None
) -> contextlib.AbstractContextManager[Session]:
    """A write transaction of its own, or the caller's ``session`` when several refunds are
    acted on in one (``decide_many``)."""
    return ctx.db.write() if session is None else contextlib.nullcontext(session)


def _amount_details(refund: Refund, **extra: Any) -> dict[str, Any]:
    details = {
        "payment_id": refund.payment_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "amount_text": format_money(refund.amount, refund.currency),
        "status": refund.status,
    }
    details.update({k: v for k, v in extra.items() if v is not None})
    return details


def approve(
    ctx: Context, actor: str, refund_id: str, expected_version: int | None = None
) -> RefundView:
    """Approve a pending refund (finance or admin; never the person who requested it). With
    ``expected_version`` (what the view showed) a refund changed since is refused. Of two
    simultaneous decisions one wins; the other is told "Refund … was already approved by bob
    at 10:42." and nothing changes."""
    return decide(
        ctx,
        actor,
        refund_id,
        action="approve",
        status="approved",
        note=None,
        expected_version=expected_version,
    )


def reject(
    ctx: Context,
    actor: str,
    refund_id: str,
    note: str | None,
    expected_version: int | None = None,
) -> RefundView:
    """Reject a pending refund with a note saying why (finance or admin, not the requester).
    Its amount becomes refundable again."""
    note = rejection_note(note)
    return decide(
        ctx,
        actor,
        refund_id,
        action="reject",
        status="rejected",
        note=note,
        expected_version=expected_version,
    )


def rejection_note(note: str | None) -> str:
    """The note a rejection needs, stripped; refuses an empty or overlong one."""
    note = (note or "").strip()
    if not note:
        raise InputError("A rejection needs a note saying why.")
    if len(note) > MAX_NOTE_LENGTH:
        raise InputError(f"The note is longer than {MAX_NOTE_LENGTH} characters.")
    return note


def cancel(ctx: Context, actor: str, refund_id: str) -> RefundView:
    """The requester withdraws their own pending request; its amount becomes refundable again."""
    return decide(
        ctx, actor, refund_id, action="cancel", status="cancelled", note=None, expected_version=None
    )


def retry(ctx: Context, actor: str, refund_id: str) -> RefundView:
    """Put a failed refund back to approved so processing tries it again (finance or admin).
    Refused when its amount no longer fits in what the payment has left to refund."""
    return retry_failed(ctx, actor, refund_id)


def retry_failed(
    ctx: Context, actor: str, refund_id: str, session: Session | None = None
) -> RefundView:
    """``retry``, in the caller's ``session`` when given (``decide_many``)."""
    with _transaction(ctx, session) as session:
        now = ctx.clock.now()
        refund = load_refund(session, refund_id)
        _refuse(session, actor, refund, "retry")
        payment = load_payment(session, refund.payment_id, lock=True)
        refusal = payment_refusal(payment)
        if refusal:
            raise Refused(refusal)
        # Locked and fresh: the trigger adds the amount back when the refund is approved again.
        if payment.refunded_amount + refund.amount > payment.amount:
            raise Refused(exceeds(refund.amount, payment.amount - payment.refunded_amount, payment))
        again = {
            "status": "approved",
            "failure_reason": None,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if not _write_unchanged(session, refund_id, ("failed", refund.version), now, again):
            fresh = load_refund(session, refund_id)
            raise Conflict(
                f"Refund {refund_id} is {fresh.status.replace('_', ' ')} now; it was changed by someone else."
            )
        previous_reason = refund.failure_reason
        refund = load_refund(session, refund_id)
        audit.record(
            session,
            at=now,
            actor=actor,
            action="refund.retry",
            entity_type="refund",
            entity_id=refund_id,
            details=_amount_details(refund, previous_failure=previous_reason),
            client=ctx.client_id,
        )
        notify.emit(session, "refunds", [refund_id], "approved", ctx.client_id)
        notify.emit(session, "payments", [refund.payment_id], None, ctx.client_id)
        return RefundView.of(refund)
