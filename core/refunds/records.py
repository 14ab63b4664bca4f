"""What the refund services, queries and views hand each other: a refund as read, the pro-rata
computation, a request's preview, a multi-refund action's outcome per refund, a refund's detail
with its payment and audit trail, and the filter of the Refunds list."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core import money
from core.clock import utc
from core.errors import InputError
from core.money import format_money
from core.payments.queries import iso
from core.refunds.states import KINDS, STATUSES
from core.store.models import Refund

if TYPE_CHECKING:
    from core.overview.links import RefundLink


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
    gateway: str | None = None  # the connection of its payment; None: Paydesk's own

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
            gateway=r.gateway,
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
            "gateway": self.gateway,
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
