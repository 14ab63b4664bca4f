"""``paydesk refunds …`` end to end through ``core.cli.main``, on both databases.

In standalone mode the person is ``PAYDESK_ACTOR``; in shared mode it is the database login
(``postgres`` here), so the other person of a four-eyes pair acts through the service."""

from __future__ import annotations

import functools
import json

import pytest
from sqlalchemy import update

from core.access import roles
from core.cli import main
from core.context import Context
from core.refunds import processing as proc
from core.refunds import queries as rq
from core.refunds import service as rf
from core.store.models import AuditEvent, Payment, Refund
from tests.test_refunds import add_payment, add_staff, count, refunded_amount


@pytest.fixture
def cli(ctx, db_url, clock, monkeypatch, capsys):
    """Run ``paydesk --database URL …`` as the CLI person, on the test's clock; returns
    (exit code, stdout, stderr)."""
    add_staff(ctx)
    monkeypatch.setattr("core.cli.common.Context", functools.partial(Context, clock=clock))
    person = "postgres" if ctx.db.is_postgres else "bob"
    roles.set_staff_role(ctx, "root", person, "finance")
    monkeypatch.setenv("PAYDESK_ACTOR", person)

    def run(*argv: str, actor: str | None = None) -> tuple[int, str, str]:
        if actor is not None:
            monkeypatch.setenv("PAYDESK_ACTOR", actor)
        try:
            code = main(["--database", db_url, *argv])
        finally:
            monkeypatch.setenv("PAYDESK_ACTOR", person)
        out, err = capsys.readouterr()
        return code, out, err

    run.person = person  # type: ignore[attr-defined]
    return run


def test_request_prints_the_refund_as_json_and_approval_by_someone_else(ctx, cli):
    pid = add_payment(ctx, amount=10_000)
    code, out, err = cli(
        "refunds", "request", pid, "--amount", "12.50", "--reason", "requested_by_customer",
        "--note", "damaged", "--idempotency-key", "k-1", "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    r = json.loads(out)
    assert {k: r[k] for k in ("payment_id", "amount", "currency", "kind", "reason", "status")} == {
        "payment_id": pid,
        "amount": 1_250,
        "currency": "INR",
        "kind": "partial",
        "reason": "requested_by_customer",
        "status": "pending_approval",
    }
    assert r["requested_by"] == cli.person and r["decided_by"] is None
    assert r["id"].startswith("rfnd_") and r["merchant_id"] and r["created_at"].endswith("Z")
    # Four eyes: the requester cannot approve it.
    code, out, err = cli("refunds", "approve", r["id"])
    assert code == 2 and out == ""
    assert (
        err == f"paydesk: You requested refund {r['id']}; someone else must approve or reject it.\n"
    )
    # A different person (through the service on Postgres) approves it.
    approved = rf.approve(ctx, "carol", r["id"])
    assert approved.status == "approved"


def test_approve_reject_cancel_retry_list_and_show(ctx, cli, clock):
    pid = add_payment(ctx, amount=100_000)
    a = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="duplicate")
    clock.advance(1)
    b = rf.request_refund(ctx, "alice", pid, amount=2_000, reason="duplicate")
    clock.advance(1)
    code, out, _ = cli("refunds", "approve", a.id, "--json")
    assert code == 0 and json.loads(out)["status"] == "approved"
    assert json.loads(out)["decided_by"] == cli.person

    code, _, err = cli("refunds", "reject", b.id)
    assert (code, err) == (2, "paydesk: A rejection needs a note saying why.\n")
    code, out, _ = cli("refunds", "reject", b.id, "--note", "not a duplicate", "--json")
    assert code == 0 and json.loads(out)["status"] == "rejected"

    clock.advance(1)
    code, out, _ = cli("refunds", "request", pid, "--amount", "5", "--reason", "duplicate", "--json")
    mine = json.loads(out)["id"]
    code, out, _ = cli("refunds", "cancel", mine, "--json")
    assert code == 0 and json.loads(out)["status"] == "cancelled"

    with ctx.db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(captured=False))
    proc.process_due(ctx, "w")
    with ctx.db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(captured=True))
    code, out, _ = cli("refunds", "retry", a.id, "--json")
    assert code == 0 and json.loads(out)["status"] == "approved"
    proc.process_due(ctx, "w")

    code, out, _ = cli("refunds", "list", "--payment", pid, "--json")
    listed = json.loads(out)
    assert [(x["id"], x["status"]) for x in listed] == [
        (mine, "cancelled"),
        (b.id, "rejected"),
        (a.id, "processed"),
    ]
    code, out, _ = cli("refunds", "list", "--status", "rejected", "--json")
    assert [x["id"] for x in json.loads(out)] == [b.id]

    code, out, _ = cli("refunds", "show", a.id, "--json")
    d = json.loads(out)
    assert d["refund"]["status"] == "processed" and d["payment"]["id"] == pid
    assert d["refundable"] == 99_000
    assert [e["action"] for e in d["audit"]] == [
        "refund.request",
        "refund.approve",
        "refund.fail",
        "refund.retry",
        "refund.process",
    ]
    code, out, _ = cli("refunds", "show", a.id)
    assert code == 0 and f"Refund {a.id} of ₹10.00" in out and "refund.process" in out
    code, out, _ = cli("refunds", "list")
    assert code == 0 and a.id in out and "₹20.00" in out


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (["--amount", "12.345"], "INR amounts have at most 2 decimal places; '12.345' has more."),
        (["--amount", "0"], "The amount must be greater than zero."),
        (["--amount", "-3"], "The amount must be greater than zero."),
        (["--amount", "abc"], "'abc' is not an amount."),
        (["--amount", "2000"], "exceeds the ₹1,000.00 still refundable"),
        ([], "Say how much: --amount, --full or --pro-rata."),
        (["--pro-rata"], "is not a subscription payment"),
        (["--amount", "1", "--reason", "whim"], "'whim' is not a refund reason"),
    ],
)
def test_bad_request_exits_2_with_the_sentence_and_writes_nothing(ctx, cli, argv, sentence):
    pid = add_payment(ctx, amount=100_000)
    if "--reason" not in argv:
        argv = [*argv, "--reason", "duplicate"]
    code, out, err = cli("refunds", "request", pid, *argv)
    assert code == 2 and out == ""
    assert err.startswith("paydesk: ") and sentence in err and err.count("\n") == 1
    assert count(ctx, Refund) == 0 and refunded_amount(ctx, pid) == 0
    assert count(ctx, AuditEvent, AuditEvent.action.like("refund.%")) == 0


