"""Refunds: request, four-eyes decisions, cancel, retry, and the queries of the Refunds view.

Every action is one function with the person acting as an explicit argument. Each runs in
one write transaction that also writes its audit event and its change notice, so an action
happens completely or not at all.

The refundable bookkeeping lives on the payment: ``payments.refunded_amount`` is the sum of
the payment's refunds that are not rejected, failed or cancelled. Every change to it is a
conditional UPDATE (``refunded_amount + a <= amount``) taken while the payment row is locked
(``FOR UPDATE`` on Postgres; SQLite writers are serialised by ``BEGIN IMMEDIATE``), so two
people refunding the same payment at once can never exceed it. Decisions are conditional
UPDATEs on (id, status, version): of two simultaneous approvals exactly one changes the row;
the other is told who decided and when.

Processing of approved refunds is in ``core.refunds_processing``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit, ids, money, notify, policy, roles
from core.clock import utc
from core.context import Context
from core.errors import Conflict, InputError, NotFound, PaydeskError, Refused
from core.idempotency import KEY_LIFETIME as IDEMPOTENCY_TTL
from core.models import AuditEvent, IdempotencyKey, Merchant, Payment, Refund, Subscription
from core.money import format_money
from core.payments import iso

if TYPE_CHECKING:
    from core.dashboard import RefundLink

KINDS = ("full", "partial", "pro_rata")
REASONS = ("requested_by_customer", "duplicate", "fraudulent", "pro_rata", "other")
STATUSES = (
    "pending_approval",
    "approved",
    "processing",
    "processed",
    "failed",
    "rejected",
    "cancelled",
)
# Refunds in these states no longer count against the payment's refundable amount.
NOT_COUNTED = ("rejected", "failed", "cancelled")
COUNTED = tuple(s for s in STATUSES if s not in NOT_COUNTED)

# Who decided when no person did.
POLICY_ACTOR = "paydesk-policy"  # below the approval threshold
AUTO_ACTOR = "paydesk-auto"  # stale pro-rata request, auto-approved

MAX_KEY_LENGTH = 200
MAX_NOTE_LENGTH = 2000
PAGE_SIZE = 200

# The decision a status stands for, for "Refund … was already approved by bob at 10:42".
_DECISION_WORD = {
    "approved": "approved",
    "processing": "approved",
    "processed": "approved",
    "failed": "approved",
    "rejected": "rejected",
    "cancelled": "cancelled",
}


# -- what callers get back ---------------------------------------------------------------------


@dataclass(frozen=True)
class RefundView:
    """A refund as the view, the CLI and the tests see it (a detached, immutable copy)."""

    id: str
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    kind: str
    reason: str
    note: str | None
    status: str
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    processed_at: datetime | None
    failure_reason: str | None
    subscription_id: str | None
    idempotency_key: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(r: Refund) -> RefundView:
        return RefundView(
            id=r.id,
            payment_id=r.payment_id,
            merchant_id=r.merchant_id,
            amount=r.amount,
            currency=r.currency,
            kind=r.kind,
            reason=r.reason,
            note=r.note,
            status=r.status,
            requested_by=r.requested_by,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            decision_note=r.decision_note,
            processed_at=r.processed_at,
            failure_reason=r.failure_reason,
            subscription_id=r.subscription_id,
            idempotency_key=r.idempotency_key,
            version=r.version,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )

    @property
    def amount_text(self) -> str:
        return format_money(self.amount, self.currency)

    def cursor(self) -> tuple[datetime, str]:
        """The keyset position of this row, for ``page(after=...)``."""
        return (self.created_at, self.id)

    def age(self, now: datetime) -> timedelta:
        return utc(now) - self.created_at

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape: amounts in minor units, times in ISO 8601 UTC."""
        return {
            "id": self.id,
            "payment_id": self.payment_id,
            "merchant_id": self.merchant_id,
            "amount": self.amount,
            "currency": self.currency,
            "kind": self.kind,
            "reason": self.reason,
            "note": self.note,
            "status": self.status,
            "requested_by": self.requested_by,
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "decision_note": self.decision_note,
            "processed_at": iso(self.processed_at),
            "failure_reason": self.failure_reason,
            "subscription_id": self.subscription_id,
            "idempotency_key": self.idempotency_key,
            "version": self.version,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class ProRataQuote:
    """The pro-rata computation for a subscription payment at a moment, and whether it is
    offered. ``amount`` is ``payment_amount × seconds_unused ÷ seconds_in_period`` rounded down
    to the minor unit (capped at what is still refundable); ``why_not`` is the sentence saying
    why it is not offered, or None."""

    payment_id: str
    currency: str
    payment_amount: int
    at: datetime
    subscription_id: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    # Use stops at the cancellation when the subscription was cancelled before ``at``.
    used_until: datetime | None = None
    window_ends_at: datetime | None = None
    seconds_in_period: int = 0
    seconds_used: int = 0
    seconds_unused: int = 0
    amount: int = 0
    capped: bool = False
    why_not: str | None = None

    @property
    def offered(self) -> bool:
        return self.why_not is None

    def explain(self) -> str:
        """The computation in one line, as the request dialog and the detail pane show it."""
        if self.subscription_id is None or self.seconds_in_period <= 0:
            return self.why_not or "No pro-rata computation."
        full = self.payment_amount * self.seconds_unused // self.seconds_in_period
        line = (
            f"{format_money(self.payment_amount, self.currency)} × {self.seconds_unused:,} s unused"
            f" ÷ {self.seconds_in_period:,} s in the period = {format_money(full, self.currency)}"
            " (rounded down)"
        )
        if self.capped:
            line += f", capped at the {format_money(self.amount, self.currency)} still refundable"
        return line + "."

    def as_json(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "subscription_id": self.subscription_id,
            "currency": self.currency,
            "payment_amount": self.payment_amount,
            "at": iso(self.at),
            "period_start": iso(self.period_start),
            "period_end": iso(self.period_end),
            "used_until": iso(self.used_until),
            "window_ends_at": iso(self.window_ends_at),
            "seconds_in_period": self.seconds_in_period,
            "seconds_used": self.seconds_used,
            "seconds_unused": self.seconds_unused,
            "amount": self.amount,
            "capped": self.capped,
            "offered": self.offered,
            "why_not": self.why_not,
        }


@dataclass(frozen=True)
class RequestPreview:
    """What a request would do, computed without writing (the dialog's live validation)."""

    payment_id: str
    amount: int
    currency: str
    kind: str
    refundable: int
    needs_approval: bool
    approval_note: str
    pro_rata: ProRataQuote | None


@dataclass(frozen=True)
class DecisionResult:
    """The outcome of one refund in a multi-approve: ``message`` is "Approved." or the reason."""

    refund_id: str
    ok: bool
    message: str
    refund: RefundView | None = None


@dataclass(frozen=True)
class PaymentSummary:
    id: str
    merchant_id: str
    merchant_name: str
    order_id: str
    amount: int
    currency: str
    method: str
    status: str
    captured: bool
    refunded_amount: int
    created_at: datetime

    @property
    def refundable(self) -> int:
        return max(0, self.amount - self.refunded_amount)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]
    client: str | None


