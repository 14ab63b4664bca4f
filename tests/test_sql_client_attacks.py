"""What a person with a SQL client and a Paydesk login tries, and the database refuses
(migration 0005; docs/shared-mode.md, "What a login of each role can do with a SQL client").

The Postgres attacks connect as real support and finance logins (made and dropped per test,
as in tests/test_pg_roles.py); the rules SQLite can express are tried on both databases
through the ``db`` fixture.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from core.context import Context
from core.errors import Refused
from core.refunds import processing as proc
from core.refunds import service as rf
from core.store.models import Payment, Refund
from core.webhooks import deliveries as webhooks
from core.webhooks.dispatcher import Dispatcher
from tests.test_pg_roles import (  # noqa: F401 — fixtures
    add_endpoint,
    audit_of,
    logins,
    owner,
    receiver,
    refused,
    who,
)
from tests.test_refunds import MERCHANT, T0, add_payment, add_staff

Denied = psycopg.errors.InsufficientPrivilege
Check = psycopg.errors.CheckViolation
STAFF = ("support", "finance")


def _status(ctx: Context, refund_id: str) -> str:
    with ctx.db.read() as s:
        return str(s.get_one(Refund, refund_id).status)


def _set_status_fails(ctx: Context, refund_id: str, status: str, match: str) -> None:
    """Setting the refund's status directly in SQL is refused by the database."""
    with pytest.raises(DBAPIError, match=match), ctx.db.write() as s:
        s.execute(update(Refund).where(Refund.id == refund_id).values(status=status))


def _payment_row(ctx: Context, payment_id: str) -> Payment:
    with ctx.db.read() as s:
        row = s.get(Payment, payment_id)
        s.expunge_all()
        return row


def _refund_values(payment_id: str, refund_id: str, requested_by: str, **extra: object) -> dict:
    values: dict[str, object] = {
        "id": refund_id,
        "payment_id": payment_id,
        "merchant_id": MERCHANT,
        "amount": 1_000,
        "currency": "INR",
        "kind": "partial",
        "reason": "other",
        "status": "pending_approval",
        "requested_by": requested_by,
        "version": 1,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(extra)
    return values


_INSERT = (
    "INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, kind, reason, status, "
    "requested_by, version, created_at, updated_at) VALUES (%(id)s, %(payment_id)s, "
    "%(merchant_id)s, %(amount)s, %(currency)s, %(kind)s, %(reason)s, %(status)s, "
    "%(requested_by)s, %(version)s, %(created_at)s, %(updated_at)s)"
)


def _refused_with(conn: psycopg.Connection, error: type[Exception], statement: str, params) -> str:
    with pytest.raises(error) as info:
        conn.execute(statement, params)
    return str(info.value)


# -- 4. refund integrity, as a real support or finance login ---------------------------------


@pytest.mark.parametrize("role", STAFF)
def test_a_login_cannot_insert_a_negative_refund(owner, logins, role):  # noqa: F811
    ctx = logins.copy(role)
    pid = add_payment(owner, amount=10_000)
    with logins.sql(ctx) as conn:
        for amount in (-500, 0):
            _refused_with(
                conn,
                Check,
                _INSERT,
                _refund_values(pid, f"rfnd_neg{amount}", who(ctx), amount=amount),
            )
    assert _payment_row(owner, pid).refunded_amount == 0


@pytest.mark.parametrize("role", STAFF)
def test_a_login_cannot_insert_a_refund_in_another_currency(owner, logins, role):  # noqa: F811
    ctx = logins.copy(role)
    pid = add_payment(owner, amount=10_000, currency="INR")
    with logins.sql(ctx) as conn:
        message = _refused_with(
            conn, Check, _INSERT, _refund_values(pid, "rfnd_usd", who(ctx), currency="USD")
        )
    assert "in its payment's currency" in message
    assert _payment_row(owner, pid).refunded_amount == 0


@pytest.mark.parametrize("role", STAFF)
def test_a_login_cannot_insert_a_refund_above_what_is_left(owner, logins, role):  # noqa: F811
    ctx = logins.copy(role)
    pid = add_payment(owner, amount=10_000)
    first = rf.request_refund(ctx, who(ctx), pid, amount=6_000, reason="duplicate")
    with logins.sql(ctx) as conn:
        message = _refused_with(
            conn, Check, _INSERT, _refund_values(pid, "rfnd_over", who(ctx), amount=4_001)
        )
        assert "more than its" in message
        # What is left still fits.
        conn.execute(_INSERT, _refund_values(pid, "rfnd_fits", who(ctx), amount=4_000))
    assert _payment_row(owner, pid).refunded_amount == 10_000
    assert first.amount == 6_000


@pytest.mark.parametrize("role", STAFF)
def test_a_login_cannot_set_refunded_amount(owner, logins, role):  # noqa: F811
    ctx = logins.copy(role)
    pid = add_payment(owner, amount=10_000)
    rf.request_refund(ctx, who(ctx), pid, amount=10_000, reason="duplicate")
    with logins.sql(ctx) as conn:
        message = refused(conn, "UPDATE payments SET refunded_amount = 0 WHERE id = %s", (pid,))
        assert "kept by Paydesk" in message
    assert _payment_row(owner, pid).refunded_amount == 10_000
    # Not even an admin or the owner: the column is derived.
    admin = logins.copy("admin")
    with logins.sql(admin) as conn:
        refused(conn, "UPDATE payments SET refunded_amount = 0 WHERE id = %s", (pid,))
    with pytest.raises(DBAPIError), owner.db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(refunded_amount=0))


