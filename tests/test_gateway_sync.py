"""Sync of a gateway connection against the fake gateway, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from core.gateway import connections, secrets, sync
from core.store.models import Payment, WebhookLog
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.webhook_receiver import ADMIN, add_staff


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway(Variation(max_limit=7))
    yield gateway
    gateway.close()


def _connect(ctx, gw: FakeGateway, name: str = "acme") -> None:
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, name, gw.api, API_KEY, API_SECRET)


def _count(ctx, model) -> int:
    with ctx.db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(model.gateway == "acme")) or 0


def test_first_sync_adds_everything_and_a_second_changes_nothing(ctx, gw) -> None:
    gw.seed(payments=30, logs=10)
    _connect(ctx, gw)
    first = sync.sync_connection(ctx, "acme")
    assert first.error is None and first.skipped == []
    assert (_count(ctx, Payment), _count(ctx, WebhookLog)) == (30, 10)
    assert first.added == 40 and first.updated == 0
    again = sync.sync_connection(ctx, "acme")
    assert (again.added, again.updated) == (0, 0)
    shown = connections.show_connection(ctx, ADMIN, "acme")
    assert (shown.payments, shown.logs, shown.last_sync_outcome) == (30, 10, "ok")
    assert shown.queue_status and shown.queue_status["worker_status"] == "running"
    with ctx.db.read() as s:
        log = s.scalars(select(WebhookLog).where(WebhookLog.gateway == "acme")).first()
        assert log is not None and len(log.gateway_log_id or "") == 36


def test_a_changed_status_updates_the_row(ctx, gw) -> None:
    gw.seed(payments=5)
    gw.add_payment(status="pending")
    _connect(ctx, gw)
    sync.sync_connection(ctx, "acme")
    gw.set_payment_status("pay_000000000006", "success")
    result = sync.sync_connection(ctx, "acme")
    with ctx.db.read() as s:
        assert s.get(Payment, "pay_000000000006").status == "success"
    assert result.added == 1  # the payment.success log
    assert result.updated == 1


def test_malformed_rows_are_skipped_with_reasons_and_the_rest_synced(ctx, gw) -> None:
    gw.seed(payments=5)
    gw.state.payments["pay_000000000002"]["amount"] = "12.50"
    _connect(ctx, gw)
    result = sync.sync_connection(ctx, "acme")
    assert _count(ctx, Payment) == 4
    assert result.skipped == ["Skipped payment pay_000000000002: amount '12.50' is not an integer."]
    shown = connections.show_connection(ctx, ADMIN, "acme")
    assert shown.last_sync_outcome == "partial" and shown.skipped == result.skipped


def test_without_a_payment_list_payments_come_from_the_log_payloads(ctx) -> None:
    gw = FakeGateway(Variation(payment_list="none", unknown_routes="html200"))
    try:
        gw.seed(payments=6, logs=4)
        _connect(ctx, gw)
        result = sync.sync_connection(ctx, "acme")
    finally:
        gw.close()
    assert result.error is None
    assert _count(ctx, Payment) == 4 and _count(ctx, WebhookLog) == 4


def test_an_outage_is_recorded_and_nothing_is_half_applied(ctx, gw) -> None:
    gw.seed(payments=20)
    _connect(ctx, gw)
    gw.vary(fail_status=503)
    result = sync.sync_connection(ctx, "acme")
    assert result.error and "failed with 503" in result.error
    assert _count(ctx, Payment) == 0
    shown = connections.show_connection(ctx, ADMIN, "acme")
    assert shown.last_sync_outcome == "error" and shown.last_error == result.error


def test_a_copy_without_the_secret_says_where_to_put_it(ctx, gw) -> None:
    _connect(ctx, gw)
    secrets.forget("acme")
    result = sync.sync_connection(ctx, "acme")
    assert result.error and "PAYDESK_GATEWAY_SECRET_ACME" in result.error
    assert API_SECRET not in result.error


def test_paydesks_own_payment_with_the_same_id_is_never_overwritten(ctx, gw) -> None:
    gw.seed(payments=2)
    _connect(ctx, gw)
    sync.sync_connection(ctx, "acme")
    with ctx.db.write() as s:
        s.get(Payment, "pay_000000000001").gateway = None
    gw.set_payment_status("pay_000000000001", "failed", log=False)
    result = sync.sync_connection(ctx, "acme")
    assert result.skipped == [
        "Skipped payment pay_000000000001: Paydesk already holds this id from Paydesk's own data."
    ]
    with ctx.db.read() as s:
        assert s.get(Payment, "pay_000000000001").status == "success"


def test_cli_sync_prints_what_it_added_and_updated(db_url, gw, capsys, monkeypatch) -> None:
    import io
    import json

    from core.cli import main

    gw.seed(payments=3, logs=1)
    monkeypatch.setenv("PAYDESK_ACTOR", "alice")
    monkeypatch.setattr("sys.stdin", io.StringIO(API_SECRET + "\n"))
    base = ["--database", db_url, "gateways"]
    assert (
        main([*base, "add", "acme", "--url", gw.root, "--api-key", API_KEY, "--api-secret-stdin"])
        == 0
    )
    capsys.readouterr()
    assert main([*base, "sync", "acme"]) == 0
    assert capsys.readouterr().out.strip() == "acme: 4 added, 0 updated."
    assert main([*base, "sync", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "acme", "added": 0, "updated": 0, "skipped": [], "error": None}
    ]


def test_the_task_syncs_under_a_lease_one_copy_at_a_time(ctx, gw) -> None:
    from dataclasses import replace

    from core.store.models import GatewayConnection

    gw.seed(payments=3)
    _connect(ctx, gw)
    other = replace(ctx, client_id="other-copy")
    with ctx.db.write() as s:
        row = s.get(GatewayConnection, "acme")
        row.lease_owner = "other-copy"
        row.lease_expires_at = ctx.clock.now() + sync.LEASE
    assert sync.run_due(ctx) is None  # the other copy holds it
    assert _count(ctx, Payment) == 0
    assert sync.run_due(other) == "acme: 3 added, 0 updated"
    with ctx.db.read() as s:
        assert s.get(GatewayConnection, "acme").lease_owner is None
    assert sync.sync_task().name == "gateway_sync"


def test_the_task_leaves_connections_whose_secret_it_lacks(ctx, gw) -> None:
    gw.seed(payments=3)
    _connect(ctx, gw)
    secrets.forget("acme")
    assert sync.run_due(ctx) is None
    assert _count(ctx, Payment) == 0


def test_a_failing_sync_fails_the_task_and_backs_off(ctx, gw, clock) -> None:
    from core.gateway.errors import GatewayError

    gw.seed(payments=3)
    _connect(ctx, gw)
    gw.vary(fail_status=500)
    with pytest.raises(GatewayError) as err:
        sync.run_due(ctx)
    assert "failed with 500" in str(err.value)
    gw.vary(fail_status=0)
    assert sync.run_due(ctx) is None  # backing off
    clock.advance(30 * sync.BACKOFF_ROUNDS + 1)  # the default interval, 30 s
    assert sync.run_due(ctx) == "acme: 3 added, 0 updated"


def test_each_connection_is_synced_once_per_policy_interval(ctx, gw, clock) -> None:
    from core.access import policy

    gw.seed(payments=3)
    _connect(ctx, gw)
    policy.set_value(ctx, ADMIN, "gateway_sync_interval_seconds", "120")
    assert sync.run_due(ctx) == "acme: 3 added, 0 updated"
    gw.add_payment()
    clock.advance(60)
    assert sync.run_due(ctx) is None  # synced a minute ago: not due yet
    clock.advance(60)
    assert sync.run_due(ctx) == "acme: 1 added, 0 updated"


@pytest.mark.parametrize("value", ["0", "4", "nan", "86401"])
def test_a_sync_interval_out_of_range_is_refused(ctx, value) -> None:
    from core.access import policy
    from core.errors import InputError

    add_staff(ctx)
    with pytest.raises(InputError) as err:
        policy.set_value(ctx, ADMIN, "gateway_sync_interval_seconds", value)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
    with ctx.db.read() as s:
        assert policy.get(s, "gateway_sync_interval_seconds") == 30


def test_the_lists_json_says_which_connection_a_row_came_from(ctx, gw, capsys, monkeypatch) -> None:
    import json

    from core.cli import main
    from tests.test_refunds import add_payment

    gw.seed(payments=2, logs=1)
    _connect(ctx, gw)
    sync.sync_connection(ctx, "acme")
    own = add_payment(ctx, amount=5_000)
    monkeypatch.setenv("PAYDESK_ACTOR", "fran")  # finance (tests.webhook_receiver.add_staff)
    url = ctx.db.target.url.render_as_string(hide_password=False)

    def listed(*args: str) -> list[dict]:
        assert main(["--database", url, *args, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    by_id = {p["id"]: p["gateway"] for p in listed("payments", "list")}
    assert by_id == {"pay_000000000001": "acme", "pay_000000000002": "acme", own: None}
    assert {w["gateway"] for w in listed("webhooks", "list")} == {"acme"}
    assert (
        main(
            [
                "--database",
                url,
                "refunds",
                "request",
                own,
                "--amount",
                "10",
                "--reason",
                "duplicate",
            ]
        )
        == 0
    )
    capsys.readouterr()
    [refund] = listed("refunds", "list")
    assert refund["payment_id"] == own and refund["gateway"] is None


# -- incremental sync: newest first, stopping at the first page with nothing new -------------


def _gets(gw: FakeGateway, route: str) -> int:
    """GET requests the fake has had for a list route (``/payments``, ``/webhooks``)."""
    return sum(
        1
        for r in gw.requests
        if r.method == "GET" and r.path.split("?")[0] == "/api/v1" + route
    )


def _status(ctx, payment_id: str) -> str:
    with ctx.db.read() as s:
        return s.get(Payment, payment_id).status


def _log(ctx, gateway_log_id: str) -> tuple[str, int, int | None]:
    """The stored log's status, attempts and last response code."""
    with ctx.db.read() as s:
        row = s.execute(
            select(WebhookLog.status, WebhookLog.attempts, WebhookLog.response_code).where(
                WebhookLog.gateway == "acme", WebhookLog.gateway_log_id == gateway_log_id
            )
        ).one()
        return row.status, row.attempts, row.response_code


