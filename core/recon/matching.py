"""Matching settlement lines against Paydesk's payments and refunds.

Each line is matched by the id it names (the gateway's id, as synced), else by order id and
amount; a line a person linked by hand is matched against what it was linked to. Every line
ends in exactly one state (``STATES``). Lines are matched a chunk at a time (one query per
table per chunk), so an import of a million lines never holds more than a chunk; duplicates
and the payments and refunds no settlement covered are then found with one statement each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import (
    CursorResult,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from core.store.models import Payment, Refund, SettlementLine

MATCHED = "matched"
AMOUNT_MISMATCH = "amount_mismatch"
CURRENCY_MISMATCH = "currency_mismatch"
NOT_IN_PAYDESK = "not_in_paydesk"
NOT_CAPTURED = "not_captured"
DUPLICATE = "duplicate"
ADJUSTMENT = "adjustment"
MISSING = "missing_from_settlement"
STATES = (
    MATCHED,
    AMOUNT_MISMATCH,
    CURRENCY_MISMATCH,
    NOT_IN_PAYDESK,
    NOT_CAPTURED,
    DUPLICATE,
    ADJUSTMENT,
    MISSING,
)
# States that need a person: everything but a clean match and an adjustment (listed only).
EXCEPTIONS = tuple(s for s in STATES if s not in (MATCHED, ADJUSTMENT))

LINES = cast(Table, SettlementLine.__table__)
_CHUNK_IDS = 5_000


class Matchable(Protocol):
    kind: str
    ref_id: str | None
    payment_ref: str | None
    order_id: str | None
    currency: str
    amount: int
    fee: int
    net: int


@dataclass(slots=True)
class Outcome:
    state: str
    matched_type: str | None = None
    matched_id: str | None = None
    expected: int = 0
    expected_currency: str | None = None
    difference: int = 0

    def values(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "matched_type": self.matched_type,
            "matched_id": self.matched_id,
            "expected": self.expected,
            "expected_currency": self.expected_currency,
            "difference": self.difference,
        }


@dataclass(slots=True)
class _Pay:
    id: str
    order_id: str
    amount: int
    currency: str
    ok: bool  # a successful, captured payment


@dataclass(slots=True)
class _Ref:
    id: str
    payment_id: str
    amount: int
    currency: str
    ok: bool  # processed


def _in_chunks(values: Iterable[str]) -> Iterable[list[str]]:
    batch: list[str] = []
    for v in values:
        batch.append(v)
        if len(batch) >= _CHUNK_IDS:
            yield batch
            batch = []
    if batch:
        yield batch


def _driver_rows(session: Session, sql: str, column: str, keys: set[str]) -> list[tuple[Any, ...]]:
    """``sql`` (``SELECT … FROM t WHERE {where}``) for ``column`` in ``keys``, on the
    database driver in the session's transaction: a chunk's lookups are the import's most
    frequent reads, and SQLAlchemy's per-row work would cost more than the read itself."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    postgres = session.get_bind().dialect.name == "postgresql"
    out: list[tuple[Any, ...]] = []
    for part in _in_chunks(sorted(keys)):
        if postgres:
            with raw.cursor() as cur:
                cur.execute(sql.format(where=f"{column} = ANY(%s)"), (part,))
                out += cur.fetchall()
        else:
            marks = ", ".join("?" for _ in part)
            cur = raw.cursor()
            try:
                out += cur.execute(sql.format(where=f"{column} IN ({marks})"), part).fetchall()
            finally:
                cur.close()
    return out


_PAY_SQL = "SELECT id, order_id, amount, currency, status, captured FROM payments WHERE {where}"
_REF_SQL = "SELECT id, payment_id, amount, currency, status FROM refunds WHERE {where}"


def _payments(session: Session, column: str, keys: set[str]) -> list[_Pay]:
    rows = _driver_rows(session, _PAY_SQL, column, keys)
    return [_Pay(r[0], r[1], r[2], r[3], r[4] == "success" and bool(r[5])) for r in rows]


def _refunds(session: Session, column: str, keys: set[str]) -> list[_Ref]:
    rows = _driver_rows(session, _REF_SQL, column, keys)
    return [_Ref(r[0], r[1], r[2], r[3], r[4] == "processed") for r in rows]