@dataclass(frozen=True)
class RefundDetail:
    """Everything the detail pane shows about one refund."""

    refund: RefundView
    payment: PaymentSummary
    refundable: int
    refunds: list[RefundView]  # every refund of the payment, oldest first
    pro_rata: ProRataQuote | None  # the computation behind a pro-rata refund, at its request
    audit: list[AuditEntry]  # this refund's trail, oldest first


@dataclass(frozen=True)
class RefundFilter:
    """What a person narrowed the queue to. ``search`` is a refund id or a payment id; ages
    are measured from ``now`` given to ``page``. ``created_*`` and ``processed_*`` are
    half-open ranges of aware instants; ``descending`` False lists the oldest first."""

    status: str | None = None
    merchant_id: str | None = None
    requested_by: str | None = None
    kind: str | None = None
    payment_id: str | None = None
    min_age: timedelta | None = None
    max_age: timedelta | None = None
    search: str | None = None
    descending: bool = True
    currency: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    processed_from: datetime | None = None
    processed_to: datetime | None = None

    def validated(self) -> RefundFilter:
        if self.status and self.status not in STATUSES:
            raise InputError(
                f"{self.status!r} is not a refund status; use one of {', '.join(STATUSES)}."
            )
        if self.kind and self.kind not in KINDS:
            raise InputError(f"{self.kind!r} is not a refund kind; use one of {', '.join(KINDS)}.")
        if self.min_age is not None and self.min_age < timedelta(0):
            raise InputError("An age cannot be negative.")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise InputError("The minimum age is larger than the maximum age.")
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise InputError("The start of the requested time range is after its end.")
        if self.processed_from and self.processed_to and self.processed_from > self.processed_to:
            raise InputError("The start of the processed time range is after its end.")
        currency = (self.currency or "").strip().upper() or None
        if currency is not None:
            money.exponent(currency)  # refuses an unknown currency with a sentence
        search = (self.search or "").strip() or None
        return replace(self, search=search, currency=currency)

    @property
    def narrows_time(self) -> bool:
        """Whether it narrows by absolute requested or processed times."""
        return any((self.created_from, self.created_to, self.processed_from, self.processed_to))