def test_request_of_an_unknown_payment_exits_2(cli):
    code, _, err = cli("refunds", "request", "pay_missing", "--amount", "1", "--reason", "duplicate")
    assert (code, err) == (2, "paydesk: There is no payment pay_missing.\n")


def test_approving_several_is_all_or_none_and_exits_2_when_one_is_refused(ctx, cli):
    pid = add_payment(ctx, amount=100_000)
    a = rf.request_refund(ctx, "alice", pid, amount=100, reason="duplicate")
    b = rf.request_refund(ctx, "alice", pid, amount=200, reason="duplicate")
    rf.approve(ctx, "carol", b.id)
    code, out, err = cli("refunds", "approve", a.id, b.id, "--json")
    assert (code, out) == (2, "")
    assert f"Refund {b.id} was already approved by carol at " in err
    with ctx.db.read() as s:
        assert rq.get(s, a.id).status == "pending_approval"


def test_two_people_in_standalone_mode_by_paydesk_actor(ctx, cli):
    if ctx.db.is_postgres:
        pytest.skip("PAYDESK_ACTOR names the person in standalone mode only")
    pid = add_payment(ctx, amount=100_000)
    code, out, _ = cli(
        "refunds", "request", pid, "--full", "--reason", "fraudulent", "--json", actor="alice"
    )
    r = json.loads(out)
    assert (code, r["requested_by"], r["kind"], r["amount"]) == (0, "alice", "full", 100_000)
    code, _, err = cli("refunds", "approve", r["id"], actor="erin")
    assert (
        code == 2
        and "Only finance or admin staff can approve or reject refunds; erin is support." in err
    )
    code, out, _ = cli("refunds", "approve", r["id"], actor="carol")
    assert code == 0 and out == f"Refund {r['id']} of ₹1,000.00 on {pid} is approved by carol.\n"
