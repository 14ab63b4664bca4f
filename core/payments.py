"""Finding payments: keyset pages for the Payments view, the CLI and exports.

Pages are keyed on (created_at, id) or (amount, id), never OFFSET, so the millionth row
costs what the first does. Rows are plain tuples: the view maps them to roles itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, func, or_, select, tuple_, union_all
from sqlalchemy.orm import Session

from core.errors import InputError, NotFound
from core.models import Merchant, Payment, Refund, WebhookLog
from core.money import EXPONENTS

STATUSES = ("pending", "success", "failed")
METHODS = ("upi", "card", "netbanking", "wallet")
SORTS = ("created", "amount")

PAGE_SIZE = 200


class PaymentRow(NamedTuple):
    id: str
    created_at: datetime
    merchant_id: str
    order_id: str
    customer_email: str | None
    customer_vpa: str | None
    method: str
    amount: int
    currency: str
    status: str
    refunded_amount: int
    captured: bool

    @property
    def customer(self) -> str:
        return self.customer_email or self.customer_vpa or ""

    def cursor(self, sort: str) -> tuple[Any, str]:
        return (self.amount if sort == "amount" else self.created_at, self.id)


_COLUMNS = (
    Payment.id,
    Payment.created_at,
    Payment.merchant_id,
    Payment.order_id,
    Payment.customer_email,
    Payment.customer_vpa,
    Payment.method,
    Payment.amount,
    Payment.currency,
    Payment.status,
    Payment.refunded_amount,
    Payment.captured,
)


@dataclass(frozen=True)
class PaymentFilter:
    """What a person narrowed the list to. ``search`` is an exact payment id, an exact order
    id, or the start of a customer email or VPA."""

    status: str | None = None
    merchant_id: str | None = None
    method: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    search: str | None = None
    sort: str = "created"
    descending: bool = True
    # ISO code; the dashboard's drill-downs narrow to one currency.
    currency: str | None = None

    def validated(self) -> PaymentFilter:
        if self.status and self.status not in STATUSES:
            raise InputError(
                f"{self.status!r} is not a payment status; use one of {', '.join(STATUSES)}."
            )
        if self.method and self.method not in METHODS:
            raise InputError(
                f"{self.method!r} is not a payment method; use one of {', '.join(METHODS)}."
            )
        if self.currency is not None and self.currency.upper() not in EXPONENTS:
            raise InputError(f"{self.currency!r} is not a currency Paydesk knows.")
        if self.sort not in SORTS:
            raise InputError(f"Payments can be sorted by {' or '.join(SORTS)}, not {self.sort!r}.")
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise InputError("The start of the date range is after its end.")
        search = (self.search or "").strip() or None
        return replace(self, search=search)


# Up to this many matches a search reads its matches through the indexes and sorts them;
# past it, matches are dense enough that walking the ordered index finds a page sooner.
NARROW_SEARCH = 1000


def _prefix(session: Session, column: Any, prefix: str) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        # A half-open range is what SQLite's planner turns into an index seek (its LIKE is
        # case-insensitive and would scan).
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return and_(column >= prefix, column < upper)
    # varchar_pattern_ops indexes serve LIKE 'prefix%' (and not plain < and >).
    return column.startswith(prefix, autoescape=True)


def _search_clause(session: Session, q: str) -> Any:
    if q.startswith("pay_"):
        return Payment.id == q
    prefix = q.lower()
    seeks = [
        select(Payment.id).where(Payment.order_id == q),
        select(Payment.id).where(_prefix(session, Payment.customer_email, prefix)),
        select(Payment.id).where(_prefix(session, Payment.customer_vpa, prefix)),
    ]
    # How many rows match, counted only up to the bound through the three indexes. The
    # planners cannot tell a prefix that matches one row from one that matches thousands
    # (Postgres without fresh statistics walks the whole table for an order id), so the
    # shape of the query is chosen here.
    probe = union_all(*seeks).limit(NARROW_SEARCH + 1).subquery()
    found = session.scalar(select(func.count()).select_from(probe)) or 0
    if found <= NARROW_SEARCH:
        return Payment.id.in_(union_all(*seeks))
    if session.get_bind().dialect.name == "sqlite":
        # LIKE cannot use SQLite's indexes, so it walks the ordered index and stops at a page.
        email = Payment.customer_email.like(f"{_escape_like(prefix)}%", escape="\\")
        vpa = Payment.customer_vpa.like(f"{_escape_like(prefix)}%", escape="\\")
    else:
        email = Payment.customer_email.startswith(prefix, autoescape=True)
        vpa = Payment.customer_vpa.startswith(prefix, autoescape=True)
    return or_(Payment.order_id == q, email, vpa)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def build_query(session: Session, f: PaymentFilter) -> Select[Any]:
    """The filtered, ordered query without a page bound."""
    stmt = select(*_COLUMNS)
    if f.status:
        stmt = stmt.where(Payment.status == f.status)
    if f.merchant_id:
        stmt = stmt.where(Payment.merchant_id == f.merchant_id)
    if f.method:
        stmt = stmt.where(Payment.method == f.method)
    if f.currency:
        stmt = stmt.where(Payment.currency == f.currency.upper())
    if f.created_from:
        stmt = stmt.where(Payment.created_at >= f.created_from)
    if f.created_to:
        stmt = stmt.where(Payment.created_at < f.created_to)
    if f.search:
        stmt = stmt.where(_search_clause(session, f.search))
    key = Payment.amount if f.sort == "amount" else Payment.created_at
    if f.descending:
        return stmt.order_by(key.desc(), Payment.id.desc())
    return stmt.order_by(key.asc(), Payment.id.asc())


def page(
    session: Session,
    f: PaymentFilter,
    after: tuple[Any, str] | None = None,
    limit: int = PAGE_SIZE,
) -> list[PaymentRow]:
    """One page of payments after the cursor ``after`` (from ``PaymentRow.cursor``)."""
    f = f.validated()
    stmt = build_query(session, f)
    if after is not None:
        key = Payment.amount if f.sort == "amount" else Payment.created_at
        pair = tuple_(key, Payment.id)
        stmt = stmt.where(pair < tuple_(*after) if f.descending else pair > tuple_(*after))
    rows = session.execute(stmt.limit(limit)).all()
    return [PaymentRow(*r) for r in rows]


def rows_by_id(session: Session, ids: Iterable[str]) -> list[PaymentRow]:
    """The list rows of the payments ``ids`` (those that exist, in no particular order), for
    refreshing rows already on screen."""
    wanted = sorted(set(ids))
    found: list[PaymentRow] = []
    # Bounded IN lists: SQLite allows a limited number of parameters per statement.
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.extend(
            PaymentRow(*r) for r in session.execute(select(*_COLUMNS).where(Payment.id.in_(chunk)))
        )
    return found


def payment_ids_of_refunds(session: Session, refund_ids: Iterable[str]) -> set[str]:
    """The payments the refunds ``refund_ids`` belong to."""
    wanted = sorted(set(refund_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(session.scalars(select(Refund.payment_id).where(Refund.id.in_(chunk))))
    return found


def merchant_names(session: Session) -> dict[str, str]:
    """Every merchant's name by id: a handful of rows, kept in memory by the views."""
    return {mid: name for mid, name in session.execute(select(Merchant.id, Merchant.name))}