def filter_for_link(link: RefundLink) -> RefundFilter:
    """The filter that lists exactly what a dashboard ``RefundLink`` counted
    (``oldest_first`` is ``descending=False``)."""
    return RefundFilter(
        status=link.status,
        currency=link.currency,
        created_from=link.created_from,
        created_to=link.created_to,
        processed_from=link.processed_from,
        processed_to=link.processed_to,
        descending=not link.oldest_first,
    )


# -- parsing and validation (no writes) --------------------------------------------------------


def parse_refund_amount(session: Session, payment_id: str, text: str) -> int:
    """What a person typed ("12.50") as minor units of the payment's currency; refuses zero,
    negatives, non-numbers and more decimals than the currency has."""
    payment = _payment(session, payment_id)
    return money.parse_amount(text, payment.currency)


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
        raise InputError(f"A refund needs a reason: one of {', '.join(REASONS)}.")
    if reason not in REASONS:
        raise InputError(f"{reason!r} is not a refund reason; use one of {', '.join(REASONS)}.")
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


def _payment(session: Session, payment_id: str, *, lock: bool = False) -> Payment:
    stmt = select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    payment = session.scalars(stmt).one_or_none()
    if payment is None:
        raise NotFound(f"There is no payment {payment_id}.")
    return payment


def _refund(session: Session, refund_id: str, *, lock: bool = False) -> Refund:
    stmt = select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    refund = session.scalars(stmt).one_or_none()
    if refund is None:
        raise NotFound(f"There is no refund {refund_id}.")
    return refund


def payment_refusal(payment: Payment) -> str | None:
    """Why ``payment`` cannot be refunded at all, or None."""
    if payment.status == "pending":
        return f"Payment {payment.id} is still pending; only a successful, captured payment can be refunded."
    if payment.status != "success":
        return f"Payment {payment.id} {payment.status}; only a successful, captured payment can be refunded."
    if not payment.captured:
        return f"Payment {payment.id} was not captured; only a successful, captured payment can be refunded."
    return None


def _exceeds(amount: int, remaining: int, payment: Payment) -> str:
    return (
        f"The refund of {format_money(amount, payment.currency)} exceeds the "
        f"{format_money(max(0, remaining), payment.currency)} still refundable on payment {payment.id}."
    )


def refundable(session: Session, payment_id: str) -> int:
    """Minor units of the payment still refundable: its amount minus every refund that is not
    rejected, failed or cancelled (0 for a payment that cannot be refunded)."""
    payment = _payment(session, payment_id)
    if payment_refusal(payment):
        return 0
    return max(0, payment.amount - payment.refunded_amount)


def _compute_pro_rata(payment: Payment, sub: Subscription, at: datetime) -> ProRataQuote:
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


def _pro_rata_for(session: Session, payment: Payment, now: datetime) -> ProRataQuote:
    sub = session.scalars(select(Subscription).where(Subscription.payment_id == payment.id)).first()
    if sub is None:
        return ProRataQuote(
            payment_id=payment.id,
            currency=payment.currency,
            payment_amount=payment.amount,
            at=utc(now),
            why_not=f"Payment {payment.id} is not a subscription payment, so it has no pro-rata refund.",
        )
    quote = _compute_pro_rata(payment, sub, now)
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
    return _pro_rata_for(session, _payment(session, payment_id), now)