def test_two_full_refunds_of_one_payment_cannot_both_be_processed(owner, logins):  # noqa: F811
    """The attack of the issue: a second full refund slipped in by SQL, then approved."""
    support, finance = logins.copy("support"), logins.copy("finance")
    pid = add_payment(owner, amount=10_000)
    r = rf.request_refund(support, who(support), pid, kind="full", reason="duplicate")
    with logins.sql(support) as conn:
        _refused_with(
            conn, Check, _INSERT, _refund_values(pid, "rfnd_dup", who(support), amount=10_000)
        )
        refused(conn, "UPDATE payments SET refunded_amount = 0 WHERE id = %s", (pid,))
    rf.approve(finance, who(finance), r.id)
    assert proc.process_due(support, support.client_id) == 1
    with owner.db.read() as s:
        rows = s.execute(
            text("SELECT count(*), sum(amount) FROM refunds WHERE payment_id = :p"), {"p": pid}
        ).one()
    assert tuple(rows) == (1, 10_000)
    assert _payment_row(owner, pid).refunded_amount == 10_000


@pytest.mark.parametrize("role", ("support", "finance", "admin"))
def test_illegal_transitions_are_refused_for_every_login(owner, logins, role):  # noqa: F811
    ctx = logins.copy(role)
    requester = logins.copy("support")
    pid = add_payment(owner, amount=10_000)
    r = rf.request_refund(requester, who(requester), pid, amount=1_000, reason="duplicate")
    with logins.sql(ctx) as conn:
        for status in ("processed", "processing", "failed"):
            message = _refused_with(
                conn,
                (Denied, Check),  # type: ignore[arg-type]
                "UPDATE refunds SET status = %s WHERE id = %s",
                (status, r.id),
            )
            assert "cannot go from pending_approval" in message
    assert _status(owner, r.id) == "pending_approval"


def test_the_state_machine_holds_for_the_owner_too(owner):  # noqa: F811
    add_staff(owner)
    pid = add_payment(owner, amount=10_000)
    r = rf.request_refund(owner, "alice", pid, amount=1_000, reason="duplicate")
    _set_status_fails(owner, r.id, "processed", "cannot go from pending_approval to processed")
    rf.reject(owner, "bob", r.id, "not needed")
    _set_status_fails(owner, r.id, "approved", "cannot go from rejected to approved")


# -- 4. on both databases --------------------------------------------------------------------


def _raw_refund(ctx: Context, payment_id: str, refund_id: str, **extra: object) -> None:
    with ctx.db.write() as s:
        s.add(Refund(**_refund_values(payment_id, refund_id, "asha", **extra)))


def test_negative_amounts_are_refused_by_the_database(ctx):
    with pytest.raises(DBAPIError):
        add_payment(ctx, amount=-1)
    pid = add_payment(ctx, amount=10_000)
    with pytest.raises(DBAPIError):
        _raw_refund(ctx, pid, "rfnd_neg", amount=-500)
    assert _payment_row(ctx, pid).refunded_amount == 0


def test_a_refund_in_another_currency_is_refused_by_the_database(ctx):
    pid = add_payment(ctx, amount=10_000, currency="INR")
    with pytest.raises(DBAPIError, match=r"currency of its payment|payment's currency"):
        _raw_refund(ctx, pid, "rfnd_usd", currency="USD")


