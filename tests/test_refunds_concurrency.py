"""What must hold when people and workers act at the same moment (issue 3), on both databases.

Every thread opens its own Database (its own engine and connections), as separate staff
machines or worker processes would."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, insert, select

from core.context import Context
from core.errors import Conflict, Refused
from core.refunds import processing as proc
from core.refunds import queries as rq
from core.refunds import service as rf
from core.store.db import open_database
from core.store.models import AuditEvent, Payment, Refund, WebhookLog
from tests.test_refunds import MERCHANT, T0, add_merchant, add_payment, add_staff, refunded_amount


@contextmanager
def separate_contexts(db_url: str, clock: Any, n: int) -> Iterator[list[Context]]:
    contexts = [
        Context(db=open_database(db_url), clock=clock, client_id=f"copy-{i}") for i in range(n)
    ]
    try:
        yield contexts
    finally:
        for c in contexts:
            c.db.dispose()


def run_together(fns: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Start every fn at the same moment; each result is ("ok", value) or ("error", exc)."""
    barrier = threading.Barrier(len(fns))
    results: list[tuple[str, Any]] = [("missing", None)] * len(fns)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = ("ok", fns[i]())
        except Exception as exc:
            results[i] = ("error", exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def test_twenty_simultaneous_partial_refunds_never_exceed_the_payment(ctx, db_url, clock):
    add_staff(ctx)
    pid = add_payment(ctx, amount=100_000)
    # 20 requests of ₹100.00 on a ₹1,000.00 payment: twice what it can give.
    with separate_contexts(db_url, clock, 20) as copies:
        results = run_together(
            [
                lambda c=c: rf.request_refund(
                    c, "alice", pid, amount=10_000, reason="requested_by_customer"
                )
                for c in copies
            ]
        )
    accepted = [v for kind, v in results if kind == "ok"]
    refused = [v for kind, v in results if kind == "error"]
    assert sum(r.amount for r in accepted) == 100_000
    assert len(accepted) == 10 and len(refused) == 10
    for exc in refused:
        assert isinstance(exc, Refused), repr(exc)
        assert exc.message.startswith("The refund of ₹100.00 exceeds the ₹0.00 still refundable")
    assert refunded_amount(ctx, pid) == 100_000
    with ctx.db.read() as s:
        stored = s.scalar(select(func.sum(Refund.amount)).where(Refund.payment_id == pid))
        audits = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "refund.request")
        )
    assert stored == 100_000 and audits == 10


def test_two_simultaneous_approvals_one_wins_and_the_other_is_told_who(ctx, db_url, clock):
    add_staff(ctx)
    r = rf.request_refund(
        ctx, "alice", add_payment(ctx), amount=1_000, reason="requested_by_customer"
    )
    with separate_contexts(db_url, clock, 2) as (c1, c2):
        results = run_together(
            [lambda: rf.approve(c1, "bob", r.id), lambda: rf.approve(c2, "carol", r.id)]
        )
    wins = [v for kind, v in results if kind == "ok"]
    losses = [v for kind, v in results if kind == "error"]
    assert len(wins) == 1 and len(losses) == 1
    winner = wins[0].decided_by
    assert isinstance(losses[0], Conflict), repr(losses[0])
    assert losses[0].message.startswith(f"Refund {r.id} was already approved by {winner} at ")
    with ctx.db.read() as s:
        view = rq.get(s, r.id)
        trail = rq.audit_trail(s, r.id)
    assert (view.status, view.decided_by, view.version) == ("approved", winner, 2)
    assert [(e.action, e.actor) for e in trail] == [
        ("refund.request", "alice"),
        ("refund.approve", winner),
    ]


def test_same_idempotency_key_at_the_same_moment_creates_one_refund(ctx, db_url, clock):
    add_staff(ctx)
    pid = add_payment(ctx)
    with separate_contexts(db_url, clock, 6) as copies:
        results = run_together(
            [
                lambda c=c: rf.request_refund(
                    c, "alice", pid, amount=500, reason="duplicate", idempotency_key="dlg-7"
                )
                for c in copies
            ]
        )
    assert all(kind == "ok" for kind, _ in results), results
    assert len({v.id for _, v in results}) == 1
    assert refunded_amount(ctx, pid) == 500


def _approved_refunds(ctx: Context, n: int) -> list[str]:
    """``n`` approved refunds (10 per ₹100.00 payment, ₹10.00 each), inserted directly."""
    add_merchant(ctx)
    payments, refunds = [], []
    for p in range(n // 10):
        pid = f"pay_c{p:012d}"
        payments.append(
            {
                "id": pid,
                "merchant_id": MERCHANT,
                "order_id": f"o{p}",
                "amount": 10_000,
                "currency": "INR",
                "method": "upi",
                "status": "success",
                "captured": True,
                "refunded_amount": 10_000,
                "created_at": T0,
                "updated_at": T0,
            }
        )
        for k in range(10):
            refunds.append(
                {
                    "id": f"rfnd_c{p:09d}{k:03d}",
                    "payment_id": pid,
                    "merchant_id": MERCHANT,
                    "amount": 1_000,
                    "currency": "INR",
                    "kind": "partial",
                    "reason": "other",
                    "status": "approved",
                    "requested_by": "alice",
                    "decided_by": "bob",
                    "decided_at": T0,
                    "version": 2,
                    "created_at": T0,
                    "updated_at": T0,
                }
            )
    with ctx.db.write() as s:
        s.execute(insert(Payment), payments)
        s.execute(insert(Refund), refunds)
    return [r["id"] for r in refunds]


def test_two_workers_process_each_refund_exactly_once(ctx, db_url, clock):
    ids = _approved_refunds(ctx, 1_000)

    def drain(c: Context) -> int:
        done = 0
        while True:
            # Small rounds so both workers interleave many claims.
            n = proc.process_due(c, c.client_id, limit=50)
            if n == 0:
                return done
            done += n

    with separate_contexts(db_url, clock, 2) as (w1, w2):
        results = run_together([lambda: drain(w1), lambda: drain(w2)])
    assert all(kind == "ok" for kind, _ in results), results
    assert sum(v for _, v in results) == 1_000
    with ctx.db.read() as s:
        statuses = Counter(s.scalars(select(Refund.status)))
        per_refund = Counter(
            s.scalars(select(WebhookLog.entity_id).where(WebhookLog.event == "refund.processed"))
        )
        processed_audits = Counter(
            s.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "refund.process"))
        )
    assert statuses == {"processed": 1_000}
    assert set(per_refund) == set(ids) and set(per_refund.values()) == {1}
    assert set(processed_audits) == set(ids) and set(processed_audits.values()) == {1}
