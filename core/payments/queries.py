"""Finding payments: keyset pages for the Payments view, the CLI and exports.

Pages are keyed on (created_at, id) or (currency, amount, id), never OFFSET, so the millionth
row costs what the first does. Rows are plain tuples: the view maps them to roles itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InputError, NotFound
from core.money import EXPONENTS
from core.refunds.states import IN_FLIGHT, RefundStatus
from core.store.models import Merchant, Payment, Refund, WebhookLog

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
    # Refunds processed (money back with the customer). The database keeps the live total
    # (core.refunds.states.COUNTED); ``page`` and ``rows_by_id`` split it into the two.
    refunded_amount: int
    captured: bool
    gateway: str | None = None  # the connection it was synced from; None: Paydesk's own
    # Requested and not processed yet (awaiting approval, approved, processing): reserved,
    # not refunded.
    pending_refund_amount: int = 0

    @property
    def customer(self) -> str:
        return self.customer_email or self.customer_vpa or ""

    def cursor(self, sort: str) -> tuple[Any, ...]:
        """Where this row stands in ``sort``'s order, for ``page(after=...)``."""
        if sort == "amount":
            return (self.currency, self.amount, self.id)
        return (self.created_at, self.id)


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
    Payment.gateway,
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

# The list's reads are the hottest statements Paydesk runs (every filter change, every page
# of scrolling), so they are written out here in the database's own terms instead of being
# built and compiled through SQLAlchemy's expression layer on each call: a handful of fixed
# shapes whose text the driver keeps prepared. Placeholders are written "?" and become "%s"
# for psycopg; no literal "?" or "%" appears in the text.
_SELECT = (
    "SELECT id, created_at, merchant_id, order_id, customer_email, customer_vpa, method,"
    " amount, currency, status, refunded_amount, captured, gateway FROM payments"
)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how UTCDateTime stores a time on SQLite
# A row of _SELECT as sqlite3 gives it: the time as text, ``captured`` as 0 or 1.
_SqliteRow = tuple[
    str, str, str, str, str | None, str | None, str, int, str, str, int, int, str | None
]


class _Statement:
    """WHERE conditions and their parameters, built for one dialect."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def where(self, condition: str, *params: Any) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def time(self, dt: datetime) -> Any:
        """A time as the column stores it (UTC; naive times are taken as UTC)."""
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
        return dt.strftime(_SQLITE_TIME) if self.sqlite else dt

    def prefix(self, column: str, prefix: str) -> tuple[str, list[Any]]:
        """``column`` starts with ``prefix``, in the form the dialect's index serves."""
        if self.sqlite:
            # A half-open range is what SQLite's planner turns into an index seek (its LIKE
            # is case-insensitive and cannot use the index).
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            return f"{column} >= ? AND {column} < ?", [prefix, upper]
        # varchar_pattern_ops indexes serve LIKE 'prefix%' (and not plain < and >).
        return f"{column} LIKE ? ESCAPE '\\'", [_escape_like(prefix) + "%"]

    def sql(self, head: str, tail: str = "") -> str:
        text = head
        if self.conditions:
            text += " WHERE " + " AND ".join(self.conditions)
        text += tail
        return text if self.sqlite else text.replace("?", "%s")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class DriverConnection(Protocol):
    """A DB-API connection (``sqlite3`` or psycopg), as ``Database.driver`` hands it out."""

    def cursor(self) -> Any: ...


# Where a read runs: a Session (inside its transaction) or a driver connection from
# ``Database.driver`` (the list views, where every microsecond of a cold code path shows).
Reader = Session | DriverConnection


def _is_sqlite(reader: Reader) -> bool:
    if isinstance(reader, Session):
        return reader.get_bind().dialect.name == "sqlite"
    return isinstance(reader, sqlite3.Connection)


def _driver_rows(reader: Reader, sql: str, params: list[Any]) -> Sequence[Any]:
    if isinstance(reader, Session):
        return reader.connection().exec_driver_sql(sql, tuple(params)).all()
    cursor = reader.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _search(reader: Reader, st: _Statement, q: str) -> None:
    if q.startswith("pay_"):
        st.where("id = ?", q)
        return
    prefix = q.lower()
    seeks = _Statement(st.sqlite)
    parts = ["SELECT id FROM payments WHERE order_id = ?"]
    seeks.params.append(q)
    for column in ("customer_email", "customer_vpa"):
        condition, params = seeks.prefix(column, prefix)
        parts.append(f"SELECT id FROM payments WHERE {condition}")
        seeks.params.extend(params)
    union = " UNION ALL ".join(parts)
    # How many rows match, counted only up to the bound through the three indexes. The
    # planners cannot tell a prefix that matches one row from one that matches thousands
    # (Postgres without fresh statistics walks the whole table for an order id), so the
    # shape of the query is chosen here.
    probe = seeks.sql(f"SELECT count(*) FROM ({union} LIMIT {NARROW_SEARCH + 1}) AS probe")
    found = _driver_rows(reader, probe, seeks.params)[0][0]
    if found <= NARROW_SEARCH:
        st.where(f"id IN ({union})", *seeks.params)
        return
    # Matches are dense: walk the ordered index and stop at a page (on SQLite LIKE cannot use
    # the prefix indexes anyway; on Postgres it can, but the walk is what finds a page).
    pattern = _escape_like(prefix) + "%"
    st.where(
        "(order_id = ? OR customer_email LIKE ? ESCAPE '\\' OR customer_vpa LIKE ? ESCAPE '\\')",
        q,
        pattern,
        pattern,
    )


