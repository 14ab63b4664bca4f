"""The command line writes every time in UTC and says so once, in the column header or after
the value, whatever the machine's zone: ``payments``, ``refunds`` and ``webhooks`` alike."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from core.store.models import Payment
from core.webhooks.deliveries import send_test_event
from tests.test_refunds import MERCHANT, T0, add_payment
from tests.test_refunds_cli import cli  # noqa: F401 — the fixture ``run`` wraps


@pytest.fixture
def run(cli, monkeypatch):  # noqa: F811
    """The CLI on a machine in Kolkata (UTC+5:30), so a local time would show."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield cli
    monkeypatch.delenv("TZ")
    time.tzset()


def _created(ctx, pid: str):
    with ctx.db.read() as s:
        return s.scalar(select(Payment.created_at).where(Payment.id == pid))


def test_payments_list_writes_utc_and_labels_the_column(ctx, run):
    pid = add_payment(ctx, amount=10_000)
    code, out, err = run("payments", "list")
    assert (code, err) == (0, "")
    head, row = out.splitlines()[:2]
    assert head.startswith("created (UTC)")
    created = _created(ctx, pid)
    assert row.startswith(created.strftime("%Y-%m-%d %H:%M"))
    local = created.astimezone().strftime("%Y-%m-%d %H:%M")
    assert local != created.strftime("%Y-%m-%d %H:%M") and local not in row


def test_refunds_list_and_show_write_utc(ctx, run):
    pid = add_payment(ctx, amount=10_000)
    code, out, err = run("refunds", "request", pid, "--amount", "10", "--reason", "duplicate",
                         "--json")  # fmt: skip
    assert code == 0, err
    refund_id = json.loads(out)["id"]
    code, out, err = run("refunds", "list")
    assert code == 0, err
    head, row = out.splitlines()[:2]
    assert head.startswith("requested (UTC)")
    assert row.startswith(T0.strftime("%Y-%m-%d %H:%M"))  # 12:00 UTC, 17:30 in Kolkata
    # The table writes the status as the app does; --json keeps the stored value.
    assert row.rstrip().endswith("Awaiting approval")
    code, out, err = run("refunds", "list", "--json")
    assert json.loads(out)[0]["status"] == "pending_approval"
    code, out, err = run("refunds", "show", refund_id)
    assert code == 0, err
    assert "Audit trail (UTC):" in out
    assert f"  {T0:%Y-%m-%d %H:%M:%S}  " in out and "17:30" not in out


def test_webhooks_list_and_show_write_utc(ctx, run):
    add_payment(ctx)  # the merchant, with an endpoint
    log_id = send_test_event(ctx, "root", MERCHANT)
    code, out, err = run("webhooks", "list")
    assert code == 0, err
    head, row = out.splitlines()[:2]
    assert head.startswith("created (UTC)") and "next retry (UTC)" in head
    assert row.startswith(f"{T0:%Y-%m-%d %H:%M:%S}")
    code, out, err = run("webhooks", "show", log_id)
    assert code == 0, err
    assert f"created    {T0:%Y-%m-%d %H:%M:%S} UTC" in out
    assert "17:30" not in out


def test_merchants_show_labels_its_times_utc(ctx, run):
    add_payment(ctx)
    code, out, err = run("merchants", "set-webhook", MERCHANT, "--url",
                         "https://shop.example.com/hook", "--rotate-secret", actor="root")  # fmt: skip
    assert code == 0, err
    code, out, err = run("merchants", "show", MERCHANT, actor="root")
    assert code == 0, err
    assert f"rotated      {T0:%Y-%m-%d %H:%M} UTC" in out