def test_live_refunds_above_the_amount_are_refused_by_the_database(ctx):
    pid = add_payment(ctx, amount=10_000)
    _raw_refund(ctx, pid, "rfnd_a", amount=7_000)
    with pytest.raises(DBAPIError, match="more than its"):
        _raw_refund(ctx, pid, "rfnd_b", amount=3_001)
    # A refund that no longer counts leaves room; bringing it back needs the room again.
    _raw_refund(ctx, pid, "rfnd_c", amount=3_000, status="rejected")
    assert _payment_row(ctx, pid).refunded_amount == 7_000
    _raw_refund(ctx, pid, "rfnd_d", amount=3_000)
    assert _payment_row(ctx, pid).refunded_amount == 10_000


def test_refunded_amount_follows_the_refunds_and_cannot_be_set(ctx):
    add_staff(ctx)
    pid = add_payment(ctx, amount=10_000)
    r = rf.request_refund(ctx, "alice", pid, amount=4_000, reason="duplicate")
    assert _payment_row(ctx, pid).refunded_amount == 4_000
    with pytest.raises(DBAPIError, match="kept by Paydesk"), ctx.db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(refunded_amount=0))
    rf.reject(ctx, "bob", r.id, "duplicate")
    assert _payment_row(ctx, pid).refunded_amount == 0


def test_refund_states_move_only_along_the_state_machine(ctx):
    add_staff(ctx)
    pid = add_payment(ctx, amount=10_000)
    r = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="duplicate")
    for status in ("processed", "processing", "failed"):
        _set_status_fails(ctx, r.id, status, r"cannot go from|state machine")
    rf.approve(ctx, "bob", r.id)
    assert proc.process_due(ctx, "worker-1") == 1
    with pytest.raises(DBAPIError, match=r"cannot go from|state machine"), ctx.db.write() as s:
        s.execute(update(Refund).where(Refund.id == r.id).values(status="approved"))
    assert _status(ctx, r.id) == "processed"


# -- 2. signing secrets ----------------------------------------------------------------------

SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ="


@pytest.mark.parametrize("role", ("support", "finance", "admin"))
def test_no_login_can_select_a_webhook_secret(owner, logins, role):  # noqa: F811
    ctx = logins.copy(role)
    add_endpoint(owner, "mer_hook", "https://shop.example/hooks")
    with logins.sql(ctx) as conn:
        for statement in (
            "SELECT webhook_secret FROM merchants",
            "SELECT webhook_secret_previous FROM merchants",
            "SELECT * FROM merchants",
            "SELECT signature FROM paydesk_sign_deliveries(ARRAY[]::text[], 'x', now()) "
            "UNION ALL SELECT webhook_secret FROM merchants",
        ):
            refused(conn, statement)
        # What is not secret stays readable, the mask included.
        assert conn.execute("SELECT name, webhook_url FROM merchants").fetchall()
        masks = conn.execute("SELECT secret_mask FROM paydesk_webhook_secret_masks()").fetchall()
        assert masks == [("whsec_…" + SECRET[-4:],)]
        if role != "admin":
            message = refused(
                conn,
                "SELECT paydesk_reveal_webhook_secret('mer_hook', %s, NULL, now())",
                (who(ctx),),
            )
            assert "permission denied for function" in message
        # The function that handed secrets to the dispatcher is gone (migration 0008), and a
        # log that is not pending under a lease is not even signed.
        with pytest.raises(psycopg.errors.UndefinedFunction):
            conn.execute("SELECT * FROM paydesk_delivery_secrets(ARRAY['msg_none'])")
        signed = conn.execute(
            "SELECT * FROM paydesk_sign_deliveries(ARRAY['msg_none'], 'x', now())"
        ).fetchall()
        assert signed == []


def test_support_and_finance_copies_list_endpoints_masked(owner, logins):  # noqa: F811
    add_endpoint(owner, "mer_hook", "https://shop.example/hooks")
    for role in STAFF:
        ctx = logins.copy(role)
        with ctx.db.read() as s:
            [ep] = webhooks.endpoints(s)
        assert ep.secret_masked == "whsec_…" + SECRET[-4:]


