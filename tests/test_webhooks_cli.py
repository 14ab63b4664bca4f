"""``paydesk webhooks …`` and ``paydesk merchants …`` end to end, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import undefer

from core.access import roles
from core.cli import main
from core.context import Context
from core.store.models import Merchant, WebhookLog
from core.webhooks import deliveries as webhooks
from tests.webhook_receiver import ADMIN, Receiver, add_log, add_merchant, add_staff


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def cli(ctx: Context, db_url: str, monkeypatch, capsys):
    """Run ``paydesk --database <test db> …`` as the admin; returns (exit code, out, err)."""
    monkeypatch.setenv("PAYDESK_ACTOR", ADMIN)
    add_staff(ctx)
    me = ctx.default_actor()  # the Postgres login in shared mode
    if me != ADMIN:
        roles.set_staff_role(ctx, ADMIN, me, "admin")

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--database", db_url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    run.actor = me  # type: ignore[attr-defined]
    return run


def merchant(ctx: Context, merchant_id: str = "mer_A") -> Merchant:
    with ctx.db.read() as s:
        m = s.get(Merchant, merchant_id, options=[undefer("*")])
        s.expunge_all()
        return m


def log_status(ctx: Context, log_id: str) -> str:
    with ctx.db.read() as s:
        return s.get(WebhookLog, log_id).status


def fail(ctx: Context, *log_ids: str) -> None:
    with ctx.db.write() as s:
        for log_id in log_ids:
            log = s.get(WebhookLog, log_id)
            log.status, log.attempts, log.next_retry_at = "failed", 5, None


def test_set_webhook_with_a_bad_url_exits_2_with_one_sentence(ctx, cli):
    add_merchant(ctx)
    code, out, err = cli("merchants", "set-webhook", "mer_A", "--url", "ftp://shop.example/x")
    assert code == 2 and out == ""
    assert err.strip() == (
        "paydesk: 'ftp://shop.example/x' is not a webhook URL: it must start with http:// or https://."
    )
    assert merchant(ctx).webhook_url is None


def test_set_webhook_then_list_and_show_mask_the_secret_unless_revealed(ctx, cli):
    add_merchant(ctx)
    code, out, _ = cli("merchants", "set-webhook", "mer_A", "--url", "https://shop.example/hooks")
    assert code == 0 and "https://shop.example/hooks" in out
    secret = merchant(ctx).webhook_secret
    code, out, _ = cli("merchants", "list", "--json")
    [row] = json.loads(out)
    assert {k: row[k] for k in ("id", "name", "webhook_url", "webhook_enabled")} == {
        "id": "mer_A",
        "name": "Shop A",
        "webhook_url": "https://shop.example/hooks",
        "webhook_enabled": True,
    }
    assert secret not in out
    code, out, _ = cli("merchants", "show", "mer_A", "--json")
    assert "webhook_secret" not in json.loads(out) and secret not in out
    code, out, _ = cli("merchants", "show", "mer_A")
    assert f"whsec_…{secret[-4:]}" in out and secret not in out
    code, out, _ = cli("merchants", "show", "mer_A", "--reveal-secret", "--json")
    assert json.loads(out)["webhook_secret"] == secret


def test_rotate_secret_keeps_the_previous_one(ctx, cli):
    add_merchant(ctx, url="https://shop.example/hooks")
    old = merchant(ctx).webhook_secret
    code, out, _ = cli(
        "merchants", "set-webhook", "mer_A", "--url", "https://shop.example/v2", "--rotate-secret"
    )
    assert code == 0 and "previous one keeps signing" in out
    m = merchant(ctx)
    assert m.webhook_secret_previous == old and m.webhook_secret != old


def test_disable_and_enable(ctx, cli):
    add_merchant(ctx, url="https://shop.example/hooks")
    assert cli("merchants", "disable", "mer_A", "--reason", "Paused")[0] == 0
    assert not merchant(ctx).webhook_enabled
    code, out, _ = cli("merchants", "enable", "mer_A", "--json")
    assert code == 0 and json.loads(out)["webhook_enabled"] is True


def test_unknown_merchant_exits_2(ctx, cli):
    code, _, err = cli("merchants", "show", "mer_zzz")
    assert code == 2 and err.strip() == "paydesk: There is no merchant mer_zzz."


def test_webhooks_test_delivers_a_signed_ping_and_prints_the_outcome(ctx, cli, receiver):
    secret = add_merchant(ctx, url=receiver.url("/ok"))
    receiver.secrets = [secret]
    code, out, err = cli("webhooks", "test", "--merchant", "mer_A")
    assert code == 0, err
    assert "delivered: HTTP 200" in out
    [got] = receiver.received
    assert got.verified_with == [secret]
    assert json.loads(got.body)["event"] == "test.ping"


def test_webhooks_test_to_a_failing_endpoint_exits_1_with_the_reason(ctx, cli, receiver):
    add_merchant(ctx, url=receiver.url("/status/500"))
    code, out, _ = cli("webhooks", "test", "--merchant", "mer_A", "--json")
    assert code == 1
    result = json.loads(out)
    assert (result["ok"], result["response_code"], result["error"]) == (
        False,
        500,
        "HTTP 500 Internal Server Error",
    )


def test_list_json_carries_the_documented_fields_and_filters(ctx, cli):
    add_merchant(ctx, url="https://shop.example/hooks")
    a = add_log(ctx)
    b = add_log(ctx, event="refund.processed", entity_id="rfnd_1")
    fail(ctx, a)
    code, out, _ = cli("webhooks", "list", "--json")
    rows = json.loads(out)
    assert {r["id"] for r in rows} == {a, b}
    for key in (
        "id",
        "merchant_id",
        "event",
        "status",
        "attempts",
        "response_code",
        "next_retry_at",
        "created_at",
    ):
        assert key in rows[0]
    code, out, _ = cli("webhooks", "list", "--status", "failed", "--json")
    assert [r["id"] for r in json.loads(out)] == [a]
    code, out, _ = cli("webhooks", "list", "--event", "refund.processed")
    assert b in out and a not in out
    code, out, _ = cli("webhooks", "list", "--search", "rfnd_1", "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [b]


def test_show_prints_payload_and_attempts(ctx, cli, receiver):
    add_merchant(ctx, url=receiver.url("/status/503"))
    log_id = add_log(ctx)
    from core.webhooks.dispatcher import Dispatcher

    d = Dispatcher(ctx, concurrency=1)
    try:
        d.run_until_idle()
    finally:
        d.close()
    code, out, _ = cli("webhooks", "show", log_id, "--json")
    data = json.loads(out)
    assert data["payload"]["data"]["payment_id"] == "pay_1"
    [attempt] = data["attempt_history"]
    assert (attempt["number"], attempt["response_code"], attempt["error"]) == (
        1,
        503,
        "HTTP 503 Service Unavailable",
    )
    code, out, _ = cli("webhooks", "show", log_id)
    assert code == 0
    assert "HTTP 503 Service Unavailable" in out and '"payment_id": "pay_1"' in out


def test_retry_by_id_and_unknown_id(ctx, cli):
    add_merchant(ctx, url="https://shop.example/hooks")
    log_id = add_log(ctx)
    fail(ctx, log_id)
    code, out, _ = cli("webhooks", "retry", log_id)
    assert code == 0 and log_id in out
    assert log_status(ctx, log_id) == "pending"
    code, _, err = cli("webhooks", "retry", "msg_missing")
    assert code == 2 and err.strip() == "paydesk: There is no webhook log msg_missing."


def test_retry_failed_without_yes_off_a_terminal_prints_the_count_and_changes_nothing(ctx, cli):
    add_merchant(ctx, url="https://shop.example/hooks")
    ids = [add_log(ctx) for _ in range(3)]
    fail(ctx, *ids)
    code, out, err = cli("webhooks", "retry", "--failed", "--merchant", "mer_A")
    assert code == 2
    assert "3 failed deliveries match." in out
    assert "Add --yes" in err
    assert {log_status(ctx, i) for i in ids} == {"failed"}


def test_retry_failed_with_yes_retries_them_all(ctx, cli):
    add_merchant(ctx, url="https://shop.example/hooks")
    ids = [add_log(ctx) for _ in range(3)]
    fail(ctx, *ids)
    code, out, _ = cli("webhooks", "retry", "--failed", "--since", "2026-01-01", "--yes", "--json")
    assert code == 0 and json.loads(out) == {"matching": 3, "retried": 3}
    assert {log_status(ctx, i) for i in ids} == {"pending"}


def test_retry_failed_asks_on_a_terminal(ctx, cli, monkeypatch):
    add_merchant(ctx, url="https://shop.example/hooks")
    ids = [add_log(ctx) for _ in range(2)]
    fail(ctx, *ids)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    code, out, _ = cli("webhooks", "retry", "--failed")
    assert code == 1 and "Nothing was retried." in out
    assert {log_status(ctx, i) for i in ids} == {"failed"}
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    code, out, _ = cli("webhooks", "retry", "--failed")
    assert code == 0 and "2 deliveries are due now." in out


def test_retry_failed_matching_nothing_says_so(ctx, cli):
    code, out, _ = cli("webhooks", "retry", "--failed", "--event", "nothing.here")
    assert code == 0 and "No failed deliveries match" in out


def test_retry_with_a_bad_time_exits_2(ctx, cli):
    code, _, err = cli("webhooks", "retry", "--failed", "--since", "yesterday", "--yes")
    assert code == 2 and "'yesterday' is not a time for --since" in err


def test_retry_without_ids_or_failed_exits_2(ctx, cli):
    code, _, err = cli("webhooks", "retry")
    assert code == 2 and "Name the logs to retry" in err


def test_retry_by_finance_is_refused_with_exit_2(ctx, cli):
    if ctx.db.is_postgres:
        pytest.skip("in shared mode the command acts as the database login, an owner here")
    add_merchant(ctx, url="https://shop.example/hooks")
    log_id = add_log(ctx)
    fail(ctx, log_id)
    roles.set_staff_role(ctx, ADMIN, cli.actor, "finance")
    code, _, err = cli("webhooks", "retry", log_id)
    assert code == 2 and "Only support or admin staff can retry webhook deliveries" in err
    assert log_status(ctx, log_id) == "failed"


def test_bulk_retry_is_audited_with_the_filter(ctx, cli):
    add_merchant(ctx, url="https://shop.example/hooks")
    log_id = add_log(ctx)
    fail(ctx, log_id)
    assert cli("webhooks", "retry", "--failed", "--merchant", "mer_A", "--yes")[0] == 0
    from sqlalchemy import select

    from core.store.models import AuditEvent

    with ctx.db.read() as s:
        details = s.scalar(
            select(AuditEvent.details).where(AuditEvent.action == "webhook.bulk_retry")
        )
    assert json.loads(details) == {
        "count": 1,
        "filter": {"merchant_id": "mer_A", "status": "failed"},
    }
    assert webhooks.RETRYABLE == ("failed", "pending")