def test_an_incremental_sync_reads_only_the_pages_with_something_new(ctx, gw) -> None:
    gw.seed(payments=40, logs=40)  # 6 pages of 7 in each list
    _connect(ctx, gw)
    first = sync.sync_connection(ctx, "acme")
    assert first.full and first.added == 80
    for _ in range(9):  # the head of the payment list: one full page and 2 rows of the next
        gw.add_payment()
    pays, logs = _gets(gw, "/payments"), _gets(gw, "/webhooks")
    result = sync.sync_connection(ctx, "acme")
    assert not result.full
    assert (result.added, result.updated, result.error) == (9, 0, None)
    assert _count(ctx, Payment) == 49
    # Pages 1 and 2 brought the new ones, page 3 nothing: the rest of the list is not read.
    assert _gets(gw, "/payments") - pays == 3
    assert _gets(gw, "/webhooks") - logs == 1
    again = sync.sync_connection(ctx, "acme")
    assert (again.added, again.updated, again.full) == (0, 0, False)


def test_a_status_change_deep_in_the_list_comes_with_its_webhook_log(ctx, gw) -> None:
    gw.seed(payments=40, logs=40)
    gw.add_payment(status="pending")  # pay_000000000041
    _connect(ctx, gw)
    sync.sync_connection(ctx, "acme")
    for _ in range(20):
        gw.add_payment()  # push it three pages down
    sync.sync_connection(ctx, "acme")
    gw.set_payment_status("pay_000000000041", "success")  # a payment.success log at the head
    gw.set_payment_status("pay_000000000003", "failed")
    result = sync.sync_connection(ctx, "acme")
    assert not result.full
    assert (_status(ctx, "pay_000000000041"), _status(ctx, "pay_000000000003")) == (
        "success",
        "failed",
    )
    assert (result.added, result.updated) == (2, 2)  # the two logs; the two payments