def match_chunk(
    session: Session, lines: Sequence[Matchable], linked: Sequence[str | None] | None = None
) -> list[Outcome]:
    """The state of each line (duplicates aside: ``mark_duplicates`` finds those).
    ``linked[i]``, when given, is the payment or refund a person linked line ``i`` to."""
    links = list(linked) if linked is not None else [None] * len(lines)
    pay_ids = {x.ref_id for x in lines if x.kind == "payment" and x.ref_id}
    ref_ids = {x.ref_id for x in lines if x.kind == "refund" and x.ref_id}
    for x, link in zip(lines, links, strict=True):
        if link:
            (pay_ids if x.kind == "payment" else ref_ids).add(link)
    pays = {p.id: p for p in _payments(session, "id", pay_ids)} if pay_ids else {}
    refs = {r.id: r for r in _refunds(session, "id", ref_ids)} if ref_ids else {}
    if any(x.kind == "refund" for x in lines):
        # A link to a payment from a refund line (or the other way) is still found.
        extra = {link for link in links if link and link not in pays and link not in refs}
        if extra:
            pays.update({p.id: p for p in _payments(session, "id", extra)})
            refs.update({r.id: r for r in _refunds(session, "id", extra)})

    # Second chance for what the id did not find: order id and amount (payments), the
    # payment's refunds of that amount (refunds).
    lost_orders = {
        x.order_id
        for x, link in zip(lines, links, strict=True)
        if not link
        and x.order_id
        and x.kind in ("payment", "refund")
        and not (x.ref_id and (x.ref_id in pays if x.kind == "payment" else x.ref_id in refs))
    }
    by_order: dict[str, list[_Pay]] = {}
    if lost_orders:
        for p in _payments(session, "order_id", lost_orders):
            by_order.setdefault(p.order_id, []).append(p)
            pays.setdefault(p.id, p)
    lost_pay_refs = {
        x.payment_ref
        for x, link in zip(lines, links, strict=True)
        if not link and x.kind == "refund" and x.payment_ref and not (x.ref_id and x.ref_id in refs)
    } | {p.id for ps in by_order.values() for p in ps}
    refunds_of: dict[str, list[_Ref]] = {}
    if lost_pay_refs and any(x.kind == "refund" for x in lines):
        for r in _refunds(session, "payment_id", lost_pay_refs):
            refunds_of.setdefault(r.payment_id, []).append(r)

    out: list[Outcome] = []
    for x, link in zip(lines, links, strict=True):
        if x.kind not in ("payment", "refund"):
            out.append(Outcome(ADJUSTMENT))
            continue
        target: _Pay | _Ref | None
        if link:
            target = pays.get(link) or refs.get(link)
        elif x.kind == "payment":
            target = pays.get(x.ref_id) if x.ref_id else None
            if target is None and x.order_id:
                target = next(
                    (
                        p
                        for p in by_order.get(x.order_id, ())
                        if p.amount == x.amount and p.currency == x.currency
                    ),
                    None,
                )
        else:
            target = refs.get(x.ref_id) if x.ref_id else None
            if target is None:
                candidates = list(refunds_of.get(x.payment_ref, ())) if x.payment_ref else []
                if x.order_id:
                    for p in by_order.get(x.order_id, ()):
                        candidates += refunds_of.get(p.id, ())
                target = next(
                    (r for r in candidates if r.amount == x.amount and r.currency == x.currency),
                    None,
                )
        out.append(_outcome(x, target))
    return out


def _outcome(x: Matchable, target: _Pay | _Ref | None) -> Outcome:
    if target is None:
        return Outcome(NOT_IN_PAYDESK, difference=x.net)
    kind = "payment" if isinstance(target, _Pay) else "refund"
    if not target.ok:
        return Outcome(NOT_CAPTURED, kind, target.id, difference=x.net)
    if target.currency != x.currency:
        return Outcome(
            CURRENCY_MISMATCH, kind, target.id, target.amount, target.currency, difference=x.net
        )
    # What the line should have added: a payment less its fee, a refund (money out) and its fee.
    expected_net = target.amount - x.fee if kind == "payment" else -target.amount - x.fee
    state = MATCHED if target.amount == x.amount and x.kind == kind else AMOUNT_MISMATCH
    return Outcome(state, kind, target.id, target.amount, target.currency, x.net - expected_net)


