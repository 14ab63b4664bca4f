"""The approval threshold applies to a payment's total: its refunds still counted (pending
approval, approved, processing, processed) plus the new request, so a refund split into small
requests is not approved piece by piece. On both databases, and in Postgres' own trigger for a
login writing SQL directly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from core.access import policy
from core.context import Context
from core.refunds import processing as proc
from core.refunds import queries as rq
from core.refunds import service as rf
from core.store.db import open_database
from core.store.migrate import upgrade
from core.store.models import Refund
from tests.test_pg_roles import Logins, refused, who
from tests.test_refunds import T0, add_payment, add_staff, request


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)
    policy.set_value(ctx, "root", "refund_approval_threshold", "USD:10.00")
    return ctx


def test_five_requests_below_the_threshold_each_are_approved_only_while_the_total_is(staffed):
    pid = add_payment(staffed, amount=100_000, currency="USD")
    made = [request(staffed, pid, amount=999) for _ in range(5)]
    assert [r.status for r in made] == ["approved"] + ["pending_approval"] * 4
    assert made[0].decided_by == rf.POLICY_ACTOR
    assert all(r.decided_by is None for r in made[1:])
    with staffed.db.read() as s:
        second = rq.audit_trail(s, made[1].id)[0].details["approval"]
    assert second == (
        "needs approval: $19.98 in total with the earlier refunds of this payment, "
        "at or above the $10.00 threshold"
    )


def test_refunds_no_longer_counted_leave_the_total_and_processed_ones_stay(staffed):
    pid = add_payment(staffed, amount=100_000, currency="USD")
    first = request(staffed, pid, amount=500)
    assert first.status == "approved"
    second = request(staffed, pid, amount=500)  # $10.00 in total: at the threshold
    assert second.status == "pending_approval"
    rf.cancel(staffed, "alice", second.id)
    third = request(staffed, pid, amount=499)  # $9.99 with the first
    assert third.status == "approved"
    fourth = request(staffed, pid, amount=2)  # $10.01 with the first and the third
    assert fourth.status == "pending_approval"
    rf.reject(staffed, "bob", fourth.id, "split refund")
    assert proc.process_due(staffed, "worker-1") == 2  # first and third: processed, still counted
    assert request(staffed, pid, amount=1).status == "pending_approval"  # $10.00


def test_another_payment_has_its_own_total(staffed):
    a = add_payment(staffed, amount=100_000, currency="USD")
    b = add_payment(staffed, amount=100_000, currency="USD")
    assert request(staffed, a, amount=999).status == "approved"
    assert request(staffed, b, amount=999).status == "approved"


def test_the_preview_counts_the_earlier_refunds(staffed):
    pid = add_payment(staffed, amount=100_000, currency="USD")
    with staffed.db.read() as s:
        p = rf.preview_request(s, pid, amount=999, now=T0)
    assert (p.needs_approval, p.approval_note) == (
        False,
        "approved at once: below the USD approval threshold of $10.00",
    )
    request(staffed, pid, amount=999)
    with staffed.db.read() as s:
        p = rf.preview_request(s, pid, amount=1, now=T0)
    assert (p.needs_approval, p.approval_note) == (
        True,
        "needs approval: $10.00 in total with the earlier refunds of this payment, "
        "at or above the $10.00 threshold",
    )


# -- Postgres: the trigger holds the same rule for a login writing SQL ------------------------


@pytest.fixture
def owner(pg_schema_url, clock) -> Iterator[Context]:
    db = open_database(pg_schema_url, use_keyring=False)
    upgrade(db)
    yield Context(db=db, clock=clock, client_id="owner-copy")
    db.dispose()


@pytest.fixture
def logins(pg_schema_url, owner, clock) -> Iterator[Logins]:
    made = Logins(pg_schema_url, clock)
    yield made
    made.close()


INSERT_APPROVED = (
    "INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, kind, reason, "
    "status, requested_by, decided_by, decided_at, version, created_at, updated_at) "
    "SELECT %s, id, merchant_id, %s, currency, 'partial', 'other', 'approved', session_user, "
    "'paydesk-policy', now(), 1, now(), now() FROM payments WHERE id = %s"
)


def test_a_support_login_cannot_approve_split_refunds_by_policy_with_sql(owner, logins):
    support = logins.copy("support")
    policy.set_value(owner, who(owner), "refund_approval_threshold", "USD:10.00")
    pid = add_payment(owner, amount=100_000, currency="USD")
    with logins.sql(support) as conn:
        conn.execute(INSERT_APPROVED, ("rfnd_split_1", 999, pid))  # alone: below
        message = refused(conn, INSERT_APPROVED, ("rfnd_split_2", 999, pid))
        assert "is not below the USD approval threshold" in message
        refused(conn, INSERT_APPROVED, ("rfnd_split_3", 1, pid))  # $10.00: at it
    # Through the service under the same login: the next request waits for approval.
    second = rf.request_refund(support, who(support), pid, amount=999, reason="duplicate")
    assert second.status == "pending_approval"
    with owner.db.read() as s:
        statuses = dict(s.execute(select(Refund.id, Refund.status)).all())
    assert statuses == {"rfnd_split_1": "approved", second.id: "pending_approval"}


def test_the_trigger_counts_only_live_refunds(owner, logins):
    support = logins.copy("support")
    policy.set_value(owner, who(owner), "refund_approval_threshold", "USD:10.00")
    pid = add_payment(owner, amount=100_000, currency="USD")
    big = rf.request_refund(support, who(support), pid, amount=900, reason="duplicate")
    pending = rf.request_refund(support, who(support), pid, amount=100, reason="duplicate")
    assert (big.status, pending.status) == ("approved", "pending_approval")
    with logins.sql(support) as conn:
        # $9.00 approved + $1.00 pending: nothing more is approved by policy.
        refused(conn, INSERT_APPROVED, ("rfnd_more", 1, pid))
    rf.cancel(support, who(support), pending.id)
    with logins.sql(support) as conn:
        conn.execute(INSERT_APPROVED, ("rfnd_fits", 99, pid))  # $9.99 live in total
        refused(conn, INSERT_APPROVED, ("rfnd_over", 1, pid))


def test_a_stored_threshold_the_trigger_cannot_read_approves_nothing_by_policy(owner, logins):
    support = logins.copy("support")
    pid = add_payment(owner, amount=100_000, currency="USD")
    with owner.db.write() as s:
        s.execute(
            text(
                "INSERT INTO policy (key, value, updated_at, updated_by) VALUES (:k, :v, :t, 'x')"
            ),
            {"k": "refund_approval_threshold", "v": '{"USD": "lots"}', "t": T0},
        )
    with logins.sql(support) as conn:
        message = refused(conn, INSERT_APPROVED, ("rfnd_bad", 1, pid))
    assert "is not below the USD approval threshold" in message
    # The service reads the bad value as the default (no threshold): approval needed.
    assert rf.request_refund(support, who(support), pid, amount=1, reason="duplicate").status == (
        "pending_approval"
    )