def test_a_change_without_a_log_waits_for_the_periodic_full_pass(ctx, gw, clock) -> None:
    from core.access import policy

    gw.seed(payments=40)
    _connect(ctx, gw)
    policy.set_value(ctx, ADMIN, "gateway_full_sync_minutes", "20")
    sync.sync_connection(ctx, "acme")
    gw.set_payment_status("pay_000000000002", "failed", log=False)
    clock.advance(19 * 60)
    early = sync.sync_connection(ctx, "acme")
    assert not early.full and _status(ctx, "pay_000000000002") == "success"
    clock.advance(60)
    full = sync.sync_connection(ctx, "acme")
    assert full.full and (full.added, full.updated) == (0, 1)
    assert _status(ctx, "pay_000000000002") == "failed"
    # The full pass counts from its start: the next sync is incremental again.
    assert not sync.sync_connection(ctx, "acme").full


def test_an_old_log_retried_is_picked_up_by_the_full_pass(ctx, gw, clock) -> None:
    gw.seed(payments=40, logs=40)
    _connect(ctx, gw)
    sync.sync_connection(ctx, "acme")
    old = str(sorted(gw.state.logs)[1])
    gw.deliver_log(old, "failed")
    assert sync.sync_connection(ctx, "acme").updated == 0
    assert _log(ctx, old)[:2] == ("success", 1)
    clock.advance(60 * 60)  # the default gateway_full_sync_minutes
    result = sync.sync_connection(ctx, "acme")
    assert result.full and (result.added, result.updated) == (0, 1)
    assert _log(ctx, old) == ("failed", 2, 500)