def page(
    reader: Reader,
    f: PaymentFilter,
    after: tuple[Any, ...] | None = None,
    limit: int = PAGE_SIZE,
) -> list[PaymentRow]:
    """One page of payments matching ``f`` in its order, after the cursor ``after`` (from
    ``PaymentRow.cursor``), read through a Session or a ``Database.driver`` connection. Pages
    are keyed on (created_at, id) or (currency, amount, id), never OFFSET, so the millionth
    row costs what the first does. By amount, each currency's payments come together: amounts
    in different currencies do not compare."""
    f = f.validated()
    sqlite = _is_sqlite(reader)
    st = _Statement(sqlite)
    if f.status:
        st.where("status = ?", f.status)
    if f.merchant_id:
        st.where("merchant_id = ?", f.merchant_id)
    if f.method:
        st.where("method = ?", f.method)
    if f.currency:
        st.where("currency = ?", f.currency.upper())
    if f.created_from:
        st.where("created_at >= ?", st.time(f.created_from))
    if f.created_to:
        st.where("created_at < ?", st.time(f.created_to))
    if f.search:
        _search(reader, st, f.search)
    keys = ("currency", "amount", "id") if f.sort == "amount" else ("created_at", "id")
    if after is not None:
        values = list(after) if f.sort == "amount" else [st.time(after[0]), after[1]]
        marks = ", ".join("?" for _ in keys)
        st.where(f"({', '.join(keys)}) {'<' if f.descending else '>'} ({marks})", *values)
    way = "DESC" if f.descending else "ASC"
    order = ", ".join(f"{k} {way}" for k in keys)
    rows = _driver_rows(reader, st.sql(_SELECT, f" ORDER BY {order} LIMIT {int(limit)}"), st.params)
    if sqlite:
        found = [
            PaymentRow(
                r[0],
                datetime.fromisoformat(r[1]).replace(tzinfo=UTC),
                *r[2:11],
                bool(r[11]),
                r[12],
            )
            for r in cast(Sequence[_SqliteRow], rows)
        ]
        return _split_refunded(reader, found)
    return _split_refunded(reader, [PaymentRow(r[0], r[1].astimezone(UTC), *r[2:]) for r in rows])


def _split_refunded(reader: Reader, rows: list[PaymentRow]) -> list[PaymentRow]:
    """``rows`` with their live refunded total split into processed and pending (requested,
    not processed: ``IN_FLIGHT``). Most payments have no refund: only those with a live total
    are looked up."""
    ids = [r.id for r in rows if r.refunded_amount]
    pending: dict[str, int] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists, as in rows_by_id
        chunk = ids[start : start + 500]
        st = _Statement(_is_sqlite(reader))
        st.where(f"payment_id IN ({', '.join('?' * len(chunk))})", *chunk)
        st.where(f"status IN ({', '.join('?' * len(IN_FLIGHT))})", *IN_FLIGHT)
        sql = st.sql("SELECT payment_id, sum(amount) FROM refunds", " GROUP BY payment_id")
        pending.update((pid, int(total)) for pid, total in _driver_rows(reader, sql, st.params))
    return [
        r._replace(
            refunded_amount=r.refunded_amount - pending[r.id], pending_refund_amount=pending[r.id]
        )
        if r.id in pending
        else r
        for r in rows
    ]


def rows_by_id(session: Session, ids: Iterable[str]) -> list[PaymentRow]:
    """The list rows of the payments ``ids`` (those that exist, in no particular order), for
    refreshing rows already on screen."""
    wanted = sorted(set(ids))
    found: list[PaymentRow] = []
    # Bounded IN lists: SQLite allows a limited number of parameters per statement.
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.extend(
            PaymentRow._make((*r, 0))  # pending_refund_amount: set by _split_refunded
            for r in session.execute(select(*_COLUMNS).where(Payment.id.in_(chunk)))
        )
    return _split_refunded(session, found)


def payment_ids_of_refunds(session: Session, refund_ids: Iterable[str]) -> set[str]:
    """The payments the refunds ``refund_ids`` belong to."""
    wanted = sorted(set(refund_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(session.scalars(select(Refund.payment_id).where(Refund.id.in_(chunk))))
    return found


def merchant_names(reader: Reader) -> dict[str, str]:
    """Every merchant's name by id: a handful of rows, kept in memory by the views."""
    return dict(_driver_rows(reader, "SELECT id, name FROM merchants", []))


@dataclass
class PaymentDetail:
    payment: Payment
    merchant_name: str
    refunds: list[Refund]
    webhooks: list[WebhookLog]

    @property
    def refundable(self) -> int:
        """What is left to refund: processed and pending refunds both reserve their amount."""
        return self.payment.amount - self.payment.refunded_amount

    @property
    def processed_refunds(self) -> int:
        return sum(r.amount for r in self.refunds if r.status == RefundStatus.PROCESSED)

    @property
    def pending_refunds(self) -> int:
        """Requested and not processed yet (awaiting approval, approved, processing)."""
        return self.payment.refunded_amount - self.processed_refunds


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
        "pending_refund_amount": row.pending_refund_amount,
        "created_at": iso(row.created_at),
        "gateway": row.gateway,
    }


def iso(dt: datetime | None) -> str | None:
    from core.clock import utc

    return None if dt is None else utc(dt).isoformat().replace("+00:00", "Z")