@dataclass
class PaymentDetail:
    payment: Payment
    merchant_name: str
    refunds: list[Refund]
    webhooks: list[WebhookLog]

    @property
    def refundable(self) -> int:
        return self.payment.amount - self.payment.refunded_amount


def detail(session: Session, payment_id: str) -> PaymentDetail:
    """Every field of one payment, its refunds and the webhook logs about it."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"There is no payment {payment_id}.")
    merchant = session.get(Merchant, payment.merchant_id)
    refunds = list(
        session.scalars(
            select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.created_at)
        )
    )
    entity_ids = [payment_id, *(r.id for r in refunds)]
    webhooks = list(
        session.scalars(
            select(WebhookLog)
            .where(WebhookLog.entity_id.in_(entity_ids))
            .order_by(WebhookLog.created_at)
        )
    )
    return PaymentDetail(
        payment, merchant.name if merchant else payment.merchant_id, refunds, webhooks
    )


def row_as_json(row: PaymentRow) -> dict[str, Any]:
    """The CLI's JSON shape: amounts in minor units, times in ISO 8601 UTC."""
    return {
        "id": row.id,
        "merchant_id": row.merchant_id,
        "order_id": row.order_id,
        "amount": row.amount,
        "currency": row.currency,
        "method": row.method,
        "status": row.status,
        "captured": row.captured,
        "customer": row.customer or None,
        "refunded_amount": row.refunded_amount,
        "created_at": iso(row.created_at),
    }


def iso(dt: datetime | None) -> str | None:
    from core.clock import utc

    return None if dt is None else utc(dt).isoformat().replace("+00:00", "Z")