def test_a_log_the_gateway_was_due_to_retry_is_followed_down_the_list(ctx, gw) -> None:
    gw.seed(payments=3)
    pending = gw.add_log("payment.failed", gw.state.payments["pay_000000000001"], "pending")
    pending["next_retry_at"] = gw.stamp(gw._now())  # due long before the test clock's now
    gw.seed(payments=30, logs=30)  # 30 newer logs above it: five pages
    _connect(ctx, gw)
    sync.sync_connection(ctx, "acme")
    assert _log(ctx, pending["id"])[0] == "pending"
    gw.deliver_log(pending["id"], "success")
    logs = _gets(gw, "/webhooks")
    result = sync.sync_connection(ctx, "acme")
    assert not result.full and result.updated == 1
    assert _log(ctx, pending["id"])[:2] == ("success", 2)
    assert _gets(gw, "/webhooks") - logs == 5
    # Delivered: nothing is due any more, and the next sync reads one page.
    logs = _gets(gw, "/webhooks")
    sync.sync_connection(ctx, "acme")
    assert _gets(gw, "/webhooks") - logs == 1


def test_a_gateway_listing_oldest_first_is_read_whole(ctx) -> None:
    gw = FakeGateway(Variation(max_limit=7, order="oldest"))
    try:
        gw.seed(payments=30)
        _connect(ctx, gw)
        sync.sync_connection(ctx, "acme")
        gw.add_payment()
        gw.add_payment()
        result = sync.sync_connection(ctx, "acme")
    finally:
        gw.close()
    assert not result.full and result.added == 2
    assert _count(ctx, Payment) == 32


