"""A database that staff used before the hardening (schema 0004) upgrades to this Paydesk's
head with its rows: refunds, totals and a pending delivery survive, and rows that the new
rules refuse stop the upgrade with one sentence and change nothing. Both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from core.context import Context
from core.errors import Refused
from core.refunds import queries as rq
from core.store.db import Database, open_database
from core.store.migrate import alembic_config, current_revision, head_revision, upgrade
from core.store.models import Payment, UTCDateTime, WebhookLog
from core.webhooks import signing
from core.webhooks.dispatcher import Dispatcher
from tests.webhook_receiver import Receiver, add_staff

AT = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)  # before the FrozenClock's now
SECRET = signing.new_secret()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.secrets = [SECRET]
    yield r
    r.close()


@pytest.fixture
def old_db(db_url) -> Iterator[Database]:
    """A database at schema 0004, as an earlier Paydesk left it."""
    from alembic import command

    db = open_database(db_url)
    with db.engine.connect() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        conn.commit()
    yield db
    db.dispose()


def insert(conn: sa.Connection, table: str, **values: Any) -> None:
    """One row written as the earlier Paydesk would have (timestamps in its column format)."""
    columns = [
        sa.column(k, UTCDateTime() if isinstance(v, datetime) else None) for k, v in values.items()
    ]
    conn.execute(sa.insert(sa.table(table, *columns)).values(**values))


def merchant(conn: sa.Connection, url: str) -> None:
    insert(
        conn,
        "merchants",
        id="mer_old",
        name="Old Shop",
        email="old@example.com",
        webhook_url=url,
        webhook_secret=SECRET,
        webhook_enabled=True,
        webhook_consecutive_failures=0,
        created_at=AT,
    )


def payment(conn: sa.Connection, pid: str, amount: int, refunded: int) -> None:
    insert(
        conn,
        "payments",
        id=pid,
        merchant_id="mer_old",
        order_id=f"order_{pid}",
        amount=amount,
        currency="USD",
        method="card",
        status="captured",
        captured=True,
        refunded_amount=refunded,
        created_at=AT,
        updated_at=AT,
    )


def refund(conn: sa.Connection, rid: str, pid: str, amount: int, status: str, **kw: Any) -> None:
    insert(
        conn,
        "refunds",
        id=rid,
        payment_id=pid,
        merchant_id="mer_old",
        amount=amount,
        currency=kw.pop("currency", "USD"),
        kind="partial",
        reason="customer_request",
        status=status,
        requested_by="fran",
        version=1,
        created_at=AT,
        updated_at=AT,
        **kw,
    )


def pending_log(conn: sa.Connection, log_id: str) -> str:
    payload = json.dumps(
        {
            "id": log_id,
            "event": "payment.captured",
            "created_at": AT.isoformat(),
            "data": {"payment_id": "pay_old1", "amount": 5000, "currency": "USD"},
        },
        separators=(",", ":"),
    )
    insert(
        conn,
        "webhook_logs",
        id=log_id,
        merchant_id="mer_old",
        event="payment.captured",
        payload=payload,
        entity_id="pay_old1",
        status="pending",
        attempts=0,
        round_start=0,
        next_retry_at=AT,
        created_at=AT,
        updated_at=AT,
    )
    return payload


def test_rows_written_at_0004_survive_the_upgrade_and_a_pending_delivery_goes_out(
    old_db, receiver, clock
):
    with old_db.engine.begin() as conn:
        merchant(conn, receiver.url("/ok"))
        # refunded_amount was the app's to keep before 0005: this one is stale.
        payment(conn, "pay_old1", 5000, refunded=0)
        refund(conn, "rfnd_old1", "pay_old1", 1200, "processed", decided_by="alice")
        refund(conn, "rfnd_old2", "pay_old1", 800, "pending_approval")
        refund(conn, "rfnd_old3", "pay_old1", 4000, "rejected", decided_by="alice")
        payload = pending_log(conn, "msg_old1")

    assert upgrade(old_db) is True
    with old_db.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    with old_db.read() as s:
        # Derived from now on: the live refunds (processed and pending), not the rejected one.
        assert s.get(Payment, "pay_old1").refunded_amount == 1200 + 800
        assert rq.get(s, "rfnd_old1").status == "processed"
        assert rq.get(s, "rfnd_old2").status == "pending_approval"

    ctx = Context(db=old_db, clock=clock, client_id="test-client")
    add_staff(ctx)
    dispatcher = Dispatcher(ctx)
    try:
        stats = dispatcher.run_until_idle(max_seconds=30)
    finally:
        dispatcher.close()
    assert stats.delivered == 1 and receiver.wait_for(1)
    [got] = receiver.received
    # Signed with the merchant's secret (by the database in shared mode): the receiver verifies.
    assert got.webhook_id == "msg_old1" and got.body == payload.encode()
    assert got.verified_with == [SECRET]
    with old_db.read() as s:
        assert s.get(WebhookLog, "msg_old1").status == "success"


@pytest.mark.parametrize(
    ("rows", "named"),
    [
        (
            [("rfnd_bad1", 3000, "processed", {}), ("rfnd_bad2", 3000, "approved", {})],
            "payments whose live refunds add up to more than their amount (pay_old1)",
        ),
        ([("rfnd_bad1", -500, "processed", {})], "refunds with an amount that is not positive"),
        (
            [("rfnd_bad1", 500, "processed", {"currency": "EUR"})],
            "refunds in another currency than their payment (rfnd_bad1)",
        ),
    ],
    ids=["above-the-amount", "negative", "other-currency"],
)
def test_rows_the_new_rules_refuse_stop_the_upgrade_with_one_sentence(old_db, rows, named):
    with old_db.engine.begin() as conn:
        merchant(conn, "http://127.0.0.1:9/")
        payment(conn, "pay_old1", 5000, refunded=0)
        for rid, amount, status, kw in rows:
            refund(conn, rid, "pay_old1", amount, status, **kw)

    def snapshot() -> list[tuple]:
        with old_db.engine.connect() as conn:
            return [
                tuple(r)
                for table in ("payments", "refunds")
                for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
            ]

    before = snapshot()
    with pytest.raises(Refused) as err:
        upgrade(old_db)
    message = str(err.value)
    assert named in message and message.startswith("The database cannot be upgraded")
    assert message.count(". ") == 0 and "\n" not in message
    with old_db.engine.connect() as conn:
        assert current_revision(conn) == "0004"
    assert snapshot() == before