def test_an_admin_reveals_a_secret_only_through_the_audited_function(owner, logins):  # noqa: F811
    admin, support = logins.copy("admin"), logins.copy("support")
    add_endpoint(owner, "mer_hook", "https://shop.example/hooks")
    assert webhooks.reveal_secret(admin, who(admin), "mer_hook") == SECRET
    [event] = audit_of(owner, "endpoint.reveal_secret")
    assert (event.actor, event.entity_id, event.client) == (who(admin), "mer_hook", admin.client_id)
    with pytest.raises(Refused):
        webhooks.reveal_secret(support, who(support), "mer_hook")
    with logins.sql(admin) as conn:
        # In its own name only, and every reveal is audited.
        message = refused(
            conn, "SELECT paydesk_reveal_webhook_secret('mer_hook', 'someone_else', NULL, now())"
        )
        assert "in its own name" in message
        row = conn.execute(
            "SELECT paydesk_reveal_webhook_secret('mer_hook', %s, 'psql', now())", (who(admin),)
        ).fetchone()
        assert row == (SECRET,)
    assert len(audit_of(owner, "endpoint.reveal_secret")) == 2
    # Rotation by an admin login works without it reading the secret.
    ep = webhooks.set_endpoint(
        admin, who(admin), "mer_hook", "https://shop.example/hooks", rotate_secret=True
    )
    assert ep.secret_masked != "whsec_…" + SECRET[-4:]
    with owner.db.read() as s:
        previous = s.scalar(text("SELECT webhook_secret_previous FROM merchants"))
    assert previous == SECRET


# -- 3. forged deliveries --------------------------------------------------------------------

_FORGED = (
    "INSERT INTO webhook_logs (id, merchant_id, event, payload, status, attempts, round_start, "
    "next_retry_at, created_at, updated_at) VALUES ('msg_forged', 'mer_hook', 'refund.processed', "
    '\'{"id":"msg_forged","event":"refund.processed","created_at":1,'
    '"data":{"amount":999999}}\', \'pending\', 0, 0, now(), now(), now())'
)


def _enqueue(conn: psycopg.Connection, log_id: str, event: str, payload: str, entity=None):
    return conn.execute(
        "SELECT paydesk_enqueue_webhook(%s, 'mer_hook', %s, %s, %s, now(), NULL, NULL)",
        (log_id, event, payload, entity),
    )


@pytest.mark.parametrize("role", ("support", "finance", "admin"))
def test_a_login_cannot_insert_or_rewrite_a_webhook_log(owner, logins, receiver, role):  # noqa: F811
    ctx = logins.copy(role)
    add_endpoint(owner, "mer_hook", receiver.url("/ok"))
    log_id = webhooks.send_test_event(ctx, who(ctx), "mer_hook") if role != "finance" else None
    with logins.sql(ctx) as conn:
        refused(conn, _FORGED)
        if log_id is not None:
            for column, value in (
                ("payload", '{"data":{"amount":1}}'),
                ("event", "refund.processed"),
                ("merchant_id", "mer_other"),
                ("id", "msg_other"),
            ):
                refused(
                    conn, f"UPDATE webhook_logs SET {column} = %s WHERE id = %s", (value, log_id)
                )
            # Delivery bookkeeping stays writable.
            conn.execute(
                "UPDATE webhook_logs SET next_retry_at = now(), last_error = NULL WHERE id = %s",
                (log_id,),
            )
        # The enqueue function refuses what Paydesk would not send.
        forged = '{"id":"msg_f1","event":"test.ping","created_at":1,"data":{"merchant_id":"mer_hook","message":"pay me"}}'
        with pytest.raises(Check, match="a test event says only"):
            _enqueue(conn, "msg_f1", "test.ping", forged)
        made_up = '{"id":"msg_f2","event":"refund.processed","created_at":1,"data":{"id":"rfnd_x","amount":999999}}'
        with pytest.raises(Check, match="does not report refund"):
            _enqueue(conn, "msg_f2", "refund.processed", made_up, "rfnd_x")
        with pytest.raises(Check, match=r"does not send payment\.captured"):
            _enqueue(
                conn,
                "msg_f3",
                "payment.captured",
                made_up.replace("refund.processed", "payment.captured").replace("msg_f2", "msg_f3"),
            )
    with owner.db.read() as s:
        ids = set(s.scalars(text("SELECT id FROM webhook_logs")))
    assert ids == ({log_id} if log_id else set())


def test_a_forged_log_is_never_signed_or_delivered(owner, logins, receiver):  # noqa: F811
    """The forged row of the issue is refused, the dispatcher under a support login signs and
    delivers only the real delivery it leased, and a delivered log's secret is not handed out
    again."""
    support = logins.copy("support")
    add_endpoint(owner, "mer_hook", receiver.url("/ok"))
    with logins.sql(support) as conn:
        refused(conn, _FORGED)
    real = webhooks.send_test_event(support, who(support), "mer_hook")
    dispatcher = Dispatcher(support)
    try:
        stats = dispatcher.run_until_idle(max_seconds=20)
    finally:
        dispatcher.close()
    assert stats.delivered == 1 and receiver.wait_for(1)
    assert receiver.ids() == [real]
    with logins.sql(support) as conn:
        # The delivered log is no longer pending: the database does not sign it again.
        rows = conn.execute(
            "SELECT * FROM paydesk_sign_deliveries(ARRAY[%s], %s, now())", (real, dispatcher.owner)
        ).fetchall()
        assert rows == []


