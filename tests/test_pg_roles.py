"""Roles the database enforces in shared mode (migration 0004, core.store.pgroles, core.access.roles).

Each test connects as real LOGIN roles, made members of ``paydesk_support``,
``paydesk_finance`` or ``paydesk_admin`` and dropped afterwards (the test server trusts
every login on 127.0.0.1, so no passwords). Forbidden statements are sent directly in SQL,
as someone with a SQL client would, and must be refused by the database itself.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import undefer

from core.access import policy, roles
from core.cli import main
from core.context import Context
from core.errors import InputError, NotFound, Refused
from core.jobs import presence
from core.jobs.runs import record_task_run
from core.overview import rollups
from core.refunds import idempotency
from core.refunds import processing as proc
from core.refunds import service as rf
from core.store import pgroles
from core.store.db import open_database
from core.store.migrate import upgrade
from core.store.models import AuditEvent, Merchant, Refund, WebhookAttempt, WebhookLog
from core.webhooks import deliveries as webhooks
from core.webhooks.dispatcher import Dispatcher
from tests.conftest import POSTGRES_URL
from tests.test_refunds import T0, add_payment
from tests.webhook_receiver import Receiver

Denied = psycopg.errors.InsufficientPrivilege


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def owner(pg_schema_url, clock) -> Iterator[Context]:
    """The migrated test schema, connected as the superuser that owns it (an admin)."""
    db = open_database(pg_schema_url, use_keyring=False)
    upgrade(db)
    yield Context(db=db, clock=clock, client_id="owner-copy")
    db.dispose()


class Logins:
    """Makes real LOGIN roles in Paydesk groups and opens copies of Paydesk as them."""

    def __init__(self, url: str, clock: Any) -> None:
        self.url = make_url(url)
        self.clock = clock
        self.tag = uuid.uuid4().hex[:8]
        self.names: list[str] = []
        self.contexts: list[Context] = []

    def create(self, *groups: str, name: str | None = None) -> str:
        name = name or f"pd_{self.tag}_{len(self.names)}_{'_'.join(groups) or 'none'}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            self.names.append(name)
            for group in groups:
                conn.execute(
                    sql.SQL("GRANT {} TO {}").format(
                        sql.Identifier(pgroles.GROUPS[group]), sql.Identifier(name)
                    )
                )
        return name

    def url_of(self, name: str) -> str:
        return self.url.set(username=name).render_as_string(hide_password=False)

    def copy(self, *groups: str, name: str | None = None) -> Context:
        """A running copy of Paydesk whose database login is a new member of ``groups``."""
        name = name or self.create(*groups)
        db = open_database(self.url_of(name), use_keyring=False)
        ctx = Context(db=db, clock=self.clock, client_id=f"{name}-copy"[-64:])
        self.contexts.append(ctx)
        return ctx

    def sql(self, ctx: Context) -> psycopg.Connection:
        """A plain SQL client connection as the copy's login (autocommit)."""
        u = make_url(self.url_of(ctx.default_actor()))
        return psycopg.connect(
            host=u.host,
            port=u.port or 5432,
            dbname=u.database,
            user=u.username,
            options=u.query["options"],
            autocommit=True,
        )

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.db.dispose()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for name in reversed(self.names):
                ident = sql.Identifier(name)
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres").format(ident))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


@pytest.fixture
def logins(pg_schema_url, owner, clock) -> Iterator[Logins]:
    made = Logins(pg_schema_url, clock)
    yield made
    made.close()


def refused(conn: psycopg.Connection, statement: str, params: tuple[Any, ...] = ()) -> str:
    """Run ``statement``; it must be refused by the database. Returns the server's message."""
    with pytest.raises(Denied) as info:
        conn.execute(statement, params)
    return str(info.value)


def who(ctx: Context) -> str:
    return ctx.default_actor()


def refund_row(ctx: Context, refund_id: str) -> Refund:
    with ctx.db.read() as s:
        row = s.get(Refund, refund_id)
        s.expunge_all()
        return row


def merchant_row(ctx: Context, merchant_id: str) -> Merchant:
    with ctx.db.read() as s:
        # The owner may read the secrets, which loading a merchant leaves out.
        row = s.get(Merchant, merchant_id, options=[undefer("*")])
        s.expunge_all()
        return row