def test_a_bare_array_is_read_incrementally_too(ctx) -> None:
    gw = FakeGateway(Variation(payment_list="array"))
    try:
        gw.seed(payments=250)  # three of Paydesk's pages of 100
        _connect(ctx, gw)
        assert sync.sync_connection(ctx, "acme").added == 250
        gw.add_payment()
        gw.set_payment_status("pay_000000000250", "failed", log=False)
        result = sync.sync_connection(ctx, "acme")
    finally:
        gw.close()
    assert not result.full and (result.added, result.updated) == (1, 1)
    assert _status(ctx, "pay_000000000250") == "failed"


def test_the_sync_after_a_failed_one_is_a_full_pass(ctx, gw) -> None:
    gw.seed(payments=10)
    _connect(ctx, gw)
    sync.sync_connection(ctx, "acme")
    assert not sync.sync_connection(ctx, "acme").full
    gw.vary(fail_status=503)
    assert sync.sync_connection(ctx, "acme").error
    gw.vary(fail_status=0)
    gw.set_payment_status("pay_000000000001", "failed", log=False)
    result = sync.sync_connection(ctx, "acme")
    assert result.full and result.updated == 1


def test_an_incremental_sync_keeps_the_reasons_of_rows_skipped_deeper(ctx, gw) -> None:
    gw.seed(payments=30)
    gw.state.payments["pay_000000000002"]["amount"] = "12.50"
    _connect(ctx, gw)
    first = sync.sync_connection(ctx, "acme")
    assert len(first.skipped) == 1
    gw.add_payment()
    result = sync.sync_connection(ctx, "acme")
    assert not result.full and result.skipped == [] and result.added == 1
    shown = connections.show_connection(ctx, ADMIN, "acme")
    assert shown.last_sync_outcome == "partial" and shown.skipped == first.skipped


def test_a_payment_id_longer_than_paydesk_keeps_is_skipped_with_its_reason(ctx, gw) -> None:
    gw.seed(payments=3)
    long_id = "pay_" + "x" * 40
    gw.state.payments["pay_000000000002"]["id"] = long_id
    _connect(ctx, gw)
    result = sync.sync_connection(ctx, "acme")
    assert result.error is None and _count(ctx, Payment) == 2
    assert result.skipped == [
        f"Skipped payment {long_id}: its id is longer than the 32 characters Paydesk keeps."
    ]


def test_with_no_full_sync_interval_every_sync_is_a_full_pass(ctx, gw) -> None:
    from core.access import policy

    gw.seed(payments=10)
    _connect(ctx, gw)
    policy.set_value(ctx, ADMIN, "gateway_full_sync_minutes", "0")
    sync.sync_connection(ctx, "acme")
    gw.set_payment_status("pay_000000000001", "failed", log=False)
    result = sync.sync_connection(ctx, "acme")
    assert result.full and result.updated == 1


@pytest.mark.parametrize("value", ["-1", "10081", "soon", "1.5"])
def test_a_full_sync_interval_out_of_range_is_refused(ctx, value) -> None:
    from core.access import policy
    from core.errors import InputError

    add_staff(ctx)
    with pytest.raises(InputError) as err:
        policy.set_value(ctx, ADMIN, "gateway_full_sync_minutes", value)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
    with ctx.db.read() as s:
        assert policy.get(s, "gateway_full_sync_minutes") == 60


def test_changed_gateway_logs_are_announced_without_waking_the_dispatcher(ctx, gw) -> None:
    from core.store import notify

    gw.seed(payments=2, logs=2)
    _connect(ctx, gw)
    heard: list[notify.Notice] = []
    notify.subscribe(heard.append)
    try:
        sync.sync_connection(ctx, "acme")
    finally:
        notify.unsubscribe(heard.append)
    logs = [n for n in heard if n.table == "webhook_logs"]
    assert len(logs) == 1 and len(logs[0].ids) == 2 and logs[0].status is None