def mark_duplicates(
    session: Session, *, after_id: int | None = None, matched_ids: Sequence[str] | None = None
) -> int:
    """Lines that settle a payment or refund an earlier line already settled become
    ``duplicate`` (all of their net unexplained). Only lines after ``after_id`` (a new import)
    or matched to ``matched_ids`` are looked at. Returns how many."""
    older = LINES.alias("older")
    cond = [
        LINES.c.batch_id.is_not(None),
        LINES.c.matched_id.is_not(None),
        LINES.c.kind.in_(("payment", "refund")),
        exists()
        .where(
            older.c.matched_id == LINES.c.matched_id,
            older.c.kind == LINES.c.kind,
            older.c.batch_id.is_not(None),
            older.c.id < LINES.c.id,
        )
        .correlate(LINES),
    ]
    if after_id is not None:
        cond.append(LINES.c.id > after_id)
    if matched_ids is not None:
        cond.append(LINES.c.matched_id.in_(list(matched_ids)))
    result = session.execute(
        update(LINES)
        .where(*cond)
        .values(state=DUPLICATE, expected=0, expected_currency=None, difference=LINES.c.net)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)


def coverage_start(session: Session) -> datetime | None:
    """When the settled transactions begin: nothing older is expected in a settlement."""
    return session.scalar(
        select(func.min(LINES.c.occurred_at)).where(LINES.c.batch_id.is_not(None))
    )


def refresh_missing(
    session: Session, now: datetime, cycle_days: int, ids: Sequence[str] | None = None
) -> None:
    """Keep one ``missing_from_settlement`` line for each successful captured payment and
    processed refund older than the settlement cycle (and not older than the first settled
    transaction) that no settlement line covers; drop those covered or no longer eligible.
    ``ids`` limits the work to those payments and refunds (after one changed)."""
    cutoff = now - timedelta(days=cycle_days)
    start = coverage_start(session)
    missing = LINES.c.batch_id.is_(None)
    covered = LINES.alias("covered")
    is_covered = (
        exists()
        .where(
            covered.c.matched_id == LINES.c.matched_id,
            covered.c.kind == LINES.c.kind,
            covered.c.batch_id.is_not(None),
        )
        .correlate(LINES)
    )
    pay_ok = (
        exists()
        .where(
            Payment.id == LINES.c.matched_id,
            Payment.status == "success",
            Payment.captured.is_(True),
            Payment.created_at < cutoff,
        )
        .correlate(LINES)
    )
    ref_ok = (
        exists()
        .where(
            Refund.id == LINES.c.matched_id,
            Refund.status == "processed",
            Refund.processed_at < cutoff,
        )
        .correlate(LINES)
    )
    eligible = or_(and_(LINES.c.kind == "payment", pay_ok), and_(LINES.c.kind == "refund", ref_ok))
    where = [missing, or_(is_covered, not_(eligible))]
    if start is not None:
        where[1] = or_(where[1], LINES.c.occurred_at < start)
    if ids is not None:
        where.append(LINES.c.matched_id.in_(list(ids)))
    session.execute(delete(LINES).where(*where).execution_options(synchronize_session=False))
    if start is None:
        return
    line = LINES.alias("line")

    def none_for(entity_id: Any, kind: str) -> Any:
        return not_(exists().where(line.c.matched_id == entity_id, line.c.kind == kind))

    pay_where = [
        Payment.status == "success",
        Payment.captured.is_(True),
        Payment.created_at < cutoff,
        Payment.created_at >= start,
        none_for(Payment.id, "payment"),
    ]
    ref_where = [
        Refund.status == "processed",
        Refund.processed_at < cutoff,
        Refund.processed_at >= start,
        none_for(Refund.id, "refund"),
    ]
    if ids is not None:
        pay_where.append(Payment.id.in_(list(ids)))
        ref_where.append(Refund.id.in_(list(ids)))
    cols = [
        "line_key", "batch_id", "line_id", "kind", "raw_type", "ref_id", "payment_ref", "order_id",
        "currency", "amount", "fee", "tax", "net", "occurred_at", "state", "matched_type",
        "matched_id", "expected", "expected_currency", "difference", "imported_at",
    ]  # fmt: skip
    pay_select = select(
        literal("missing|payment|") + Payment.id,
        literal(None),
        Payment.id,
        literal("payment"),
        literal("paydesk"),
        Payment.id,
        literal(None),
        Payment.order_id,
        Payment.currency,
        Payment.amount,
        literal(0),
        literal(0),
        literal(0),
        Payment.created_at,
        literal(MISSING),
        literal("payment"),
        Payment.id,
        Payment.amount,
        Payment.currency,
        -Payment.amount,
        literal(now, LINES.c.imported_at.type),
    ).where(*pay_where)
    ref_select = select(
        literal("missing|refund|") + Refund.id,
        literal(None),
        Refund.id,
        literal("refund"),
        literal("paydesk"),
        Refund.id,
        Refund.payment_id,
        literal(None),
        Refund.currency,
        Refund.amount,
        literal(0),
        literal(0),
        literal(0),
        Refund.processed_at,
        literal(MISSING),
        literal("refund"),
        Refund.id,
        Refund.amount,
        Refund.currency,
        Refund.amount,
        literal(now, LINES.c.imported_at.type),
    ).where(*ref_where)
    session.execute(insert(LINES).from_select(cols, pay_select))
    session.execute(insert(LINES).from_select(cols, ref_select))