def add_endpoint(owner: Context, merchant_id: str, url: str, enabled: bool = True) -> None:
    with owner.db.write() as s:
        s.add(
            Merchant(
                id=merchant_id,
                name=f"Shop {merchant_id}",
                email=f"{merchant_id}@example.com",
                webhook_url=url,
                webhook_secret="whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=",
                webhook_enabled=enabled,
                webhook_consecutive_failures=0,
                created_at=T0,
            )
        )


def audit_of(ctx: Context, action: str) -> list[AuditEvent]:
    with ctx.db.read() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        s.expunge_all()
        return rows


# -- the groups and grants ---------------------------------------------------------------------


def _privileges(ctx: Context) -> set[tuple[str, ...]]:
    with ctx.db.read() as s:
        tables = s.execute(
            text(
                "SELECT grantee::text, table_name::text, privilege_type::text "
                "FROM information_schema.role_table_grants "
                "WHERE table_schema = current_schema() AND grantee LIKE 'paydesk_%'"
            )
        ).all()
        columns = s.execute(
            text(
                "SELECT grantee::text, table_name::text, column_name::text, privilege_type::text "
                "FROM information_schema.column_privileges "
                "WHERE table_schema = current_schema() AND grantee LIKE 'paydesk_%'"
            )
        ).all()
    return {tuple(r) for r in tables} | {tuple(r) for r in columns}


def test_the_three_groups_cannot_log_in_and_granting_again_changes_nothing(owner):
    with owner.db.read() as s:
        groups = dict(
            s.execute(
                text(
                    "SELECT rolname::text, rolcanlogin FROM pg_roles "
                    "WHERE rolname IN ('paydesk_support', 'paydesk_finance', 'paydesk_admin')"
                )
            ).all()
        )
    assert groups == {"paydesk_support": False, "paydesk_finance": False, "paydesk_admin": False}
    before = _privileges(owner)
    assert ("paydesk_support", "audit_events", "INSERT") in before
    assert ("paydesk_support", "audit_events", "UPDATE") not in before
    assert ("paydesk_admin", "policy", "UPDATE") in before
    assert ("paydesk_finance", "policy", "UPDATE") not in before
    # A later migration calls it again (the groups already exist): the same privileges.
    with owner.db.engine.begin() as conn:
        pgroles.apply_grants(conn)
        pgroles.apply_grants(conn)
    assert _privileges(owner) == before


def test_a_table_a_later_migration_creates_is_usable_once_its_migration_grants(
    owner, logins, monkeypatch
):
    support = logins.copy("support")
    with owner.db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE later_things (id bigserial PRIMARY KEY, note text)"))
    with logins.sql(support) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        # No default privileges: a table nobody granted on is nobody's but its owner's.
        conn.execute("INSERT INTO later_things (note) VALUES ('x')")
    # A later migration adds its table to Paydesk's own and calls apply_grants.
    monkeypatch.setattr(pgroles, "PAYDESK_TABLES", pgroles.PAYDESK_TABLES | {"later_things"})
    with owner.db.engine.begin() as conn:
        pgroles.apply_grants(conn)
    with logins.sql(support) as conn:
        conn.execute("INSERT INTO later_things (note) VALUES ('x')")
        conn.execute("UPDATE later_things SET note = 'y'")
        conn.execute("DELETE FROM later_things")