def _approval(session: Session, amount: int, currency: str) -> tuple[bool, str]:
    thresholds: dict[str, int] = policy.get(session, "refund_approval_threshold") or {}
    limit = thresholds.get(currency)
    if limit is not None and amount < limit:
        return False, (
            f"approved at once: below the {currency} approval threshold of "
            f"{format_money(limit, currency)}"
        )
    if limit is None:
        return True, "needs approval (no threshold for this currency)"
    return True, f"needs approval: at or above the {format_money(limit, currency)} threshold"


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
        quote = _pro_rata_for(session, payment, now)
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
        raise Refused(_exceeds(amount, remaining, payment))
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
    payment = _payment(session, payment_id)
    resolved, resolved_kind, quote = _resolve(session, payment, amount, kind, now)
    needs, note = _approval(session, resolved, payment.currency)
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
            or (already_decided(refund) if refund.status != "pending_approval" else None)
            or (
                f"You requested refund {refund.id}; someone else must approve or reject it."
                if refund.requested_by == actor
                else None
            )
        )
    if action == "cancel":
        return (
            _role_refusal(session, actor, "view")
            or (already_decided(refund) if refund.status != "pending_approval" else None)
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
    if refund.status != "pending_approval" and sentence == already_decided(refund):
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
            return RefundView.of(_refund(session, refund_id))
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
    payment = full, less = partial). ``reason`` is one of REASONS (pro_rata by default for a
    pro-rata refund). With ``idempotency_key`` the same request returns the refund it created
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
            payment = _payment(session, payment_id)
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
    payment = _payment(session, payment_id, lock=True)
    if key is not None:
        replayed = _replay(session, payment.merchant_id, key, request_hash, now)
        if replayed is not None:
            return replayed
    resolved, resolved_kind, quote = _resolve(session, payment, amount, kind, now)
    needs_approval, approval_note = _approval(session, resolved, payment.currency)
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
    # The guard: refunded_amount never passes the payment amount, whatever else commits.
    grown = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.refunded_amount + resolved <= Payment.amount)
        .values(refunded_amount=Payment.refunded_amount + resolved)
        .execution_options(synchronize_session=False)
    )
    if grown.rowcount != 1:
        current = _payment(session, payment.id)
        raise Refused(_exceeds(resolved, current.amount - current.refunded_amount, current))
    status = "pending_approval" if needs_approval else "approved"
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