def rematch(session: Session, entity_ids: Sequence[str], now: datetime, cycle_days: int) -> int:
    """Match again the lines that name or matched these payments or refunds (a late sync, a
    status change, a link): their states, duplicates and missing lines. Returns the lines
    looked at."""
    ids = sorted(set(entity_ids))
    if not ids:
        return 0
    rows = list(
        session.execute(
            select(LINES).where(
                LINES.c.batch_id.is_not(None),
                LINES.c.id.in_(
                    select(LINES.c.id)
                    .where(LINES.c.ref_id.in_(ids))
                    .union(select(LINES.c.id).where(LINES.c.matched_id.in_(ids)))
                ),
            )
        ).all()
    )
    touched = set(ids)
    if rows:
        outcomes = match_chunk(session, rows, [r.linked_id for r in rows])
        update_outcomes(session, [r.id for r in rows], outcomes)
        touched |= {o.matched_id for o in outcomes if o.matched_id}
        mark_duplicates(session, matched_ids=sorted(touched))
    refresh_missing(session, now, cycle_days, sorted(touched))
    return len(rows)


def update_outcomes(session: Session, line_ids: Sequence[int], outcomes: Sequence[Outcome]) -> None:
    stmt = (
        update(LINES)
        .where(LINES.c.id == bindparam("line"))
        .values(
            state=bindparam("b_state"),
            matched_type=bindparam("b_matched_type"),
            matched_id=bindparam("b_matched_id"),
            expected=bindparam("b_expected"),
            expected_currency=bindparam("b_expected_currency"),
            difference=bindparam("b_difference"),
        )
    )
    params = [
        {"line": i, **{f"b_{k}": v for k, v in o.values().items()}}
        for i, o in zip(line_ids, outcomes, strict=True)
    ]
    if params:
        session.connection().execute(stmt, params)


def rematch_all(session: Session, now: datetime, cycle_days: int, chunk: int = 5_000) -> int:
    """Match every settlement line again (``paydesk recon match``). Returns the lines."""
    after = 0
    total = 0
    while True:
        rows = list(
            session.execute(
                select(LINES)
                .where(LINES.c.batch_id.is_not(None), LINES.c.id > after)
                .order_by(LINES.c.id)
                .limit(chunk)
            ).all()
        )
        if not rows:
            break
        outcomes = match_chunk(session, rows, [r.linked_id for r in rows])
        update_outcomes(session, [r.id for r in rows], outcomes)
        total += len(rows)
        after = rows[-1].id
    mark_duplicates(session)
    refresh_missing(session, now, cycle_days)
    return total
