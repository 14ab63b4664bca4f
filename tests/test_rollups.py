"""The rollup tables never drift from the raw rows, whoever writes and however."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from core.cli import main
from core.demo import generator as demo
from core.overview import rollups
from core.store.models import Merchant, Payment, PaymentRollup, Refund, RefundRollup

BASE = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CURRENCIES = ("INR", "USD", "JPY", "KWD")
STATUSES = ("pending", "success", "failed")
REFUND_STATUSES = ("pending_approval", "approved", "processing", "processed", "failed")
NEXT_STATES = {
    "pending_approval": ("approved", "rejected", "cancelled"),
    "approved": ("processing",),
    "processing": ("processed", "failed"),
    "processed": (),
    "failed": ("approved",),
    "rejected": (),
    "cancelled": (),
}


def assert_exact(db) -> None:
    with db.read() as session:
        assert rollups.drift(session) == {"payment_rollup": 0, "refund_rollup": 0}


def some_time(rng: random.Random) -> datetime:
    """Times within three days of BASE, often exactly on a 15-minute bucket edge."""
    if rng.random() < 0.3:
        return BASE + timedelta(minutes=15 * rng.randrange(-288, 288))
    return BASE + timedelta(microseconds=rng.randrange(-3 * 86_400 * 10**6, 3 * 86_400 * 10**6))


def payment_row(rng: random.Random, n: int) -> dict:
    at = some_time(rng)
    return {
        "id": f"pay_{n:08d}",
        "merchant_id": "mer_a",
        "order_id": f"o{n}",
        "amount": rng.randrange(10_000, 100_000),
        "currency": rng.choice(CURRENCIES),
        "method": "card",
        "status": rng.choice(STATUSES),
        "captured": False,
        "refunded_amount": 0,
        "created_at": at,
        "updated_at": at,
    }


def refund_row(rng: random.Random, n: int, payment_id: str, currency: str = "INR") -> dict:
    status = rng.choice(REFUND_STATUSES)
    at = some_time(rng)
    return {
        "id": f"rfnd_{n:08d}",
        "payment_id": payment_id,
        "merchant_id": "mer_a",
        "amount": rng.randrange(1, 50),
        # In its payment's currency, and small: the database holds both (migration 0005).
        "currency": currency,
        "kind": "partial",
        "reason": "other",
        "status": status,
        "requested_by": "asha",
        "processed_at": some_time(rng) if status == "processed" else None,
        "version": 1,
        "created_at": at,
        "updated_at": at,
    }


@pytest.fixture
def merchant(db):
    with db.write() as s:
        s.add(Merchant(id="mer_a", name="A", email="a@x.test", created_at=BASE))
    return "mer_a"


def test_rollups_match_a_full_recount_after_random_inserts_updates_and_deletes(db, merchant):
    rng = random.Random(6)
    counter = iter(range(1, 10**6))
    pay_ids: list[str] = []
    refund_ids: list[str] = []
    for _round in range(6):
        with db.write() as s:
            # One row at a time (ORM), many rows per statement, and executemany.
            for _ in range(5):
                row = payment_row(rng, next(counter))
                s.add(Payment(**row))
                pay_ids.append(row["id"])
            s.flush()
            rows = [payment_row(rng, next(counter)) for _ in range(40)]
            s.execute(insert(Payment).values(rows))
            pay_ids += [r["id"] for r in rows]
            rows = [payment_row(rng, next(counter)) for _ in range(40)]
            s.execute(insert(Payment), rows)
            pay_ids += [r["id"] for r in rows]
            s.flush()
            currency_of = dict(s.execute(select(Payment.id, Payment.currency)).all())
            rows = []
            for _ in range(30):
                pid = rng.choice(pay_ids)
                rows.append(refund_row(rng, next(counter), pid, currency_of[pid]))
            s.execute(insert(Refund), rows)
            refund_ids += [r["id"] for r in rows]
        with db.write() as s:
            # Status changes, one by one and in bulk; moves across buckets and currencies.
            for pid in rng.sample(pay_ids, 15):
                p = s.get(Payment, pid)
                p.status = rng.choice(STATUSES)
                if rng.random() < 0.5:
                    p.amount += rng.randrange(1, 100)
                if rng.random() < 0.3:
                    p.created_at = some_time(rng)
                if rng.random() < 0.2:
                    p.currency = rng.choice(CURRENCIES)
            s.execute(
                update(Payment)
                .where(Payment.id.in_(rng.sample(pay_ids, 20)))
                .values(status="success")
            )
            # A change the rollups do not count.
            s.execute(
                update(Payment)
                .where(Payment.id.in_(rng.sample(pay_ids, 20)))
                .values(updated_at=BASE)
            )
            for rid in rng.sample(refund_ids, 10):
                r = s.get(Refund, rid)
                # Along the state machine only (migration 0005).
                r.status = rng.choice([r.status, *NEXT_STATES[r.status]])
                r.processed_at = some_time(rng) if r.status == "processed" else r.processed_at
                if rng.random() < 0.3:
                    r.amount += 1
            s.execute(
                update(Refund)
                .where(Refund.id.in_(rng.sample(refund_ids, 8)), Refund.status == "processing")
                .values(status="processed", processed_at=BASE)
            )
        with db.write() as s:
            gone = rng.sample(refund_ids, 5)
            s.execute(delete(Refund).where(Refund.id.in_(gone)))
            refund_ids = [r for r in refund_ids if r not in gone]
            referenced = set(s.scalars(select(Refund.payment_id)))
            free = [p for p in pay_ids if p not in referenced]
            gone = rng.sample(free, 10)
            s.execute(delete(Payment).where(Payment.id.in_(gone[:5])))
            for pid in gone[5:]:
                s.delete(s.get(Payment, pid))
            pay_ids = [p for p in pay_ids if p not in gone]
        assert_exact(db)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(PaymentRollup)) > 0
        assert s.scalar(select(func.count()).select_from(RefundRollup)) > 0


def test_a_rolled_back_transaction_leaves_the_rollups_as_they_were(db, merchant):
    rng = random.Random(1)
    with db.write() as s:
        s.execute(insert(Payment), [payment_row(rng, n) for n in range(20)])
    with db.read() as s:
        before = rollups.rolled_up(s)
    with pytest.raises(RuntimeError), db.write() as s:
        s.execute(insert(Payment), [payment_row(rng, n) for n in range(100, 120)])
        s.execute(update(Payment).values(status="failed"))
        raise RuntimeError("changed my mind")
    with db.read() as s:
        assert rollups.rolled_up(s) == before
    assert_exact(db)


def test_compact_folds_each_key_into_one_row_and_keeps_the_sums(db, merchant):
    rng = random.Random(2)
    rows = [payment_row(rng, n) for n in range(60)]
    for row in rows:  # one statement each: on Postgres, one delta row each
        with db.write() as s:
            s.execute(insert(Payment).values(row))
    with db.write() as s:
        s.execute(update(Payment).values(status="success"))
    with db.read() as s:
        before = rollups.rolled_up(s)
    rollups.compact(db)
    with db.read() as s:
        assert rollups.rolled_up(s) == before
        per_key = s.execute(
            text(
                "SELECT max(n) FROM (SELECT count(*) AS n FROM payment_rollup "
                "GROUP BY bucket, currency, status) k"
            )
        ).scalar_one()
        zero = s.scalar(
            select(func.count()).select_from(PaymentRollup).where(PaymentRollup.count == 0)
        )
    assert per_key == 1 and zero == 0
    assert_exact(db)


def test_rebuild_repairs_rollups_edited_by_hand(db, merchant):
    rng = random.Random(3)
    with db.write() as s:
        s.execute(insert(Payment), [payment_row(rng, n) for n in range(50)])
        s.execute(delete(PaymentRollup).where(PaymentRollup.currency == "INR"))
        s.add(RefundRollup(bucket=900, currency="USD", measure="processed", count=3, amount=7))
    with db.read() as s:
        drift = rollups.drift(s)
    assert drift["payment_rollup"] > 0 and drift["refund_rollup"] == 1
    result = rollups.rebuild(db)
    assert result.rows["payment_rollup"] > 0 and result.rows["refund_rollup"] == 0
    assert result.sentence().startswith("Rebuilt the dashboard rollups from the raw rows:")
    assert_exact(db)


def test_rollups_check_and_rebuild_commands_report_and_repair_drift(db_url, db, merchant, capsys):
    rng = random.Random(4)
    with db.write() as s:
        s.execute(insert(Payment), [payment_row(rng, n) for n in range(30)])
    assert main(["--database", db_url, "rollups", "check"]) == 0
    assert capsys.readouterr().out == "The rollups match a full recount.\n"
    with db.write() as s:
        s.execute(update(PaymentRollup).values(count=PaymentRollup.count + 1))
    assert main(["--database", db_url, "rollups", "check"]) == 1
    assert "run `paydesk rollups rebuild`" in capsys.readouterr().out
    assert main(["--database", db_url, "rollups", "rebuild"]) == 0
    assert "rows in payment_rollup" in capsys.readouterr().out
    assert main(["--database", db_url, "rollups", "check", "--json"]) == 0
    assert '"exact": true' in capsys.readouterr().out
    assert main(["--database", db_url, "rollups", "compact"]) == 0
    assert capsys.readouterr().out.startswith("Folded the dashboard rollups:")


def test_the_demo_bulk_load_keeps_the_rollups_exact(db):
    demo.seed(db, payments=1_500, seed=9, now=BASE)
    assert_exact(db)
    with db.read() as s:
        total = s.scalar(select(func.sum(PaymentRollup.count)))
    assert total == 1_500


def test_a_payment_lands_in_the_quarter_hour_it_was_created_in(db, merchant):
    edge = datetime(2026, 1, 15, 18, 30, tzinfo=UTC)
    with db.write() as s:
        s.execute(
            insert(Payment),
            [
                payment_row(random.Random(0), 1) | {"created_at": edge, "currency": "JPY"},
                payment_row(random.Random(0), 2)
                | {"created_at": edge - timedelta(microseconds=1), "currency": "JPY"},
            ],
        )
    with db.read() as s:
        buckets = sorted(s.scalars(select(PaymentRollup.bucket)))
    assert buckets == [int(edge.timestamp()) - 900, int(edge.timestamp())]


def _bulk_insert_payments(db, conn, rows) -> None:
    """Insert on the driver connection, as a bulk loader does."""
    cols = list(rows[0])
    mark = "%s" if db.is_postgres else "?"

    def plain(v):
        # SQLite stores times as SQLAlchemy writes them: naive UTC text.
        if isinstance(v, datetime) and not db.is_postgres:
            return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return v

    sql = f"INSERT INTO payments ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
    conn.cursor().executemany(sql, [tuple(plain(r[c]) for c in cols) for r in rows])


def test_a_bulk_load_with_the_triggers_suspended_ends_with_exact_rollups(db, merchant):
    rng = random.Random(5)
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        if not db.is_postgres:
            conn.execute("BEGIN IMMEDIATE")
        with rollups.triggers_suspended(conn, db.dialect):
            _bulk_insert_payments(db, conn, [payment_row(rng, n) for n in range(300)])
            counted = conn.execute("SELECT count(*) FROM payment_rollup").fetchone()[0]
        conn.commit() if db.is_postgres else conn.execute("COMMIT")
    finally:
        raw.close()
    assert counted == 0  # the triggers were off during the load
    assert_exact(db)
    with db.write() as s:  # and are on again
        s.execute(insert(Payment), [payment_row(rng, 1_000)])
    assert_exact(db)


def test_a_failed_bulk_load_rolls_back_with_the_triggers_in_place(db, merchant):
    rng = random.Random(7)
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        if not db.is_postgres:
            conn.execute("BEGIN IMMEDIATE")
        with pytest.raises(RuntimeError), rollups.triggers_suspended(conn, db.dialect):
            _bulk_insert_payments(db, conn, [payment_row(rng, n) for n in range(10)])
            raise RuntimeError("the generator died")
        conn.rollback() if db.is_postgres else conn.execute("ROLLBACK")
    finally:
        raw.close()
    with db.write() as s:
        s.execute(insert(Payment), [payment_row(rng, n) for n in range(100, 110)])
    with db.read() as s:
        assert s.scalar(select(func.sum(PaymentRollup.count))) == 10
    assert_exact(db)
