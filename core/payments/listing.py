"""What the Payments list reads, each in one call that opens and closes its own connection:
the first rows of a filter (with the merchants' names when asked), the page after a cursor,
the rows a change notice names, and one payment's detail. The desktop submits these to its
background runner; nothing here keeps a connection between calls."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.payments import queries
from core.payments.queries import PaymentDetail, PaymentFilter, PaymentRow
from core.store.db import Database


@dataclass(frozen=True)
class FirstRows:
    rows: list[PaymentRow]
    names: dict[str, str] | None  # every merchant's name by id, when asked for


@dataclass(frozen=True)
class ChangedRows:
    payment_ids: set[str]  # every payment the notice concerns, shown or not
    rows: list[PaymentRow]  # fresh copies of those among ``shown``


def first_rows(db: Database, f: PaymentFilter, limit: int, *, names: bool) -> FirstRows:
    """The first ``limit`` rows of ``f``, and the merchants' names when ``names``. Read on the
    driver's own connection: this runs on every filter change and keystroke."""
    with db.driver() as conn:
        rows = queries.page(conn, f, limit=limit)
        found = queries.merchant_names(conn) if names else None
    return FirstRows(rows, found)


def rows_after(
    db: Database, f: PaymentFilter, after: tuple[Any, str], limit: int
) -> list[PaymentRow]:
    """The ``limit`` rows of ``f`` after the cursor ``after`` (``PaymentRow.cursor``)."""
    with db.driver() as conn:
        return queries.page(conn, f, after=after, limit=limit)


def changed_rows(
    db: Database,
    payment_ids: Iterable[str],
    refund_ids: Iterable[str],
    shown: set[str],
    *,
    everything: bool,
) -> ChangedRows:
    """Which payments a change notice concerns (those named, those of the refunds named, and
    every one ``shown`` when the notice named none), and the shown ones read again."""
    refunds = set(refund_ids)
    with db.read() as session:
        named = set(payment_ids)
        if refunds:
            named |= queries.payment_ids_of_refunds(session, refunds)
        if everything:
            named |= shown
        wanted = named & shown
        rows = queries.rows_by_id(session, wanted) if wanted else []
    return ChangedRows(named, rows)


def payment_detail(db: Database, payment_id: str) -> PaymentDetail:
    """One payment with its refunds and the webhook logs about it (plain values: the objects
    stay readable after the session is closed)."""
    with db.read() as session:
        found = queries.detail(session, payment_id)
        # Ending the read expires what the session holds; detached objects keep their values.
        session.expunge_all()
        return found


def has_payments(db: Database) -> bool:
    """Whether the database holds any payment (a first run offers demo data when not)."""
    with db.read() as session:
        return bool(queries.page(session, PaymentFilter(), limit=1))
