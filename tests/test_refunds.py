"""Refund service: requests, four eyes, policy, idempotency, pro-rata, decisions, processing,
audit and the view's queries, on both databases. Helpers here are shared by the other
``test_refunds_*`` modules."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from core import money
from core.access import policy, roles
from core.context import Context
from core.errors import Conflict, InputError, NotFound, Refused
from core.refunds import processing as proc
from core.refunds import queries as rq
from core.refunds import service as rf
from core.refunds.many import approve_many
from core.refunds.prorata import pro_rata_quote
from core.refunds.records import RefundFilter, RefundView
from core.store.models import AuditEvent, Merchant, Payment, Refund, Subscription, WebhookLog

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # FrozenClock's start
MERCHANT = "mer_test000000001"


# -- helpers shared with the other refund test modules -----------------------------------------


def add_staff(ctx: Context) -> None:
    """root (admin), alice (support), bob and carol (finance), dave (admin), erin (support)."""
    roles.ensure_first_admin(ctx, "root")
    for user, role in (
        ("alice", "support"),
        ("bob", "finance"),
        ("carol", "finance"),
        ("dave", "admin"),
        ("erin", "support"),
    ):
        roles.set_staff_role(ctx, "root", user, role)


def add_merchant(ctx: Context, merchant_id: str = MERCHANT) -> str:
    with ctx.db.write() as s:
        if s.get(Merchant, merchant_id) is None:
            s.add(
                Merchant(
                    id=merchant_id,
                    name="Test Shop",
                    email="shop@example.com",
                    webhook_url="http://127.0.0.1:9/hook",
                    webhook_secret="whsec_dGVzdA==",
                    created_at=T0 - timedelta(days=400),
                )
            )
    return merchant_id


_counter = iter(range(1, 10**9))


def add_payment(
    ctx: Context,
    *,
    amount: int = 100_000,
    currency: str = "INR",
    status: str = "success",
    captured: bool = True,
    merchant_id: str = MERCHANT,
) -> str:
    add_merchant(ctx, merchant_id)
    n = next(_counter)
    payment_id = f"pay_test{n:010d}"
    with ctx.db.write() as s:
        s.add(
            Payment(
                id=payment_id,
                merchant_id=merchant_id,
                order_id=f"order_{n}",
                amount=amount,
                currency=currency,
                method="card",
                status=status,
                captured=captured,
                customer_email=f"c{n}@example.com",
                refunded_amount=0,
                created_at=T0 - timedelta(days=20),
                updated_at=T0 - timedelta(days=20),
            )
        )
    return payment_id


def add_subscription(
    ctx: Context,
    payment_id: str,
    *,
    start: datetime,
    end: datetime,
    cancelled_at: datetime | None = None,
    window_days: int = 30,
) -> str:
    sub_id = f"sub_{payment_id[4:]}"
    with ctx.db.write() as s:
        s.add(
            Subscription(
                id=sub_id,
                payment_id=payment_id,
                merchant_id=MERCHANT,
                period_start=start,
                period_end=end,
                cancelled_at=cancelled_at,
                refund_window_days=window_days,
            )
        )
    return sub_id


def refunded_amount(ctx: Context, payment_id: str) -> int:
    with ctx.db.read() as s:
        return s.scalar(select(Payment.refunded_amount).where(Payment.id == payment_id))


def count(ctx: Context, model, *where) -> int:
    with ctx.db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def actions_of(ctx: Context, refund_id: str) -> list[str]:
    with ctx.db.read() as s:
        return [e.action for e in rq.audit_trail(s, refund_id)]


def request(ctx: Context, payment_id: str, actor: str = "alice", **kw) -> RefundView:
    kw.setdefault("reason", "requested_by_customer")
    return rf.request_refund(ctx, actor, payment_id, **kw)


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)
    return ctx


# -- requests ----------------------------------------------------------------------------------


def test_partial_request_awaits_approval_and_counts_against_the_payment(staffed):
    pid = add_payment(staffed, amount=100_000)
    r = request(staffed, pid, amount=2_500, note="  broken item  ")
    assert (r.status, r.kind, r.amount, r.currency) == ("pending_approval", "partial", 2_500, "INR")
    assert r.requested_by == "alice" and r.decided_by is None and r.note == "broken item"
    assert r.id.startswith("rfnd_") and r.merchant_id == MERCHANT and r.created_at == T0
    assert refunded_amount(staffed, pid) == 2_500
    with staffed.db.read() as s:
        assert rq.refundable(s, pid) == 97_500


def test_full_request_without_amount_refunds_what_remains(staffed):
    pid = add_payment(staffed, amount=100_000)
    request(staffed, pid, amount=30_000)
    r = request(staffed, pid, kind="full")
    assert (r.kind, r.amount) == ("full", 70_000)
    assert refunded_amount(staffed, pid) == 100_000


def test_amount_of_the_whole_payment_is_a_full_refund(staffed):
    pid = add_payment(staffed, amount=5_000)
    assert request(staffed, pid, amount=5_000).kind == "full"


def test_parse_helper_reads_what_a_person_typed_in_the_payment_currency(staffed):
    inr = add_payment(staffed, currency="INR")
    jpy = add_payment(staffed, currency="JPY", amount=10_000)
    with staffed.db.read() as s:
        assert rq.parse_refund_amount(s, inr, "12.50") == 1_250
        assert rq.parse_refund_amount(s, jpy, "1,200") == 1_200


# -- bad input: each refused with a sentence, nothing written ----------------------------------


def _nothing_written(ctx: Context, payment_id: str | None = None) -> None:
    assert count(ctx, Refund) == 0
    assert count(ctx, AuditEvent, AuditEvent.action.like("refund.%")) == 0
    if payment_id:
        assert refunded_amount(ctx, payment_id) == 0


@pytest.mark.parametrize(
    ("status", "captured", "sentence"),
    [
        ("failed", True, "failed; only a successful, captured payment can be refunded."),
        ("pending", False, "is still pending; only a successful, captured payment"),
        ("success", False, "was not captured; only a successful, captured payment"),
    ],
)
def test_refund_of_a_payment_that_did_not_succeed_is_refused(staffed, status, captured, sentence):
    pid = add_payment(staffed, status=status, captured=captured)
    with pytest.raises(Refused, match=sentence):
        request(staffed, pid, amount=100)
    _nothing_written(staffed, pid)


def test_refund_of_an_unknown_payment_is_refused(staffed):
    with pytest.raises(NotFound, match=re.escape("There is no payment pay_nope.")):
        request(staffed, "pay_nope", amount=100)
    _nothing_written(staffed)


@pytest.mark.parametrize("amount", [0, -100])
def test_zero_or_negative_amount_is_refused(staffed, amount):
    pid = add_payment(staffed)
    with pytest.raises(InputError, match=re.escape("The amount must be greater than zero.")):
        request(staffed, pid, amount=amount)
    _nothing_written(staffed, pid)


@pytest.mark.parametrize("text", ["0", "-5", "0.00"])
def test_zero_or_negative_amount_text_is_refused(staffed, text):
    pid = add_payment(staffed)
    with staffed.db.read() as s, pytest.raises(InputError, match="greater than zero"):
        rq.parse_refund_amount(s, pid, text)


def test_more_decimals_than_inr_has_is_refused(staffed):
    pid = add_payment(staffed, currency="INR")
    with (
        staffed.db.read() as s,
        pytest.raises(InputError, match="INR amounts have at most 2 decimal"),
    ):
        rq.parse_refund_amount(s, pid, "12.345")


def test_fractional_yen_is_refused(staffed):
    pid = add_payment(staffed, currency="JPY", amount=10_000)
    with staffed.db.read() as s, pytest.raises(InputError, match="JPY has no minor unit"):
        rq.parse_refund_amount(s, pid, "1.5")


def test_more_than_refundable_is_refused_with_what_remains(staffed):
    pid = add_payment(staffed, amount=10_000)
    request(staffed, pid, amount=6_000)
    with pytest.raises(
        Refused,
        match=r"The refund of ₹50.00 exceeds the ₹40.00 still refundable on payment pay_",
    ):
        request(staffed, pid, amount=5_000)
    assert refunded_amount(staffed, pid) == 6_000
    assert count(staffed, Refund) == 1


def test_unknown_reason_and_missing_reason_are_refused(staffed):
    pid = add_payment(staffed)
    with pytest.raises(InputError, match="'because' is not a refund reason"):
        request(staffed, pid, amount=100, reason="because")
    with pytest.raises(InputError, match="A refund needs a reason"):
        rf.request_refund(staffed, "alice", pid, amount=100, reason=None)
    _nothing_written(staffed, pid)


def test_partial_refund_without_amount_is_refused(staffed):
    pid = add_payment(staffed)
    with pytest.raises(InputError, match=re.escape("A partial refund needs an amount.")):
        request(staffed, pid, kind="partial")
    _nothing_written(staffed, pid)


def test_full_refund_with_a_different_amount_is_refused(staffed):
    pid = add_payment(staffed, amount=10_000)
    with pytest.raises(InputError, match=re.escape("A full refund is the whole ₹100.00")):
        request(staffed, pid, kind="full", amount=500)
    _nothing_written(staffed, pid)


def test_person_not_on_staff_list_cannot_request(staffed):
    pid = add_payment(staffed)
    with pytest.raises(Refused, match="mallory is not on the Paydesk staff list"):
        request(staffed, pid, actor="mallory", amount=100)
    _nothing_written(staffed, pid)


# -- decisions ---------------------------------------------------------------------------------


def test_finance_approves_and_the_decision_is_recorded(staffed, clock):
    pid = add_payment(staffed)
    r = request(staffed, pid, amount=1_000)
    clock.advance(60)
    a = rf.approve(staffed, "bob", r.id)
    assert (a.status, a.decided_by, a.decided_at, a.version) == (
        "approved",
        "bob",
        T0 + timedelta(seconds=60),
        2,
    )
    assert actions_of(staffed, r.id) == ["refund.request", "refund.approve"]


def test_requester_cannot_approve_their_own_refund_even_as_admin(staffed):
    pid = add_payment(staffed)
    r = request(staffed, pid, actor="dave", amount=1_000)
    with pytest.raises(Refused, match=f"You requested refund {r.id}; someone else must approve"):
        rf.approve(staffed, "dave", r.id)
    with pytest.raises(Refused, match="You requested refund"):
        rf.reject(staffed, "dave", r.id, "changed my mind")
    with staffed.db.read() as s:
        assert rq.get(s, r.id).status == "pending_approval"
        assert rf.why_not(s, "dave", rq.get(s, r.id), "approve").startswith("You requested")
        assert rf.why_not(s, "bob", rq.get(s, r.id), "approve") is None
    assert actions_of(staffed, r.id) == ["refund.request"]


def test_support_staff_cannot_approve(staffed):
    pid = add_payment(staffed)
    r = request(staffed, pid, amount=1_000)
    with pytest.raises(
        Refused,
        match=re.escape(
            "Only finance or admin staff can approve or reject refunds; erin is support."
        ),
    ):
        rf.approve(staffed, "erin", r.id)
    with staffed.db.read() as s:
        assert rq.get(s, r.id).status == "pending_approval"


def test_second_approval_is_refused_with_who_and_when(staffed, clock):
    pid = add_payment(staffed)
    r = request(staffed, pid, amount=1_000)
    clock.set(datetime(2026, 1, 15, 13, 7, 30, tzinfo=UTC))
    rf.approve(staffed, "bob", r.id)
    hhmm = datetime(2026, 1, 15, 13, 7, tzinfo=UTC).astimezone().strftime("%H:%M")
    with pytest.raises(Conflict) as exc:
        rf.approve(staffed, "carol", r.id)
    assert exc.value.message == f"Refund {r.id} was already approved by bob at {hhmm}."
    with pytest.raises(Conflict, match=f"was already approved by bob at {hhmm}"):
        rf.reject(staffed, "carol", r.id, "too late")
    with staffed.db.read() as s:
        view = rq.get(s, r.id)
    assert (view.status, view.decided_by, view.version) == ("approved", "bob", 2)
    assert actions_of(staffed, r.id) == ["refund.request", "refund.approve"]


def test_approval_of_a_changed_refund_is_refused_when_a_version_is_given(staffed):
    pid = add_payment(staffed)
    r = request(staffed, pid, amount=1_000)
    with pytest.raises(Conflict, match="changed since you looked at it"):
        rf.approve(staffed, "bob", r.id, expected_version=r.version + 1)
    assert rf.approve(staffed, "bob", r.id, expected_version=r.version).status == "approved"


def test_reject_needs_a_note_and_releases_the_amount(staffed):
    pid = add_payment(staffed, amount=10_000)
    r = request(staffed, pid, amount=4_000)
    for note in (None, "", "   "):
        with pytest.raises(InputError, match=re.escape("A rejection needs a note saying why.")):
            rf.reject(staffed, "bob", r.id, note)
    assert refunded_amount(staffed, pid) == 4_000
    j = rf.reject(staffed, "bob", r.id, "duplicate of an earlier refund")
    assert (j.status, j.decision_note, j.decided_by) == (
        "rejected",
        "duplicate of an earlier refund",
        "bob",
    )
    assert refunded_amount(staffed, pid) == 0
    with staffed.db.read() as s:
        trail = rq.audit_trail(s, r.id)
    assert [e.action for e in trail] == ["refund.request", "refund.reject"]
    assert trail[1].details["note"] == "duplicate of an earlier refund"
    assert trail[1].client == "test-client"


def test_requester_cancels_their_own_pending_request_and_nobody_else_can(staffed):
    pid = add_payment(staffed, amount=10_000)
    r = request(staffed, pid, amount=4_000)
    with pytest.raises(Refused, match=f"Only alice, who requested refund {r.id}, can cancel it."):
        rf.cancel(staffed, "bob", r.id)
    c = rf.cancel(staffed, "alice", r.id)
    assert c.status == "cancelled" and refunded_amount(staffed, pid) == 0
    with pytest.raises(Conflict, match="was already cancelled by alice"):
        rf.approve(staffed, "bob", r.id)
    assert actions_of(staffed, r.id) == ["refund.request", "refund.cancel"]


def test_unknown_refund_is_not_found(staffed):
    with pytest.raises(NotFound, match=re.escape("There is no refund rfnd_nope.")):
        rf.approve(staffed, "bob", "rfnd_nope")


def test_approve_many_reports_each_refund(staffed):
    pid = add_payment(staffed, amount=100_000)
    mine = request(staffed, pid, actor="bob", amount=1_000)
    ok1 = request(staffed, pid, amount=2_000)
    ok2 = request(staffed, pid, amount=3_000)
    with staffed.db.read() as s:
        assert rq.totals_by_currency(s, [mine.id, ok1.id, ok2.id]) == {"INR": 6_000}
    results = approve_many(staffed, "bob", [ok1.id, mine.id, "rfnd_nope", ok2.id])
    assert [(x.refund_id, x.ok) for x in results] == [
        (ok1.id, True),
        (mine.id, False),
        ("rfnd_nope", False),
        (ok2.id, True),
    ]
    assert results[1].message.startswith("You requested refund")
    assert results[2].message == "There is no refund rfnd_nope."
    assert results[0].refund is not None and results[0].refund.status == "approved"


# -- idempotency -------------------------------------------------------------------------------


def test_same_idempotency_key_and_request_returns_the_same_refund(staffed):
    pid = add_payment(staffed)
    a = request(staffed, pid, amount=1_000, idempotency_key="dlg-1")
    b = request(staffed, pid, amount=1_000, idempotency_key="dlg-1")
    assert a.id == b.id and b.idempotency_key == "dlg-1"
    assert count(staffed, Refund) == 1
    assert refunded_amount(staffed, pid) == 1_000
    assert actions_of(staffed, a.id) == ["refund.request"]


def test_reused_idempotency_key_with_a_different_amount_is_refused(staffed):
    pid = add_payment(staffed)
    a = request(staffed, pid, amount=1_000, idempotency_key="dlg-1")
    with pytest.raises(
        Conflict,
        match=f"The idempotency key 'dlg-1' was already used for a different refund request \\({a.id}\\)",
    ):
        request(staffed, pid, amount=2_000, idempotency_key="dlg-1")
    assert count(staffed, Refund) == 1 and refunded_amount(staffed, pid) == 1_000


def test_idempotency_key_is_refused_after_it_expired(staffed, clock):
    pid = add_payment(staffed)
    a = request(staffed, pid, amount=1_000, idempotency_key="dlg-1")
    clock.advance(timedelta(hours=25))
    with pytest.raises(Conflict, match=f"was used for refund {a.id} more than 24 hours ago"):
        request(staffed, pid, amount=1_000, idempotency_key="dlg-1")


def test_idempotency_keys_are_per_merchant(staffed):
    p1 = add_payment(staffed)
    p2 = add_payment(staffed, merchant_id="mer_other00000001")
    a = request(staffed, p1, amount=1_000, idempotency_key="k")
    b = request(staffed, p2, amount=1_000, idempotency_key="k")
    assert a.id != b.id


# -- policy ------------------------------------------------------------------------------------


def test_below_the_threshold_a_refund_is_approved_at_once_and_the_audit_says_so(staffed):
    policy.set_value(staffed, "root", "refund_approval_threshold", "INR:500.00")
    pid = add_payment(staffed, amount=100_000)
    small = request(staffed, pid, amount=49_999)
    at_limit = request(staffed, pid, amount=50_000)
    assert (small.status, small.decided_by, small.decided_at) == ("approved", rf.POLICY_ACTOR, T0)
    assert at_limit.status == "pending_approval"
    with staffed.db.read() as s:
        trail = rq.audit_trail(s, small.id)
    assert [e.action for e in trail] == ["refund.request"]
    assert (
        trail[0].details["approval"]
        == "approved at once: below the INR approval threshold of ₹500.00"
    )
    assert trail[0].details["status"] == "approved"


def test_a_currency_without_threshold_always_needs_approval(staffed):
    policy.set_value(staffed, "root", "refund_approval_threshold", "INR:500.00")
    pid = add_payment(staffed, currency="JPY", amount=10_000)
    assert request(staffed, pid, amount=1).status == "pending_approval"


# -- pro-rata ----------------------------------------------------------------------------------


def _subscription_payment(ctx: Context, **kw) -> tuple[str, str]:
    pid = add_payment(ctx, amount=99_999)  # ₹999.99
    kw.setdefault("start", datetime(2026, 1, 1, tzinfo=UTC))
    kw.setdefault("end", datetime(2026, 1, 31, tzinfo=UTC))  # 30 days
    return pid, add_subscription(ctx, pid, **kw)


def test_pro_rata_amount_is_the_unused_share_rounded_down(staffed):
    pid, sub = _subscription_payment(staffed)
    with staffed.db.read() as s:
        q = pro_rata_quote(s, pid, T0)
    # 2026-01-15 12:00 is 14.5 days into a 30-day period: 1,252,800 s used, 1,339,200 unused.
    # 99,999 × 1,339,200 / 2,592,000 = 51,666.15 → 51,666 paise.
    assert (q.seconds_in_period, q.seconds_used, q.seconds_unused) == (
        2_592_000,
        1_252_800,
        1_339_200,
    )
    assert q.amount == 51_666 and q.offered and q.why_not is None and q.subscription_id == sub
    assert "₹999.99 × 1,339,200 s unused ÷ 2,592,000 s in the period = ₹516.66" in q.explain()
    r = request(staffed, pid, kind="pro_rata", reason=None)
    assert (r.kind, r.amount, r.reason, r.subscription_id) == ("pro_rata", 51_666, "pro_rata", sub)
    with staffed.db.read() as s:
        d = rq.detail(s, r.id)
    assert d.pro_rata is not None and d.pro_rata.amount == 51_666
    assert d.pro_rata.seconds_unused == 1_339_200
    assert actions_of(staffed, r.id) == ["refund.request"]


def test_pro_rata_of_a_cancelled_subscription_counts_from_the_cancellation(staffed):
    pid, _ = _subscription_payment(staffed, cancelled_at=datetime(2026, 1, 11, tzinfo=UTC))
    with staffed.db.read() as s:
        q = pro_rata_quote(s, pid, T0)
    assert q.seconds_used == 10 * 86_400
    assert q.amount == 99_999 * 20 // 30


def test_pro_rata_outside_the_refund_window_is_refused(staffed):
    pid, sub = _subscription_payment(
        staffed, start=datetime(2025, 12, 1, tzinfo=UTC), end=datetime(2026, 3, 1, tzinfo=UTC)
    )
    with staffed.db.read() as s:
        q = pro_rata_quote(s, pid, T0)
    assert not q.offered
    assert (
        q.why_not
        == f"The refund window of subscription {sub} closed on 2025-12-31 (30 days from the period start)."
    )
    with pytest.raises(Refused, match="The refund window of subscription"):
        request(staffed, pid, kind="pro_rata")
    _nothing_written(staffed, pid)


def test_pro_rata_is_offered_only_once_per_subscription(staffed):
    pid, sub = _subscription_payment(staffed)
    first = request(staffed, pid, kind="pro_rata")
    with pytest.raises(
        Refused, match=f"Subscription {sub} already has a pro-rata refund \\({first.id}\\)"
    ):
        request(staffed, pid, kind="pro_rata")
    assert count(staffed, Refund) == 1
    # Once that one is rejected the subscription may be refunded pro rata again.
    rf.reject(staffed, "bob", first.id, "wrong customer")
    assert request(staffed, pid, kind="pro_rata").amount == first.amount


def test_pro_rata_of_a_payment_without_subscription_is_not_offered(staffed):
    pid = add_payment(staffed)
    with staffed.db.read() as s:
        q = pro_rata_quote(s, pid, T0)
    assert (
        q.why_not == f"Payment {pid} is not a subscription payment, so it has no pro-rata refund."
    )
    with pytest.raises(Refused, match="is not a subscription payment"):
        request(staffed, pid, kind="pro_rata")


def test_pro_rata_with_a_different_amount_is_refused(staffed):
    pid, _ = _subscription_payment(staffed)
    with pytest.raises(InputError, match=r"The pro-rata refund of payment .* is ₹516\.66"):
        request(staffed, pid, kind="pro_rata", amount=60_000)


def test_stale_pro_rata_request_is_auto_approved_after_the_policy_days(staffed, clock):
    pid, _ = _subscription_payment(staffed)
    pr = request(staffed, pid, kind="pro_rata")
    other = request(staffed, add_payment(staffed), amount=100)
    clock.advance(timedelta(days=14) - timedelta(seconds=1))
    assert proc.auto_approve_due(staffed) == 0
    clock.advance(timedelta(seconds=1))
    assert proc.auto_approve_due(staffed) == 1
    with staffed.db.read() as s:
        a, o = rq.get(s, pr.id), rq.get(s, other.id)
        trail = rq.audit_trail(s, pr.id)
    assert (a.status, a.decided_by) == ("approved", "paydesk-auto")
    assert o.status == "pending_approval"
    assert [(e.action, e.actor) for e in trail][-1] == ("refund.auto_approve", "paydesk-auto")
    assert trail[-1].details["pending_days"] == 14


def test_auto_approval_is_off_when_the_policy_says_zero_days(staffed, clock):
    policy.set_value(staffed, "root", "pro_rata_auto_approve_days", "0")
    pid, _ = _subscription_payment(staffed)
    request(staffed, pid, kind="pro_rata")
    clock.advance(timedelta(days=400))
    assert proc.auto_approve_due(staffed) == 0


# -- processing --------------------------------------------------------------------------------


def test_processing_marks_approved_refunds_processed_with_one_webhook_each(staffed, clock):
    pid = add_payment(staffed)
    r = request(staffed, pid, amount=1_000)
    pending = request(staffed, pid, amount=500)
    rf.approve(staffed, "bob", r.id)
    clock.advance(5)
    assert proc.process_due(staffed, "worker-1") == 1
    with staffed.db.read() as s:
        done = rq.get(s, r.id)
        logs = [
            (log.event, log.status, log.payload)
            for log in s.scalars(select(WebhookLog).where(WebhookLog.entity_id == r.id))
        ]
        assert rq.get(s, pending.id).status == "pending_approval"
    assert (done.status, done.processed_at, done.version) == (
        "processed",
        T0 + timedelta(seconds=5),
        4,
    )
    assert len(logs) == 1 and logs[0][:2] == ("refund.processed", "pending")
    body = json.loads(logs[0][2])
    assert body["data"]["id"] == r.id and body["data"]["amount"] == 1_000
    assert body["data"]["status"] == "processed"
    assert actions_of(staffed, r.id) == ["refund.request", "refund.approve", "refund.process"]
    assert proc.process_due(staffed, "worker-1") == 0


def test_a_refund_that_cannot_be_processed_fails_with_a_sentence_and_can_be_retried(staffed):
    pid = add_payment(staffed, amount=10_000)
    r = request(staffed, pid, amount=4_000)
    rf.approve(staffed, "bob", r.id)
    with staffed.db.write() as s:  # the payment was charged back meanwhile
        s.execute(update(Payment).where(Payment.id == pid).values(status="failed"))
    assert proc.process_due(staffed, "w") == 1
    with staffed.db.read() as s:
        f = rq.get(s, r.id)
    assert f.status == "failed"
    assert (
        f.failure_reason
        == f"Payment {pid} failed; only a successful, captured payment can be refunded."
    )
    assert refunded_amount(staffed, pid) == 0
    assert count(staffed, WebhookLog) == 0
    with pytest.raises(Refused, match="only a successful, captured payment"):
        rf.retry(staffed, "bob", r.id)
    with staffed.db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(status="success"))
    with pytest.raises(Refused, match="Only finance or admin staff"):
        rf.retry(staffed, "alice", r.id)
    again = rf.retry(staffed, "bob", r.id)
    assert (again.status, again.failure_reason) == ("approved", None)
    assert refunded_amount(staffed, pid) == 4_000
    assert proc.process_due(staffed, "w") == 1
    assert actions_of(staffed, r.id) == [
        "refund.request",
        "refund.approve",
        "refund.fail",
        "refund.retry",
        "refund.process",
    ]


def test_retry_of_a_refund_that_is_not_failed_is_refused(staffed):
    r = request(staffed, add_payment(staffed), amount=100)
    with pytest.raises(
        Refused, match=f"Refund {r.id} is pending approval; only a failed refund can be retried."
    ):
        rf.retry(staffed, "bob", r.id)


def test_retry_is_refused_when_the_amount_no_longer_fits(staffed):
    pid = add_payment(staffed, amount=10_000)
    r = request(staffed, pid, amount=6_000)
    rf.approve(staffed, "bob", r.id)
    with staffed.db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(status="failed"))
    proc.process_due(staffed, "w")
    with staffed.db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(status="success"))
    request(staffed, pid, amount=5_000)
    with pytest.raises(Refused, match=re.escape("exceeds the ₹50.00 still refundable")):
        rf.retry(staffed, "bob", r.id)


def test_an_expired_lease_is_reclaimed_by_another_worker(staffed, clock):
    r = request(staffed, add_payment(staffed), amount=100)
    rf.approve(staffed, "bob", r.id)
    assert proc.claim(staffed, "dead-worker") == [r.id]
    assert proc.process_due(staffed, "worker-2") == 0  # leased: not free yet
    clock.advance(proc.LEASE + timedelta(seconds=1))
    assert proc.process_due(staffed, "worker-2") == 1
    # The first worker comes back: its lease is gone, it changes nothing.
    assert proc.complete(staffed, "dead-worker", [r.id]) == proc.ProcessingOutcome(lost=1)
    assert count(staffed, WebhookLog, WebhookLog.entity_id == r.id) == 1
    assert actions_of(staffed, r.id).count("refund.process") == 1


def test_tasks_are_named_for_the_scheduler(staffed):
    t = proc.processing_task()
    a = proc.auto_approve_task()
    assert (t.name, t.interval, a.name, a.interval) == (
        "refund_processing",
        2.0,
        "refund_auto_approve",
        300.0,
    )
    r = request(staffed, add_payment(staffed), amount=100)
    rf.approve(staffed, "bob", r.id)
    assert t.run(staffed) == "1 processed"
    assert t.run(staffed) is None


# -- queries for the view ----------------------------------------------------------------------


def test_page_filters_and_pages_by_created_at_and_id(staffed, clock):
    p1, p2 = add_payment(staffed), add_payment(staffed)
    made = []
    for i in range(7):
        made.append(
            request(
                staffed, p1 if i % 2 else p2, actor="alice" if i < 4 else "erin", amount=100 + i
            )
        )
        clock.advance(timedelta(hours=1))
    rf.approve(staffed, "bob", made[0].id)
    newest_first = [r.id for r in reversed(made)]
    with staffed.db.read() as s:
        first = rq.page(s, RefundFilter(), limit=3)
        rest = rq.page(s, RefundFilter(), after=first[-1].cursor(), limit=10)
        assert [r.id for r in first + rest] == newest_first
        assert [r.id for r in rq.page(s, RefundFilter(status="approved"))] == [made[0].id]
        assert {r.requested_by for r in rq.page(s, RefundFilter(requested_by="erin"))} == {"erin"}
        assert {r.payment_id for r in rq.page(s, RefundFilter(search=p1))} == {p1}
        assert [r.id for r in rq.page(s, RefundFilter(search=made[3].id))] == [made[3].id]
        old = rq.page(s, RefundFilter(min_age=timedelta(hours=5)), now=clock.now())
        assert [r.id for r in old] == [made[2].id, made[1].id, made[0].id]  # 5 h or older
        oldest_first = rq.page(s, RefundFilter(descending=False), limit=2)
        assert [r.id for r in oldest_first] == [made[0].id, made[1].id]
        with pytest.raises(InputError, match="'lost' is not a refund status"):
            rq.page(s, RefundFilter(status="lost"))


def test_detail_shows_payment_refundable_siblings_and_audit_trail(staffed, clock):
    pid = add_payment(staffed, amount=10_000)
    a = request(staffed, pid, amount=1_000)
    clock.advance(1)
    b = request(staffed, pid, amount=2_000)
    rf.reject(staffed, "bob", a.id, "no")
    with staffed.db.read() as s:
        d = rq.detail(s, b.id)
    assert d.payment.id == pid and d.payment.merchant_name == "Test Shop"
    assert d.refundable == 8_000
    assert [r.id for r in d.refunds] == [a.id, b.id]
    assert d.pro_rata is None
    assert [e.action for e in d.audit] == ["refund.request"]
    assert d.refund.as_json()["amount"] == 2_000


def test_preview_gives_the_sentence_the_request_would_give(staffed):
    policy.set_value(staffed, "root", "refund_approval_threshold", "INR:50.00")
    pid = add_payment(staffed, amount=10_000)
    with staffed.db.read() as s:
        p = rf.preview_request(s, pid, amount=1_000, now=T0)
        assert (p.kind, p.amount, p.needs_approval) == ("partial", 1_000, False)
        with pytest.raises(Refused, match=re.escape("exceeds the ₹100.00 still refundable")):
            rf.preview_request(s, pid, amount=20_000, now=T0)
    assert count(staffed, Refund) == 0


def test_money_format_used_in_sentences_is_the_one_formatter():
    assert money.format_money(4_000, "INR") == "₹40.00"


def test_an_approval_wakes_the_processing_task_without_waiting_for_its_interval(staffed):
    import threading

    from core.jobs.scheduler import Scheduler, Task

    hourly = Task(
        name=proc.PROCESSING_TASK,
        title="Process approved refunds",
        interval=3600,
        run=proc.processing_task().run,
        initial_delay=3600,
        wake_on=proc.processing_task().wake_on,
    )
    scheduler = Scheduler(staffed, [hourly])
    ran = threading.Event()
    scheduler.add_listener(lambda state: ran.set() if state.last_message else None)
    scheduler.start()
    try:
        r = request(staffed, add_payment(staffed), amount=100)
        rf.approve(staffed, "bob", r.id)
        assert ran.wait(30)
    finally:
        scheduler.stop()
    with staffed.db.read() as s:
        assert rq.get(s, r.id).status == "processed"