def _decide(
    ctx: Context,
    actor: str,
    refund_id: str,
    *,
    action: str,
    status: str,
    note: str | None,
    expected_version: int | None,
) -> RefundView:
    with ctx.db.write() as session:
        now = ctx.clock.now()
        refund = _refund(session, refund_id)
        _refuse(session, actor, refund, action)
        if expected_version is not None and refund.version != expected_version:
            raise Conflict(f"Refund {refund_id} changed since you looked at it; look again first.")
        changed = session.execute(
            update(Refund)
            .where(
                Refund.id == refund_id,
                Refund.status == refund.status,
                Refund.version == refund.version,
            )
            .values(
                status=status,
                decided_by=actor,
                decided_at=now,
                decision_note=note,
                version=Refund.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            # Somebody else decided between our read and our write; they won.
            fresh = _refund(session, refund_id)
            raise Conflict(
                already_decided(fresh)
                if fresh.status != "pending_approval"
                else f"Refund {refund_id} changed since you looked at it; look again first."
            )
        if status in NOT_COUNTED:
            _release(session, refund)
        refund = _refund(session, refund_id)
        audit.record(
            session,
            at=now,
            actor=actor,
            action=f"refund.{action}",
            entity_type="refund",
            entity_id=refund_id,
            details=_amount_details(refund, note=note, previous_status="pending_approval"),
            client=ctx.client_id,
        )
        notify.emit(session, "refunds", [refund_id], status, ctx.client_id)
        if status in NOT_COUNTED:
            notify.emit(session, "payments", [refund.payment_id], None, ctx.client_id)
        return RefundView.of(refund)


def _release(session: Session, refund: Refund) -> None:
    """Give a refund's amount back to its payment's refundable amount."""
    session.execute(
        update(Payment)
        .where(Payment.id == refund.payment_id)
        .values(refunded_amount=Payment.refunded_amount - refund.amount)
        .execution_options(synchronize_session=False)
    )


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
    return _decide(
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
    note = (note or "").strip()
    if not note:
        raise InputError("A rejection needs a note saying why.")
    if len(note) > MAX_NOTE_LENGTH:
        raise InputError(f"The note is longer than {MAX_NOTE_LENGTH} characters.")
    return _decide(
        ctx,
        actor,
        refund_id,
        action="reject",
        status="rejected",
        note=note,
        expected_version=expected_version,
    )


def cancel(ctx: Context, actor: str, refund_id: str) -> RefundView:
    """The requester withdraws their own pending request; its amount becomes refundable again."""
    return _decide(
        ctx, actor, refund_id, action="cancel", status="cancelled", note=None, expected_version=None
    )


def retry(ctx: Context, actor: str, refund_id: str) -> RefundView:
    """Put a failed refund back to approved so processing tries it again (finance or admin).
    Refused when its amount no longer fits in what the payment has left to refund."""
    with ctx.db.write() as session:
        now = ctx.clock.now()
        refund = _refund(session, refund_id)
        _refuse(session, actor, refund, "retry")
        payment = _payment(session, refund.payment_id, lock=True)
        refusal = payment_refusal(payment)
        if refusal:
            raise Refused(refusal)
        grown = session.execute(
            update(Payment)
            .where(
                Payment.id == payment.id,
                Payment.refunded_amount + refund.amount <= Payment.amount,
            )
            .values(refunded_amount=Payment.refunded_amount + refund.amount)
            .execution_options(synchronize_session=False)
        )
        if grown.rowcount != 1:
            raise Refused(
                _exceeds(refund.amount, payment.amount - payment.refunded_amount, payment)
            )
        changed = session.execute(
            update(Refund)
            .where(
                Refund.id == refund_id, Refund.status == "failed", Refund.version == refund.version
            )
            .values(
                status="approved",
                failure_reason=None,
                lease_owner=None,
                lease_expires_at=None,
                version=Refund.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            fresh = _refund(session, refund_id)
            raise Conflict(
                f"Refund {refund_id} is {fresh.status.replace('_', ' ')} now; it was changed by someone else."
            )
        previous_reason = refund.failure_reason
        refund = _refund(session, refund_id)
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


def approve_many(ctx: Context, actor: str, refund_ids: Sequence[str]) -> list[DecisionResult]:
    """Approve each refund in its own transaction (the view's multi-approve): one refusal does
    not stop the others. Returns, in order, which succeeded and, for the rest, why not."""
    results: list[DecisionResult] = []
    seen: set[str] = set()
    for refund_id in refund_ids:
        if refund_id in seen:
            continue
        seen.add(refund_id)
        try:
            view = approve(ctx, actor, refund_id)
        except PaydeskError as exc:
            results.append(DecisionResult(refund_id, False, exc.message))
        else:
            results.append(DecisionResult(refund_id, True, "Approved.", view))
    return results


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


# -- queries for the view and the CLI ----------------------------------------------------------


def build_query(f: RefundFilter, *, now: datetime | None = None) -> Select[tuple[Refund]]:
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
    return RefundView.of(_refund(session, refund_id))


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
    refund = _refund(session, refund_id)
    payment = _payment(session, refund.payment_id)
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
            computed = _compute_pro_rata(payment, sub, refund.created_at)
            quote = replace(computed, amount=refund.amount, capped=refund.amount < computed.amount)
    return RefundDetail(
        refund=RefundView.of(refund),
        payment=summary,
        refundable=0 if payment_refusal(payment) else summary.refundable,
        refunds=[RefundView.of(r) for r in siblings],
        pro_rata=quote,
        audit=audit_trail(session, refund_id),
    )


def counts_by_status(session: Session, f: RefundFilter | None = None) -> dict[str, int]:
    """How many refunds are in each status (filters other than status apply)."""
    stmt = select(Refund.status, func.count()).group_by(Refund.status)
    if f is not None and f.merchant_id:
        stmt = stmt.where(Refund.merchant_id == f.merchant_id)
    return {status: int(n) for status, n in session.execute(stmt)}
