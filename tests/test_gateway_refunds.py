"""Refunds of gateway payments through the fake gateway (real HTTP on 127.0.0.1), on SQLite
and Postgres: sent once, failed with the gateway's sentence, a lost answer found by a sync or
left for a person in Needs check, and the fault test of 200 refunds with 1 in 5 answers lost."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.access import policy
from core.errors import Refused
from core.gateway import connections, refund_review, secrets, sync
from core.refunds import processing as proc
from core.refunds import service as rf
from core.store.models import AuditEvent, Payment, Refund, WebhookLog
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.webhook_receiver import ADMIN, FINANCE, SUPPORT, add_staff


@pytest.fixture
def make() -> Iterator[object]:
    started: list[FakeGateway] = []

    def start(**variation: object) -> FakeGateway:
        gw = FakeGateway(Variation(**variation))  # type: ignore[arg-type]
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.close()


def _connect(ctx, gw: FakeGateway, payments: int = 3) -> list[str]:
    gw.seed(payments=payments)
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    assert sync.sync_connection(ctx, "acme").error is None
    return sorted(gw.state.payments)


def _approved(ctx, payment_id: str, amount: int = 1_000) -> str:
    r = rf.request_refund(ctx, SUPPORT, payment_id, amount=amount, reason="requested_by_customer")
    return rf.approve(ctx, FINANCE, r.id).id


def _refund(ctx, refund_id: str) -> Refund:
    with ctx.db.read() as s:
        r = s.get(Refund, refund_id)
        assert r is not None
        s.expunge(r)
        return r


def _posts(gw: FakeGateway) -> list:
    # Refund POSTs, without the route probe of adding the connection.
    return [
        q
        for q in gw.requests
        if q.method == "POST" and q.path.endswith("/refunds") and "paydeskprobe" not in q.path
    ]


def _actions(ctx, refund_id: str) -> list[str]:
    with ctx.db.read() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity_id == refund_id)
                .order_by(AuditEvent.id)
            )
        )


def test_an_approved_refund_is_sent_once_and_processed_when_the_gateway_says_so(ctx, make):
    gw = make()
    pays = _connect(ctx, gw)
    rid = _approved(ctx, pays[0])
    assert proc.process_round(ctx, "w").sent == 1
    (post,) = _posts(gw)
    body = json.loads(post.body)
    assert post.path == f"/api/v1/payments/{pays[0]}/refunds"
    assert post.headers["idempotency-key"] == rid
    assert body["amount"] == 1_000 and body["idempotency_key"] == rid and rid in body["reason"]
    r = _refund(ctx, rid)
    (at_gateway,) = gw.refunds_of(pays[0])
    assert (r.status, r.gateway, r.gateway_refund_id) == ("processing", "acme", at_gateway["id"])
    assert r.gateway_outcome is None
    assert proc.process_round(ctx, "w").handled == 0  # nothing sent twice
    sync.sync_connection(ctx, "acme")
    assert _refund(ctx, rid).status == "processing"  # the gateway has not processed it yet
    gw.process_refunds()
    sync.sync_connection(ctx, "acme")
    assert _refund(ctx, rid).status == "processed"
    assert len(_posts(gw)) == 1
    with ctx.db.read() as s:
        assert s.get(Payment, pays[0]).refunded_amount == 1_000
        own = s.scalars(
            select(WebhookLog).where(WebhookLog.entity_id == rid, WebhookLog.gateway.is_(None))
        ).all()
        assert [w.event for w in own] == ["refund.processed"]
    assert _actions(ctx, rid)[-2:] == ["refund.gateway_send", "refund.process"]


def test_the_gateway_reports_processed_by_id_without_lists(ctx, make):
    gw = make(refund_list=False)
    pays = _connect(ctx, gw)
    rid = _approved(ctx, pays[0])
    proc.process_round(ctx, "w")
    with gw.lock:
        for ref in gw.state.refunds.values():
            ref["status"] = "processed"
            ref["processed_at"] = gw.stamp(gw._now())  # no log: only a look-up by id sees it
    sync.sync_connection(ctx, "acme")
    assert _refund(ctx, rid).status == "processed"
    assert any(q.path.startswith("/api/v1/refunds/") for q in gw.requests)


def test_a_400_fails_the_refund_with_the_gateways_sentence(ctx, make):
    gw = make()
    pays = _connect(ctx, gw)
    with gw.lock:  # refunded at the gateway's dashboard; Paydesk does not know yet
        gw._create_refund(gw.state.payments[pays[0]], 9_500, "dashboard")
    rid = _approved(ctx, pays[0], 1_000)
    assert proc.process_round(ctx, "w").failed == 1
    r = _refund(ctx, rid)
    assert r.status == "failed"
    assert r.failure_reason == "Refund amount exceeds available amount."
    with ctx.db.read() as s:
        assert s.get(Payment, pays[0]).refunded_amount == 0


def test_a_lost_answer_is_never_sent_again_and_a_sync_finds_and_links_it(ctx, make):
    gw = make(refund_list=True, drop_refund_every=1)
    pays = _connect(ctx, gw)
    rid = _approved(ctx, pays[0])
    assert proc.process_round(ctx, "w").unknown == 1
    r = _refund(ctx, rid)
    assert (r.status, r.gateway_outcome, r.gateway_refund_id) == ("processing", "unknown", None)
    assert "the answer was lost" in (r.gateway_evidence or "")
    for _ in range(3):
        proc.process_round(ctx, "w")
    assert len(_posts(gw)) == 1
    sync.sync_connection(ctx, "acme")
    r = _refund(ctx, rid)
    assert r.gateway_outcome is None
    assert r.gateway_refund_id == gw.refunds_of(pays[0])[0]["id"]
    assert "refund.gateway_found" in _actions(ctx, rid)
    with ctx.db.read() as s:  # found, not added as a second refund
        assert s.scalar(select(func.count()).select_from(Refund)) == 1


def test_a_lost_answer_is_found_in_the_refund_processed_payload(ctx, make):
    gw = make(drop_refund_every=1)
    pays = _connect(ctx, gw)
    rid = _approved(ctx, pays[0])
    proc.process_round(ctx, "w")
    gw.process_refunds()
    sync.sync_connection(ctx, "acme")
    r = _refund(ctx, rid)
    assert (r.status, r.gateway_outcome) == ("processed", None)
    assert r.gateway_refund_id == gw.refunds_of(pays[0])[0]["id"]


def _needs_check(ctx, clock, make, **variation) -> tuple[FakeGateway, list[str], str]:
    gw = make(drop_refund_every=1, **variation)
    pays = _connect(ctx, gw)
    rid = _approved(ctx, pays[0])
    proc.process_round(ctx, "w")
    sync.sync_connection(ctx, "acme")
    assert _refund(ctx, rid).gateway_outcome == "unknown"  # not yet: within 15 minutes
    clock.advance(timedelta(minutes=16))
    sync.sync_connection(ctx, "acme")
    r = _refund(ctx, rid)
    assert r.gateway_outcome == "needs_check"
    assert "not found in" in (r.gateway_evidence or "")
    return gw, pays, rid


def test_not_found_in_time_it_needs_a_check_and_finance_links_it(ctx, clock, make):
    gw, pays, rid = _needs_check(ctx, clock, make)
    with ctx.db.read() as s:
        (shown,) = refund_review.needs_check(s)
    assert shown.refund.id == rid and "sent to acme" in (shown.evidence or "")
    gid = gw.refunds_of(pays[0])[0]["id"]
    with pytest.raises(Refused):
        refund_review.link(ctx, SUPPORT, rid, gid)
    with gw.lock:
        other = gw._create_refund(gw.state.payments[pays[1]], 1_000, "elsewhere")
    with pytest.raises(Refused) as err:
        refund_review.link(ctx, FINANCE, rid, other["id"])
    assert "not the same refund" in str(err.value)
    view = refund_review.link(ctx, FINANCE, rid, gid)
    assert view.status == "processing"
    r = _refund(ctx, rid)
    assert (r.gateway_refund_id, r.gateway_outcome) == (gid, None)
    assert _actions(ctx, rid)[-1] == "refund.gateway_link"
    with pytest.raises(Refused):
        refund_review.resend(ctx, FINANCE, rid)  # linked: nothing to send
    gw.process_refunds({pays[0]})
    sync.sync_connection(ctx, "acme")
    assert _refund(ctx, rid).status == "processed"
    assert len(_posts(gw)) == 1


def test_finance_sends_it_again_and_a_gateway_honouring_the_key_makes_no_second(ctx, clock, make):
    gw, pays, rid = _needs_check(ctx, clock, make, idempotency="header")
    with pytest.raises(Refused):
        refund_review.resend(ctx, SUPPORT, rid)
    gw.vary(drop_refund_every=0)
    refund_review.resend(ctx, FINANCE, rid)
    assert _actions(ctx, rid)[-1] == "refund.gateway_resend"
    assert proc.process_round(ctx, "w").sent == 1
    assert len(_posts(gw)) == 2 and len(gw.refunds_of(pays[0])) == 1
    r = _refund(ctx, rid)
    assert (r.gateway_outcome, r.gateway_refund_id) == (None, gw.refunds_of(pays[0])[0]["id"])


def test_a_copy_without_the_secret_does_not_send(ctx, make):
    gw = make()
    pays = _connect(ctx, gw)
    rid = _approved(ctx, pays[0])
    secrets.forget("acme")
    assert proc.process_round(ctx, "w").handled == 0
    assert _refund(ctx, rid).status == "approved" and _posts(gw) == []
    secrets.store("acme", API_SECRET)
    assert proc.process_round(ctx, "w").sent == 1


def test_an_unreachable_gateway_leaves_the_refund_waiting_then_sends_it(ctx, clock, make):
    gw = make()
    pays = _connect(ctx, gw)
    rid = _approved(ctx, pays[0])
    gw.vary(fail_status=401)  # refused before it acted: nothing reached the gateway
    out = proc.process_round(ctx, "w")
    assert out.waiting == 1 and out.error and "401" in out.error
    r = _refund(ctx, rid)
    assert (r.status, r.gateway_sent_at, r.gateway_outcome) == ("processing", None, None)
    gw.vary(fail_status=0)
    assert proc.process_round(ctx, "w").handled == 0  # waits RETRY_AFTER
    clock.advance(31)
    assert proc.process_round(ctx, "w").sent == 1
    assert len(gw.refunds_of(pays[0])) == 1


def test_a_refund_made_at_the_gateway_counts_against_its_payment(ctx, make):
    gw = make(refund_list=True)
    pays = _connect(ctx, gw)
    with gw.lock:
        gw._create_refund(gw.state.payments[pays[1]], 300, "dashboard")
    gw.process_refunds()
    assert sync.sync_connection(ctx, "acme").error is None
    with ctx.db.read() as s:
        (r,) = s.scalars(select(Refund).where(Refund.payment_id == pays[1])).all()
        assert (r.gateway, r.status, r.amount) == ("acme", "processed", 300)
        assert s.get(Payment, pays[1]).refunded_amount == 300
    assert sync.sync_connection(ctx, "acme").added == 0  # twice changes nothing


def test_the_check_time_is_a_policy(ctx):
    add_staff(ctx)
    with ctx.db.read() as s:
        assert policy.get(s, "gateway_refund_check_minutes") == 15
    policy.set_value(ctx, ADMIN, "gateway_refund_check_minutes", "30")
    with ctx.db.read() as s:
        assert policy.get(s, "gateway_refund_check_minutes") == 30


@pytest.mark.parametrize("refund_list", [False, True])
def test_200_refunds_with_1_in_5_answers_lost_are_each_made_once(ctx, clock, make, refund_list):
    gw = make(drop_refund_every=5, refund_list=refund_list, max_limit=100)
    pays = _connect(ctx, gw, payments=50)
    policy.set_value(ctx, ADMIN, "refund_approval_threshold", "INR:1000000")
    ids = [
        rf.request_refund(ctx, SUPPORT, pays[i % 50], amount=500, reason="duplicate").id
        for i in range(200)
    ]
    assert {_refund(ctx, i).status for i in ids} == {"approved"}
    out = proc.process_round(ctx, "w")
    assert (out.sent, out.unknown) == (160, 40)
    proc.process_round(ctx, "w")  # nothing is sent twice
    assert len(_posts(gw)) == 200
    # The gateway processes the refunds of half the payments (each with a refund.processed log).
    gw.process_refunds(set(pays[:25]))
    sync.sync_connection(ctx, "acme")
    clock.advance(timedelta(minutes=16))
    sync.sync_connection(ctx, "acme")
    proc.process_round(ctx, "w")
    at_gateway = list(gw.state.refunds.values())
    assert len(at_gateway) == 200
    named = Counter(r["reason"].rsplit(" ", 1)[-1].rstrip(")") for r in at_gateway)
    assert set(named) == set(ids) and max(named.values()) == 1
    rows = [_refund(ctx, i) for i in ids]
    linked = [r for r in rows if r.gateway_refund_id]
    waiting = [r for r in rows if r.gateway_outcome == "needs_check"]
    assert len(linked) + len(waiting) == 200
    assert all("the answer was lost" in (r.gateway_evidence or "") for r in waiting)
    assert len({r.gateway_refund_id for r in linked}) == len(linked)
    by_gid = {g["id"]: g for g in at_gateway}
    for r in linked:  # each linked to the gateway refund that names it
        assert r.id in by_gid[r.gateway_refund_id]["reason"]
    lost = [r for r in rows if "the answer was lost" in (r.gateway_evidence or "")]
    assert len(lost) == 40
    if refund_list:
        assert waiting == []
    else:  # lost answers on processed payments were found in the payloads, the others wait
        assert {r.id for r in waiting} == {r.id for r in lost if r.payment_id not in pays[:25]}
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 200


def test_cli_lists_needs_check_with_evidence_and_links_and_resends(
    ctx, clock, make, db_url, capsys, monkeypatch
):
    from core.cli import main

    gw, pays, rid = _needs_check(ctx, clock, make)
    base = ["--database", db_url, "refunds"]
    monkeypatch.setenv("PAYDESK_ACTOR", FINANCE)
    assert main([*base, "list", "--needs-check", "--json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["id"] == rid and shown["gateway_outcome"] == "needs_check"
    assert "the answer was lost" in shown["gateway_evidence"]
    gid = gw.refunds_of(pays[0])[0]["id"]
    assert main([*base, "link", rid, gid]) == 0
    assert f"linked to the gateway's refund {gid}" in capsys.readouterr().out
    assert main([*base, "list", "--needs-check"]) == 0
    assert "No refund needs a check." in capsys.readouterr().out
    assert main([*base, "resend", rid]) == 2  # linked: nothing to send again