# -- 2b. a leased delivery's secret stays in the database (migration 0008) -------------------

# Every function a Paydesk group may call, besides trigger functions (which cannot be called).
_CALLABLE = {
    "paydesk_enqueue_webhook",
    "paydesk_refund_live_total",
    "paydesk_sign_deliveries",
    "paydesk_webhook_secret_masks",
}


def _callable_functions(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace "
        "AND p.prorettype <> 'trigger'::regtype "
        "AND has_function_privilege(session_user, p.oid, 'EXECUTE')"
    ).fetchall()
    return {name for (name,) in rows}


@pytest.mark.parametrize("role", STAFF)
def test_a_login_that_leases_a_delivery_cannot_obtain_its_secret(owner, logins, receiver, role):  # noqa: F811
    """The attack of migration 0005's known limit: lease a real pending delivery with a SQL
    client and ask every function the login may call. The database signs the stored payload
    (the signature verifies), and nothing it answers holds the secret or its key."""
    import base64

    from standardwebhooks.webhooks import Webhook

    ctx = logins.copy(role)
    add_endpoint(owner, "mer_hook", receiver.url("/ok"))
    sender = ctx if role == "support" else logins.copy("support")
    log_id = webhooks.send_test_event(sender, who(sender), "mer_hook")
    key_hex = base64.b64decode(SECRET.removeprefix("whsec_")).hex()
    with logins.sql(ctx) as conn:
        conn.execute(
            "UPDATE webhook_logs SET lease_owner = 'me', lease_expires_at = now() + "
            "interval '1 hour' WHERE id = %s",
            (log_id,),
        )
        assert _callable_functions(conn) == _CALLABLE
        with pytest.raises(psycopg.errors.UndefinedFunction):
            conn.execute("SELECT * FROM paydesk_delivery_secrets(ARRAY[%s])", (log_id,))
        for helper in (
            "SELECT paydesk_webhook_key(%s)",
            "SELECT paydesk_hmac_sha256('\\x00'::bytea, convert_to(%s, 'UTF8'))",
        ):
            assert "permission denied" in refused(conn, helper, (log_id,))
        refused(conn, "SELECT paydesk_reveal_webhook_secret('mer_hook', session_user, NULL, now())")
        refused(conn, "SELECT webhook_secret FROM merchants")
        answers = [
            conn.execute(
                "SELECT * FROM paydesk_sign_deliveries(ARRAY[%s], 'me', now())", (log_id,)
            ).fetchall(),
            conn.execute("SELECT * FROM paydesk_webhook_secret_masks()").fetchall(),
        ]
        [(got_id, ts, sig, legacy, problem)] = answers[0]
        payload = conn.execute(
            "SELECT payload FROM webhook_logs WHERE id = %s", (log_id,)
        ).fetchone()[0]
    assert (got_id, problem) == (log_id, None)
    # What the login got is what the receiver would get, and verifies only against the payload
    # Paydesk stored.
    headers = {"webhook-id": log_id, "webhook-timestamp": str(ts), "webhook-signature": sig}
    Webhook(SECRET).verify(payload, headers)
    seen = repr(answers)
    for part in (SECRET, SECRET.removeprefix("whsec_"), key_hex):
        assert part not in seen
    assert legacy != key_hex


def test_a_lease_held_by_another_owner_is_not_signed(owner, logins, receiver):  # noqa: F811
    support = logins.copy("support")
    add_endpoint(owner, "mer_hook", receiver.url("/ok"))
    log_id = webhooks.send_test_event(support, who(support), "mer_hook")
    with logins.sql(support) as conn:
        unleased = conn.execute(
            "SELECT * FROM paydesk_sign_deliveries(ARRAY[%s], 'me', now())", (log_id,)
        ).fetchall()
        conn.execute("UPDATE webhook_logs SET lease_owner = 'other' WHERE id = %s", (log_id,))
        other = conn.execute(
            "SELECT * FROM paydesk_sign_deliveries(ARRAY[%s], 'me', now())", (log_id,)
        ).fetchall()
    assert unleased == [] and other == []
