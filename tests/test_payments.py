"""Finding payments (core.payments.queries.page) on SQLite and on Postgres: every filter, the search
kinds, both sorts in both directions, and keyset paging that returns every match exactly once.

The expected rows are worked out in Python from the rows the test wrote, so each case compares
the database's answer with an independent one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from core.clock import FrozenClock
from core.errors import InputError
from core.payments import queries as payments
from core.payments.queries import PaymentFilter, PaymentRow
from core.store.models import Merchant, Payment

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STATUSES = ("success", "failed", "pending")
METHODS = ("upi", "card", "netbanking", "wallet")
CURRENCIES = ("INR", "USD", "JPY")
# More matches than NARROW_SEARCH share the "buyer" prefix, so both shapes of a search run.
COUNT = payments.NARROW_SEARCH + 260


@dataclass(frozen=True)
class Written:
    rows: list[dict[str, Any]]

    def expected(self, f: PaymentFilter) -> list[str]:
        """The ids ``f`` selects, in its order, worked out in Python."""
        f = f.validated()
        out = [r for r in self.rows if matches(r, f)]
        if f.sort == "amount":  # each currency's payments together
            out.sort(key=lambda r: (r["currency"], r["amount"], r["id"]), reverse=f.descending)
        else:
            out.sort(key=lambda r: (r["created_at"], r["id"]), reverse=f.descending)
        return [r["id"] for r in out]


def matches(r: dict[str, Any], f: PaymentFilter) -> bool:
    if f.status and r["status"] != f.status:
        return False
    if f.merchant_id and r["merchant_id"] != f.merchant_id:
        return False
    if f.method and r["method"] != f.method:
        return False
    if f.currency and r["currency"] != f.currency.upper():
        return False
    if f.created_from and r["created_at"] < f.created_from:
        return False
    if f.created_to and r["created_at"] >= f.created_to:
        return False
    if f.search:
        q = f.search
        if q.startswith("pay_"):
            return r["id"] == q
        prefix = q.lower()
        return (
            r["order_id"] == q
            or (r["customer_email"] or "\0").startswith(prefix)
            or (r["customer_vpa"] or "\0").startswith(prefix)
        )
    return True


@pytest.fixture
def written(db) -> Written:
    rows = []
    for i in range(COUNT):
        status = STATUSES[i % 3]
        # Pairs of payments share a creation time, so the id decides between them.
        created = NOW - timedelta(minutes=i // 2, microseconds=0 if i % 5 else 250_000)
        email = f"buyer{i:05d}@example.com" if i % 2 == 0 else None
        vpa = None if i % 2 == 0 else f"buyer{i:05d}@okaxis"
        if i == 7:
            email, vpa = "a_b@example.com", None  # a LIKE wildcard in the address itself
        if i == 8:
            email = "axb@example.com"  # what "a_b" would match were "_" not escaped
        if i == 9:
            email, vpa = "100%pure@example.com", None
        rows.append(
            {
                "id": f"pay_t{i:06d}{'Z' if i % 4 == 0 else 'a'}",
                "merchant_id": ("mer_a", "mer_b", "mer_c")[i % 3 if i % 7 else 0],
                "order_id": f"ord_{i:06d}",
                # Amounts repeat, so the id breaks ties under the amount sort too.
                "amount": 1_000 + (i * 37) % 500,
                "currency": CURRENCIES[i % 3],
                "method": METHODS[i % 4],
                "status": status,
                "captured": status == "success",
                "customer_email": email,
                "customer_vpa": vpa,
                "refunded_amount": 0,
                "created_at": created,
                "updated_at": created,
            }
        )
    with db.write() as session:
        session.execute(
            insert(Merchant),
            [
                {"id": m, "name": m.upper(), "email": f"{m}@example.com", "created_at": NOW}
                for m in ("mer_a", "mer_b", "mer_c")
            ],
        )
        session.execute(insert(Payment), rows)
    return Written(rows)


def walk(db, f: PaymentFilter, limit: int, reader: str = "session") -> list[PaymentRow]:
    """Every page of ``f``, each read after the last row of the one before, through a Session
    or a driver connection."""
    out: list[PaymentRow] = []
    after = None
    while True:
        with db.read() if reader == "session" else db.driver() as source:
            got = payments.page(source, f, after=after, limit=limit)
        out.extend(got)
        if len(got) < limit:
            return out
        after = got[-1].cursor(f.sort)


FILTERS = {
    "everything newest first": PaymentFilter(),
    "oldest first": PaymentFilter(descending=False),
    "largest amount first": PaymentFilter(sort="amount"),
    "smallest amount first": PaymentFilter(sort="amount", descending=False),
    "failed": PaymentFilter(status="failed"),
    "one merchant, card": PaymentFilter(merchant_id="mer_b", method="card"),
    "one currency, in lower case": PaymentFilter(currency="jpy"),
    "a day and a half": PaymentFilter(
        created_from=NOW - timedelta(hours=20), created_to=NOW - timedelta(hours=4)
    ),
    "pending by amount in a range": PaymentFilter(
        status="pending", sort="amount", created_from=NOW - timedelta(hours=9)
    ),
    "an exact payment id": PaymentFilter(search="pay_t000123a"),
    "an exact order id": PaymentFilter(search="ord_000321"),
    "an email prefix with few matches": PaymentFilter(search="buyer0004"),
    "a VPA prefix in capitals": PaymentFilter(search="BUYER00051"),
    "a prefix most payments share": PaymentFilter(search="buyer"),
    "a broad prefix and a status": PaymentFilter(search="buyer", status="success"),
    "an underscore matches only itself": PaymentFilter(search="a_b"),
    "a percent sign matches only itself": PaymentFilter(search="100%"),
    "surrounding spaces are ignored": PaymentFilter(search="  ord_000042 "),
    "a search that matches nothing": PaymentFilter(search="nobody@nowhere"),
}


@pytest.mark.parametrize("reader", ["session", "driver"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_pages_return_every_match_once_in_the_filters_order(db, written, name, reader):
    f = FILTERS[name]
    want = written.expected(f)
    got = walk(db, f, limit=97, reader=reader)
    assert [r.id for r in got] == want
    assert name == "a search that matches nothing" or want


@pytest.mark.parametrize("reader", ["session", "driver"])
def test_rows_carry_every_listed_field_as_written(db, written, reader):
    with db.read() if reader == "session" else db.driver() as source:
        (row,) = payments.page(source, PaymentFilter(search="pay_t000010a"))
        names = payments.merchant_names(source)
    assert names == {"mer_a": "MER_A", "mer_b": "MER_B", "mer_c": "MER_C"}
    src = next(r for r in written.rows if r["id"] == "pay_t000010a")
    assert row == PaymentRow(
        id=src["id"],
        created_at=src["created_at"],
        merchant_id=src["merchant_id"],
        order_id=src["order_id"],
        customer_email=src["customer_email"],
        customer_vpa=src["customer_vpa"],
        method=src["method"],
        amount=src["amount"],
        currency=src["currency"],
        status=src["status"],
        refunded_amount=0,
        captured=src["captured"],
    )
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
    assert isinstance(row.captured, bool) and isinstance(row.amount, int)


@pytest.mark.parametrize("descending", [True, False])
def test_by_amount_the_currencies_come_in_groups_and_the_next_page_goes_on(db, written, descending):
    f = PaymentFilter(sort="amount", descending=descending)
    limit = COUNT // 3 - 100  # the first page ends inside the first currency, the second after it
    with db.driver() as conn:
        first = payments.page(conn, f, limit=limit)
    with db.read() as session:
        second = payments.page(session, f, after=first[-1].cursor("amount"), limit=limit)
    shown = first + second
    groups = [
        c for i, c in enumerate(r.currency for r in shown) if i == 0 or shown[i - 1].currency != c
    ]
    assert groups == sorted(set(CURRENCIES), reverse=descending)[:2]  # each currency once
    for currency in groups:
        amounts = [r.amount for r in shown if r.currency == currency]
        assert amounts == sorted(amounts, reverse=descending)
    assert first[-1].currency == second[0].currency  # the group goes on across the pages
    assert [r.id for r in shown] == written.expected(f)[: 2 * limit]
    assert first[-1].cursor("amount") == (first[-1].currency, first[-1].amount, first[-1].id)


def test_a_cursor_between_two_payments_of_the_same_time_splits_them_by_id(db, written):
    first, second = sorted(
        (r for r in written.rows if r["created_at"] == NOW - timedelta(minutes=3)),
        key=lambda r: r["id"],
        reverse=True,
    )
    with db.read() as session:
        rows = payments.page(
            session, PaymentFilter(), after=(first["created_at"], first["id"]), limit=1
        )
    assert [r.id for r in rows] == [second["id"]]


@pytest.mark.parametrize(
    ("f", "message"),
    [
        (PaymentFilter(status="done"), "'done' is not a payment status"),
        (PaymentFilter(method="cash"), "'cash' is not a payment method"),
        (PaymentFilter(currency="XYZ"), "'XYZ' is not a currency Paydesk knows."),
        (PaymentFilter(sort="customer"), "Payments can be sorted by created or amount"),
        (
            PaymentFilter(created_from=NOW, created_to=NOW - timedelta(days=1)),
            "The start of the date range is after its end.",
        ),
    ],
)
def test_a_filter_payments_cannot_have_is_refused_with_a_sentence(db, f, message):
    with db.read() as session, pytest.raises(InputError, match=message.replace("(", r"\(")):
        payments.page(session, f)


def test_a_driver_read_leaves_no_transaction_open_and_the_pool_as_it_was(db, written):
    with db.driver() as conn:
        payments.page(conn, PaymentFilter(), limit=3)
        if db.engine.dialect.name == "postgresql":
            import psycopg

            # Autocommit: no BEGIN before the read, no ROLLBACK after it.
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        else:
            assert not conn.in_transaction
    # Connections lent for sessions still open transactions and roll them back.
    with pytest.raises(RuntimeError), db.write() as session:
        session.execute(text("UPDATE payments SET order_id = 'changed'"))
        raise RuntimeError("changed my mind")
    with db.driver() as conn:
        assert all(r.order_id != "changed" for r in payments.page(conn, PaymentFilter()))
    if db.engine.dialect.name == "postgresql":
        pooled = db.engine.raw_connection()
        try:
            assert pooled.driver_connection.autocommit is False
        finally:
            pooled.close()


def test_a_failing_driver_read_is_the_same_database_error_as_any_other(db, written):
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError), db.driver() as conn:
        payments._driver_rows(conn, "SELECT no_such_column FROM payments", [])
    # The connection went back to the pool in a usable state.
    with db.driver() as conn:
        assert len(payments.page(conn, PaymentFilter(), limit=3)) == 3


@pytest.mark.parametrize("reader", ["session", "driver"])
def test_refunded_is_what_was_processed_and_requested_money_is_apart(db, reader):
    from core.context import Context
    from core.store.models import Refund
    from tests.test_refunds import add_payment

    ctx = Context(db=db, clock=FrozenClock(), client_id="test")
    pid = add_payment(ctx, amount=10_000)
    with db.write() as s:
        for n, (amount, status) in enumerate(
            [
                (2_000, "processed"),
                (1_500, "pending_approval"),
                (500, "approved"),
                (900, "rejected"),
            ]
        ):
            s.add(
                Refund(
                    id=f"rfnd_split{n}",
                    payment_id=pid,
                    merchant_id=s.get(Payment, pid).merchant_id,
                    amount=amount,
                    currency="INR",
                    kind="partial",
                    reason="requested_by_customer",
                    status=status,
                    requested_by="alice",
                    version=1,
                    created_at=ctx.clock.now(),
                    updated_at=ctx.clock.now(),
                )
            )
    with db.read() if reader == "session" else db.driver() as source:
        [row] = payments.page(source, PaymentFilter(search=pid))
    assert (row.refunded_amount, row.pending_refund_amount) == (2_000, 2_000)
    shown = payments.row_as_json(row)
    assert (shown["refunded_amount"], shown["pending_refund_amount"]) == (2_000, 2_000)
    with db.read() as s:
        [again] = payments.rows_by_id(s, [pid])
        d = payments.detail(s, pid)
        assert (d.processed_refunds, d.pending_refunds, d.refundable) == (2_000, 2_000, 6_000)
    assert again == row
