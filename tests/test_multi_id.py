"""Commands that name several refunds are all or none: every id is checked first, and when
any cannot be acted on, nothing changes and the sentence names each such id; otherwise all
change in one transaction. On both databases, through the service and the command line."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from core.errors import InputError, Refused
from core.refunds import many
from core.refunds import processing as proc
from core.refunds import queries as rq
from core.refunds import service as rf
from core.store.models import AuditEvent, Payment
from tests.test_refunds import add_payment, add_staff
from tests.test_refunds_cli import cli  # noqa: F401 — the fixture ``run`` wraps


@pytest.fixture
def run(cli):  # noqa: F811
    """``paydesk --database URL …`` as a finance person: (exit code, stdout, stderr)."""
    return cli


def statuses(ctx, *ids: str) -> list[str]:
    with ctx.db.read() as s:
        return [rq.get(s, i).status for i in ids]


def decisions(ctx) -> int:
    with ctx.db.read() as s:
        return s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action != "refund.request", AuditEvent.entity_type == "refund")
        )


def test_one_bad_id_stops_every_approval_and_each_is_named(ctx, run):
    pid = add_payment(ctx, amount=100_000)
    a = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="duplicate")
    mine = rf.request_refund(ctx, run.person, pid, amount=2_000, reason="duplicate")
    c = rf.request_refund(ctx, "alice", pid, amount=3_000, reason="duplicate")
    code, out, err = run("refunds", "approve", a.id, mine.id, "rfnd_nope", c.id)
    assert (code, out) == (2, "")
    assert err == (
        "paydesk: Nothing was approved (2 of 4 refunds cannot be): "
        f"You requested refund {mine.id}; someone else must approve or reject it; "
        "There is no refund rfnd_nope.\n"
    )
    assert statuses(ctx, a.id, mine.id, c.id) == ["pending_approval"] * 3
    assert decisions(ctx) == 0


def test_every_good_id_is_approved_in_one_go(ctx, run):
    pid = add_payment(ctx, amount=100_000)
    a = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="duplicate")
    b = rf.request_refund(ctx, "alice", pid, amount=2_000, reason="duplicate")
    code, out, err = run("refunds", "approve", a.id, b.id, a.id, "--json")
    assert (code, err) == (0, "")
    assert [(x["id"], x["status"]) for x in json.loads(out)] == [
        (a.id, "approved"),
        (b.id, "approved"),
    ]
    code, out, err = run("refunds", "approve", a.id, b.id)
    assert code == 2 and err.startswith("paydesk: Nothing was approved (2 of 2 refunds cannot be)")


def test_a_failure_while_acting_undoes_the_refunds_already_done(ctx, monkeypatch):
    """The second refund changes under the first's transaction (a race the checks cannot
    see): the first approval is rolled back with it."""
    add_staff(ctx)
    pid = add_payment(ctx, amount=100_000)
    a = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="duplicate")
    b = rf.request_refund(ctx, "alice", pid, amount=2_000, reason="duplicate")
    real_act = many._act
    acted: list[str] = []

    def act(ctx_, actor, action, refund_id, note, session=None):
        acted.append(refund_id)
        if len(acted) == 2:
            raise Refused(f"Refund {refund_id} changed since you looked at it; look again first.")
        return real_act(ctx_, actor, action, refund_id, note, session)

    monkeypatch.setattr(many, "_act", act)
    with pytest.raises(Refused, match="changed since"):
        many.decide_many(ctx, "carol", "approve", [a.id, b.id])
    assert acted == [a.id, b.id]
    assert statuses(ctx, a.id, b.id) == ["pending_approval", "pending_approval"]
    assert decisions(ctx) == 0


def test_reject_and_cancel_several(ctx, run):
    pid = add_payment(ctx, amount=100_000)
    a = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="duplicate")
    b = rf.request_refund(ctx, "alice", pid, amount=2_000, reason="duplicate")
    code, out, err = run("refunds", "reject", a.id, b.id)
    assert (code, out, err) == (2, "", "paydesk: A rejection needs a note saying why.\n")
    code, out, err = run("refunds", "reject", a.id, b.id, "--note", "duplicate order")
    assert (code, err) == (0, "")
    assert out.count(" is rejected by ") == 2
    assert statuses(ctx, a.id, b.id) == ["rejected", "rejected"]

    mine1 = rf.request_refund(ctx, run.person, pid, amount=1_000, reason="duplicate")
    mine2 = rf.request_refund(ctx, run.person, pid, amount=1_000, reason="duplicate")
    theirs = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="duplicate")
    code, out, err = run("refunds", "cancel", mine1.id, theirs.id, mine2.id)
    assert (code, out) == (2, "")
    assert f"Only alice, who requested refund {theirs.id}, can cancel it" in err
    assert statuses(ctx, mine1.id, mine2.id) == ["pending_approval"] * 2
    code, out, err = run("refunds", "cancel", mine1.id, mine2.id, "--json")
    assert code == 0 and [x["status"] for x in json.loads(out)] == ["cancelled", "cancelled"]


def test_a_role_that_may_not_decide_is_told_once(ctx, run):
    pid = add_payment(ctx, amount=100_000)
    a = rf.request_refund(ctx, "root", pid, amount=1_000, reason="duplicate")
    b = rf.request_refund(ctx, "root", pid, amount=2_000, reason="duplicate")
    with pytest.raises(Refused, match=r"^Only finance or admin staff can approve") as caught:
        many.decide_many(ctx, "alice", "approve", [a.id, b.id])
    assert a.id not in caught.value.message
    assert statuses(ctx, a.id, b.id) == ["pending_approval"] * 2


def test_retries_are_checked_together_against_what_the_payment_has_left(ctx, run):
    pid = add_payment(ctx, amount=100_000)

    def failed_refund(amount: int) -> str:
        r = rf.request_refund(ctx, "alice", pid, amount=amount, reason="duplicate")
        rf.approve(ctx, "carol", r.id)
        with ctx.db.write() as s:
            s.execute(update(Payment).where(Payment.id == pid).values(captured=False))
        proc.process_due(ctx, "w")
        with ctx.db.write() as s:
            s.execute(update(Payment).where(Payment.id == pid).values(captured=True))
        return r.id

    a, b = failed_refund(60_000), failed_refund(60_000)
    assert statuses(ctx, a, b) == ["failed", "failed"]
    code, out, err = run("refunds", "retry", a, b)
    assert (code, out) == (2, "")
    assert err.startswith("paydesk: Nothing was retried (1 of 2 refunds cannot be): ")
    assert f"refund {b}: The refund of " in err and a not in err
    assert statuses(ctx, a, b) == ["failed", "failed"]
    code, out, err = run("refunds", "retry", a, "--json")
    assert code == 0 and json.loads(out)["status"] == "approved"


def test_the_views_multi_approve_still_reports_each(ctx):
    add_staff(ctx)
    pid = add_payment(ctx, amount=100_000)
    a = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="duplicate")
    mine = rf.request_refund(ctx, "carol", pid, amount=2_000, reason="duplicate")
    results = many.approve_many(ctx, "carol", [a.id, mine.id])
    assert [(r.refund_id, r.ok) for r in results] == [(a.id, True), (mine.id, False)]
    assert statuses(ctx, a.id, mine.id) == ["approved", "pending_approval"]


def test_no_ids_is_bad_input(ctx):
    add_staff(ctx)
    with pytest.raises(InputError, match="Name at least one refund"):
        many.decide_many(ctx, "carol", "approve", [" ", ""])