def test_grants_are_a_no_op_on_sqlite(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    try:
        upgrade(db)
        with db.engine.begin() as conn:
            pgroles.apply_grants(conn)
            pgroles.revoke_grants(conn)
    finally:
        db.dispose()


# -- forbidden statements, refused by the database ---------------------------------------------


def test_support_login_cannot_approve_reject_or_retry_a_refund_in_sql(owner, logins):
    requester, support = logins.copy("support"), logins.copy("support")
    finance = logins.copy("finance")
    pid = add_payment(owner)
    r = rf.request_refund(requester, who(requester), pid, amount=1_000, reason="duplicate")
    assert r.status == "pending_approval" and r.requested_by == who(requester)
    with logins.sql(support) as conn:
        for status in ("approved", "rejected"):
            message = refused(
                conn,
                "UPDATE refunds SET status = %s, decided_by = session_user, decided_at = now() "
                "WHERE id = %s",
                (status, r.id),
            )
            assert "Only finance or admin logins can approve or reject refunds" in message
        # Nor in the name of a finance login.
        refused(
            conn,
            "UPDATE refunds SET status = 'approved', decided_by = %s WHERE id = %s",
            (who(finance), r.id),
        )
        refused(
            conn,
            "UPDATE refunds SET status = 'approved', decided_by = 'paydesk-auto' WHERE id = %s",
            (r.id,),
        )
    assert refund_row(owner, r.id).status == "pending_approval"
    # A failed refund goes back to approved only through finance or admin.
    with owner.db.write() as s:
        for status in ("approved", "processing", "failed"):  # along the state machine
            s.execute(update(Refund).where(Refund.id == r.id).values(status=status))
    with logins.sql(support) as conn:
        message = refused(conn, "UPDATE refunds SET status = 'approved' WHERE id = %s", (r.id,))
        assert "retry a failed refund" in message


def test_support_login_cannot_change_policy_in_sql(owner, logins):
    support = logins.copy("support")
    policy.set_value(owner, who(owner), "refund_approval_threshold", "INR:50.00")
    with logins.sql(support) as conn:
        for statement in (
            "UPDATE policy SET value = '{}' WHERE key = 'refund_approval_threshold'",
            "INSERT INTO policy (key, value, updated_at) "
            "VALUES ('pro_rata_auto_approve_days', '1', now())",
            "DELETE FROM policy",
        ):
            assert "permission denied for table policy" in refused(conn, statement)
    with owner.db.read() as s:
        assert policy.get(s, "refund_approval_threshold") == {"INR": 5_000}


@pytest.mark.parametrize("role", ["support", "finance"])
def test_support_and_finance_logins_cannot_change_an_endpoint_in_sql(owner, logins, role):
    login = logins.copy(role)
    add_endpoint(owner, "mer_on", "https://shop.example/hooks")
    add_endpoint(owner, "mer_off", "https://off.example/hooks", enabled=False)
    with logins.sql(login) as conn:
        for statement in (
            "UPDATE merchants SET webhook_url = 'https://evil.example/' WHERE id = 'mer_on'",
            "UPDATE merchants SET webhook_secret = 'whsec_bWluZQ==' WHERE id = 'mer_on'",
            "INSERT INTO merchants (id, name, email, webhook_enabled, "
            "webhook_consecutive_failures, created_at) "
            "VALUES ('mer_new', 'N', 'n@example.com', true, 0, now())",
            "DELETE FROM merchants WHERE id = 'mer_on'",
        ):
            assert "permission denied for table merchants" in refused(conn, statement)
        message = refused(conn, "UPDATE merchants SET webhook_enabled = true WHERE id = 'mer_off'")
        assert "Only admin logins can enable the webhook endpoint of mer_off" in message
        message = refused(conn, "UPDATE merchants SET webhook_enabled = false WHERE id = 'mer_on'")
        assert "disable the working webhook endpoint of mer_on" in message
    on, off = merchant_row(owner, "mer_on"), merchant_row(owner, "mer_off")
    assert (on.webhook_url, on.webhook_enabled) == ("https://shop.example/hooks", True)
    assert on.webhook_secret == "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ="
    assert off.webhook_enabled is False


@pytest.mark.parametrize("role", ["support", "finance", "admin"])
def test_no_paydesk_login_can_update_or_delete_audit_events(owner, logins, role):
    login = logins.copy(role)
    with logins.sql(login) as conn:
        conn.execute(
            "INSERT INTO audit_events (at, actor, action, entity_type) "
            "VALUES (now(), session_user, 'test.note', 'test')"
        )
        for statement in (
            "UPDATE audit_events SET actor = 'someone-else'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ):
            assert "permission denied for table audit_events" in refused(conn, statement)
    [event] = audit_of(owner, "test.note")
    assert event.actor == who(login)


def test_support_login_cannot_make_itself_finance_or_manage_staff(owner, logins):
    support = logins.copy("support")
    me = sql.Identifier(who(support))
    with logins.sql(support) as conn:
        assert "admin option" in refused(conn, sql.SQL("GRANT paydesk_finance TO {}").format(me))
        refused(conn, sql.SQL("GRANT paydesk_admin TO {}").format(me))
        refused(conn, "SET ROLE paydesk_finance")
        refused(conn, sql.SQL("ALTER ROLE {} CREATEROLE").format(me))
        refused(conn, "INSERT INTO staff (username, role, created_at) VALUES ('x', 'admin', now())")
        # Nor switch the guards off or add objects of its own.
        assert "must be owner" in refused(conn, "ALTER TABLE refunds DISABLE TRIGGER refunds_guard")
        refused(conn, "CREATE TABLE mine (id int)")
    with support.db.read() as s:
        assert roles.roles_of(s, who(support)) == ("support",)


def test_finance_login_cannot_approve_its_own_request_in_sql(owner, logins):
    finance, other = logins.copy("finance"), logins.copy("finance")
    pid = add_payment(owner)
    mine = rf.request_refund(finance, who(finance), pid, amount=1_000, reason="duplicate")
    with logins.sql(finance) as conn:
        message = refused(
            conn,
            "UPDATE refunds SET status = 'approved', decided_by = session_user, "
            "decided_at = now() WHERE id = %s",
            (mine.id,),
        )
        assert f"Four eyes: {who(finance)} requested refund {mine.id}" in message
        refused(
            conn,
            "UPDATE refunds SET status = 'rejected', decided_by = session_user WHERE id = %s",
            (mine.id,),
        )
        # Nor under another finance login's name, nor by requesting in someone else's name.
        message = refused(
            conn,
            "UPDATE refunds SET status = 'approved', decided_by = %s WHERE id = %s",
            (who(other), mine.id),
        )
        assert "decides refunds in its own name" in message
        message = refused(
            conn,
            "INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, kind, reason, "
            "status, requested_by, version, created_at, updated_at) "
            "SELECT 'rfnd_ghost', id, merchant_id, 100, currency, 'partial', 'other', "
            "'pending_approval', 'ghost', 1, now(), now() FROM payments WHERE id = %s",
            (pid,),
        )
        assert "requests refunds in its own name" in message
        # What a refund is for does not change once requested.
        refused(conn, "UPDATE refunds SET amount = 1 WHERE id = %s", (mine.id,))
    assert refund_row(owner, mine.id).status == "pending_approval"
    # The other finance login may approve it, in SQL too, in its own name.
    with logins.sql(other) as conn:
        conn.execute(
            "UPDATE refunds SET status = 'approved', decided_by = session_user, "
            "decided_at = now(), version = version + 1 WHERE id = %s",
            (mine.id,),
        )
    row = refund_row(owner, mine.id)
    assert (row.status, row.decided_by) == ("approved", who(other))


def test_four_eyes_holds_for_the_owner_too(owner):
    pid = add_payment(owner)
    with owner.db.write() as s:
        s.execute(
            text(
                "INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, kind, reason, "
                "status, requested_by, version, created_at, updated_at) "
                "SELECT 'rfnd_own', id, merchant_id, 100, currency, 'partial', 'other', "
                "'pending_approval', 'root', 1, now(), now() FROM payments WHERE id = :p"
            ),
            {"p": pid},
        )
    four_eyes = pytest.raises(DBAPIError, match="Four eyes: root requested refund rfnd_own")
    with four_eyes, owner.db.write() as s:
        s.execute(
            text("UPDATE refunds SET status = 'approved', decided_by = 'root' WHERE id = :i"),
            {"i": "rfnd_own"},
        )
    assert refund_row(owner, "rfnd_own").status == "pending_approval"


def test_a_refund_starts_approved_only_below_the_policy_threshold(owner, logins):
    support = logins.copy("support")
    policy.set_value(owner, who(owner), "refund_approval_threshold", "INR:50.00")
    pid = add_payment(owner)
    # Through the service, under the support login: approved by policy at once.
    small = rf.request_refund(support, who(support), pid, amount=1_000, reason="duplicate")
    assert (small.status, small.decided_by) == ("approved", rf.POLICY_ACTOR)
    insert = (
        "INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, kind, reason, "
        "status, requested_by, decided_by, decided_at, version, created_at, updated_at) "
        "SELECT %s, id, merchant_id, %s, %s, 'partial', 'other', 'approved', session_user, "
        "'paydesk-policy', now(), 1, now(), now() FROM payments WHERE id = %s"
    )
    with logins.sql(support) as conn:
        message = refused(conn, insert, ("rfnd_big", 5_000, "INR", pid))
        assert "is not below the INR approval threshold" in message
        refused(conn, insert, ("rfnd_usd", 100, "USD", pid))  # no threshold: all need approval
        message = refused(
            conn,
            "INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, kind, reason, "
            "status, requested_by, version, created_at, updated_at) "
            "SELECT 'rfnd_done', id, merchant_id, 100, currency, 'partial', 'other', "
            "'processed', session_user, 1, now(), now() FROM payments WHERE id = %s",
            (pid,),
        )
        assert "A new refund starts pending approval" in message
        # A temporary table cannot stand in for the policy the trigger reads.
        conn.execute("CREATE TEMP TABLE policy (key text, value text)")
        conn.execute(
            "INSERT INTO policy VALUES ('refund_approval_threshold', '{\"INR\": 999999999}')"
        )
        refused(conn, insert, ("rfnd_temp", 5_000, "INR", pid))
    with owner.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 1


# -- the services, end to end, under each role's login -----------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_each_role_works_end_to_end_under_its_own_login(owner, logins, receiver):
    support, finance, admin = logins.copy("support"), logins.copy("finance"), logins.copy("admin")
    add_endpoint(owner, "mer_hook", receiver.url("/ok"))
    # admin (a member of paydesk_admin, not the owner) sets the endpoint.
    endpoint = webhooks.set_endpoint(admin, who(admin), "mer_hook", receiver.url("/ok"))
    assert endpoint.webhook_url == receiver.url("/ok")
    pid = add_payment(owner)
    with owner.db.write() as s:
        s.execute(text("UPDATE payments SET merchant_id = 'mer_hook' WHERE id = :p"), {"p": pid})

    # support requests, finance approves (the requester cannot).
    r = rf.request_refund(
        support, who(support), pid, amount=2_500, reason="duplicate", idempotency_key="k-1"
    )
    with pytest.raises(Refused, match="Only finance or admin staff can approve"):
        rf.approve(support, who(support), r.id)
    approved = rf.approve(finance, who(finance), r.id)
    assert (approved.status, approved.decided_by) == ("approved", who(finance))

    # A support copy's scheduler processes it and delivers its webhook.
    assert proc.process_due(support, support.client_id) == 1
    assert refund_row(owner, r.id).status == "processed"
    dispatcher = Dispatcher(support)
    try:
        stats = dispatcher.run_until_idle(max_seconds=20)
    finally:
        dispatcher.close()
    assert stats.delivered == 1 and receiver.wait_for(1)
    with owner.db.read() as s:
        log = s.scalars(select(WebhookLog).where(WebhookLog.entity_id == r.id)).one()
        log_id, status, event = log.id, log.status, log.event
        assert s.scalar(select(func.count()).select_from(WebhookAttempt)) == 1
    assert (status, event) == ("success", "refund.processed")
    assert merchant_row(owner, "mer_hook").webhook_last_success_at is not None

    # support retries a delivery; finance may not.
    with owner.db.write() as s:
        s.execute(update(WebhookLog).where(WebhookLog.id == log_id).values(status="failed"))
    assert webhooks.retry(support, who(support), [log_id]) == [log_id]
    with pytest.raises(Refused, match="Only support or admin staff can retry"):
        webhooks.retry(finance, who(finance), [log_id])
    [retried] = audit_of(owner, "webhook.retry")
    assert (retried.actor, retried.entity_id) == (who(support), log_id)

    # Policy is admin's: refused by the service for support, and by the database in SQL.
    with pytest.raises(Refused, match=f"Only admin staff can change policy; {who(support)} is"):
        policy.set_value(support, who(support), "pro_rata_auto_approve_days", "3")
    with logins.sql(support) as conn:
        refused(conn, "UPDATE policy SET value = '3'")
    assert policy.set_value(admin, who(admin), "pro_rata_auto_approve_days", "3") == 3

    # The rest of every copy's bookkeeping works under a support login.
    assert presence.heartbeat(support) >= 1
    assert idempotency.purge_expired(support.db, support.clock.now() + timedelta(days=2)) == 1
    with support.db.write() as s:
        record_task_run(s, task="t", client_id=support.client_id, at=T0, outcome="ok")
    rollups.compact(support.db)


def test_cancel_reject_and_retry_work_through_the_services_under_logins(owner, logins):
    support, finance = logins.copy("support"), logins.copy("finance")
    pid = add_payment(owner, amount=10_000)
    a = rf.request_refund(support, who(support), pid, amount=1_000, reason="duplicate")
    b = rf.request_refund(support, who(support), pid, amount=2_000, reason="duplicate")
    c = rf.request_refund(support, who(support), pid, amount=3_000, reason="duplicate")
    assert rf.cancel(support, who(support), a.id).status == "cancelled"
    rejected = rf.reject(finance, who(finance), b.id, "not needed")
    assert (rejected.status, rejected.decided_by) == ("rejected", who(finance))
    rf.approve(finance, who(finance), c.id)
    # The payment cannot be refunded now: processing (by the support copy) fails the refund.
    with owner.db.write() as s:
        s.execute(text("UPDATE payments SET captured = false WHERE id = :p"), {"p": pid})
    assert proc.process_due(support, support.client_id) == 1
    assert refund_row(owner, c.id).status == "failed"
    with owner.db.write() as s:
        s.execute(text("UPDATE payments SET captured = true WHERE id = :p"), {"p": pid})
    with pytest.raises(Refused, match="Only finance or admin staff"):
        rf.retry(support, who(support), c.id)
    assert rf.retry(finance, who(finance), c.id).status == "approved"
    assert proc.process_due(support, support.client_id) == 1
    assert refund_row(owner, c.id).status == "processed"


def test_a_support_copy_disables_a_gone_endpoint_by_itself(owner, logins, receiver):
    support = logins.copy("support")
    add_endpoint(owner, "mer_gone", receiver.url("/status/410"))
    with owner.db.write() as s:
        from core.webhooks.events import enqueue

        enqueue(
            s,
            merchant_id="mer_gone",
            event="payment.captured",
            data={"payment_id": "pay_x"},
            entity_id="pay_x",
            now=owner.clock.now(),
            origin=owner.client_id,
        )
    dispatcher = Dispatcher(support)
    try:
        dispatcher.run_until_idle(max_seconds=20)
    finally:
        dispatcher.close()
    m = merchant_row(owner, "mer_gone")
    assert m.webhook_enabled is False and "410" in (m.webhook_disabled_reason or "")


def test_auto_approval_runs_only_in_copies_whose_login_may_decide(owner, logins, clock):
    support, finance = logins.copy("support"), logins.copy("finance")
    pid = add_payment(owner)
    with owner.db.write() as s:
        s.execute(
            text(
                "INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, kind, reason, "
                "status, requested_by, version, created_at, updated_at) "
                "SELECT 'rfnd_stale', id, merchant_id, 100, currency, 'pro_rata', 'pro_rata', "
                "'pending_approval', 'someone', 1, :at, :at FROM payments WHERE id = :p"
            ),
            {"p": pid, "at": clock.now() - timedelta(days=30)},
        )
        s.execute(text("UPDATE payments SET refunded_amount = 100 WHERE id = :p"), {"p": pid})
    task = proc.auto_approve_task()
    message = task.run(support)
    assert message == (
        f"Skipped: the login {who(support)} (support) may not approve or reject refunds; "
        "a finance or admin copy auto-approves."
    )
    assert proc.auto_approve_due(support) == 0
    assert refund_row(owner, "rfnd_stale").status == "pending_approval"
    assert task.run(finance) == "1 auto-approved"
    row = refund_row(owner, "rfnd_stale")
    assert (row.status, row.decided_by) == ("approved", rf.AUTO_ACTOR)


# -- identity in shared mode -------------------------------------------------------------------


def test_roles_come_from_group_membership_in_shared_mode(owner, logins):
    support = logins.copy("support")
    both = logins.copy("support", "finance")
    nobody = logins.copy()
    with support.db.read() as s:
        assert roles.role_of(s, who(support)) == "support"
    with both.db.read() as s:
        assert roles.roles_of(s, who(both)) == ("finance", "support")
        assert roles.may(s, who(both), "webhook.test") and roles.may(s, who(both), "refund.decide")
        assert not roles.may(s, who(both), "policy.set")
        # Each group's permissions: finance decides, support retries.
        assert roles.require(s, who(both), "webhook.retry") == "finance"
        assert roles.require(s, who(both), "refund.decide") == "finance"
    with nobody.db.read() as s:
        assert roles.role_of(s, who(nobody)) is None
        with pytest.raises(Refused, match="is in none of the Paydesk groups; an admin can run"):
            roles.require(s, who(nobody), "view")
    with owner.db.read() as s:
        assert roles.role_of(s, "postgres") == "admin"  # a superuser


def test_the_schema_owner_is_admin_without_being_in_a_group(owner, logins):
    name = logins.create()
    with owner.db.write() as s:
        schema = pgroles.current_schema(s.connection())
        s.execute(
            text(
                f"ALTER SCHEMA {s.connection().dialect.identifier_preparer.quote(schema)} "
                f'OWNER TO "{name}"'
            )
        )
    ctx = logins.copy(name=name)
    with ctx.db.read() as s:
        assert pgroles.login(s).owner
        assert roles.role_of(s, name) == "admin"


def test_a_login_acts_only_as_itself_unless_it_owns_the_schema(owner, logins):
    roles.ensure_first_admin(owner, "root")  # the owner acts for the staff list's people
    support = logins.copy("support")
    as_itself = pytest.raises(Refused, match=f"you act as your database login {who(support)}")
    with support.db.read() as s, as_itself:
        roles.require(s, "root", "view")
    with owner.db.read() as s:
        assert roles.require(s, "root", "staff.manage") == "admin"
    # A login's own copy does not put it on the staff list.
    assert roles.ensure_first_admin(support, who(support)) is False


# -- paydesk staff grant / revoke / list -------------------------------------------------------


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str, str]]:
    def run(url: str, *argv: str) -> tuple[int, str, str]:
        code = main(["--database", url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_staff_grant_revoke_and_list_in_shared_mode(owner, logins, cli):
    admin = logins.create("admin")
    bob = logins.create()
    url = logins.url_of(admin)

    code, out, err = cli(url, "staff", "grant", bob, "finance")
    assert (code, err) == (0, "")
    assert out == f"{bob} is now finance (holds finance).\n"
    with logins.copy(name=bob).db.read() as s:
        assert roles.role_of(s, bob) == "finance"
    code, out, _ = cli(url, "staff", "grant", bob, "finance")
    assert (code, out) == (0, f"{bob} is already finance; nothing changed.\n")
    code, out, _ = cli(url, "staff", "grant", bob, "support", "--json")
    assert json.loads(out) == {
        "username": bob,
        "role": "support",
        "action": "grant",
        "changed": True,
        "roles": ["finance", "support"],
    }
    code, out, _ = cli(url, "staff", "list", "--json")
    listed = {m["username"]: m for m in json.loads(out)}
    assert listed[bob] == {"username": bob, "roles": ["finance", "support"], "login": True}
    assert listed[admin]["roles"] == ["admin"]
    code, out, _ = cli(url, "staff", "list")
    assert code == 0 and out.startswith("login")
    assert re.search(rf"^{re.escape(bob)} +finance, support +yes$", out, re.MULTILINE)

    code, out, _ = cli(url, "staff", "revoke", bob, "finance")
    assert (code, out) == (0, f"{bob} is no longer finance (holds support).\n")
    code, out, _ = cli(url, "staff", "revoke", bob, "finance")
    assert (code, out) == (0, f"{bob} is not finance; nothing changed.\n")
    grants = [(e.actor, e.entity_id) for e in audit_of(owner, "staff.grant")]
    assert grants == [(admin, bob), (admin, bob)]
    [revoked] = audit_of(owner, "staff.revoke")
    assert (revoked.actor, json.loads(revoked.details)) == (
        admin,
        {"role": "finance", "before": ["finance", "support"]},
    )


def test_an_admin_makes_admins_who_can_manage_staff(owner, logins, cli):
    first, second, third = logins.create(), logins.create(), logins.create()
    # The owner (here a superuser) makes the first admin; admins then make admins.
    assert roles.grant_role(owner, who(owner), first, "admin").changed
    code, out, err = cli(logins.url_of(first), "staff", "grant", second, "admin")
    assert (code, err) == (0, "") and out.startswith(f"{second} is now admin")
    code, out, err = cli(logins.url_of(second), "staff", "grant", third, "support")
    assert (code, err) == (0, "") and out.startswith(f"{third} is now support")
    code, out, err = cli(logins.url_of(second), "staff", "revoke", first, "admin")
    assert (code, err) == (0, "") and out == f"{first} is no longer admin (holds no role).\n"


def test_an_admin_the_server_gave_no_admin_option_is_told_why_granting_admin_fails(
    owner, logins, cli
):
    plain, other = logins.create("admin"), logins.create()  # GRANT paydesk_admin, no option
    code, out, err = cli(logins.url_of(plain), "staff", "grant", other, "admin")
    assert (code, out) == (2, "")
    assert err.startswith(f"paydesk: The database refused to let {plain} grant admin: ")
    assert "admin option" in err
    # Support and finance it can grant: paydesk_admin holds their admin option.
    assert cli(logins.url_of(plain), "staff", "grant", other, "finance")[0] == 0


def test_staff_commands_refuse_bad_input_and_non_admins(owner, logins, cli):
    admin, support = logins.create("admin"), logins.create("support")
    url = logins.url_of(admin)
    code, out, err = cli(url, "staff", "grant", support, "boss")
    assert (code, out) == (2, "")
    assert err == "paydesk: 'boss' is not a role; use one of support, finance, admin.\n"
    code, _, err = cli(url, "staff", "grant", "pd_nobody_here", "finance")
    assert code == 2 and "There is no login pd_nobody_here on the database server" in err
    code, _, err = cli(url, "staff", "grant", "paydesk_finance", "admin")
    assert (code, err) == (
        2,
        "paydesk: paydesk_finance is a Paydesk group, not a person's login.\n",
    )
    code, _, err = cli(url, "staff", "grant", "   ", "admin")
    assert (code, err) == (2, "paydesk: A staff member needs a user name.\n")
    code, _, err = cli(logins.url_of(support), "staff", "grant", support, "finance")
    assert code == 2
    assert err == f"paydesk: Only admin staff can manage staff; {support} is support.\n"
    assert audit_of(owner, "staff.grant") == []
    with logins.copy(name=support).db.read() as s:
        assert roles.roles_of(s, support) == ("support",)


def test_login_names_are_quoted_when_granting(owner, logins):
    admin = logins.copy("admin")
    odd = logins.create(name=f'pd_{logins.tag} "x"; DROP ROLE postgres; --')
    change = roles.grant_role(admin, who(admin), odd, "support")
    assert change.changed and change.roles == ("support",)
    with admin.db.read() as s:
        assert pgroles.direct_membership(s, odd, "support") == (True, False)
        assert pgroles.server_role(s, "postgres") is not None
    assert roles.revoke_role(admin, who(admin), odd, "support").roles == ()


def test_staff_grant_and_revoke_in_standalone_mode(tmp_path, monkeypatch, cli):
    url = f"sqlite:///{tmp_path / 'paydesk.sqlite3'}"
    monkeypatch.setenv("PAYDESK_ACTOR", "root")
    code, out, _ = cli(url, "staff", "grant", "bob", "finance")
    assert (code, out) == (0, "bob is now finance (holds finance).\n")
    code, out, _ = cli(url, "staff", "grant", "bob", "support")
    assert out == "bob is now support (holds support).\n"  # one role per person here
    code, out, _ = cli(url, "staff", "revoke", "bob", "finance")
    assert out == "bob is not finance; nothing changed.\n"
    code, out, _ = cli(url, "staff", "revoke", "bob", "support")
    assert out == "bob is no longer support (holds no role).\n"
    code, out, _ = cli(url, "staff", "list", "--json")
    assert [m["username"] for m in json.loads(out)] == ["root"]
    code, _, err = cli(url, "staff", "revoke", "root", "admin")
    assert (code, err) == (2, "paydesk: root is the last admin; make someone else admin first.\n")
    db = open_database(url)
    try:
        ctx = Context(db=db)
        with pytest.raises(InputError):
            roles.grant_role(ctx, "root", "", "finance")
        with pytest.raises(Refused, match="bob is not on the Paydesk staff list"):
            roles.grant_role(ctx, "bob", "carol", "admin")
        with db.read() as s:
            actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    finally:
        db.dispose()
    assert actions == ["staff.first_admin", "staff.grant", "staff.grant", "staff.revoke"]


def test_granting_to_a_login_that_does_not_exist_is_not_found(owner, logins):
    admin = logins.copy("admin")
    with pytest.raises(NotFound):
        roles.grant_role(admin, who(admin), f"pd_{logins.tag}_missing", "finance")
    with pytest.raises(NotFound):
        roles.revoke_role(admin, who(admin), f"pd_{logins.tag}_missing", "finance")
