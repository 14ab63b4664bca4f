"""The dashboard's KPI definitions, pinned against hand-built rows on both databases."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import InputError
from core.jobs.runs import record_task_run
from core.overview import dashboard
from core.payments import queries as payments
from core.store.models import (
    Merchant,
    Payment,
    PolicySetting,
    Refund,
    WebhookAttempt,
    WebhookLog,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # 17:30 in Kolkata
KOLKATA = ZoneInfo("Asia/Kolkata")
# Today in Kolkata runs from 2026-01-14 18:30 UTC to 2026-01-15 18:30 UTC.
KOLKATA_TODAY = datetime(2026, 1, 14, 18, 30, tzinfo=UTC)

_seq = itertools.count(1)


def merchant(session, mid="mer_a", **kw):
    values = dict(id=mid, name=mid.upper(), email=f"{mid}@x.test", created_at=NOW)
    values.update(kw)
    session.add(Merchant(**values))
    session.flush()
    return mid


def payment(session, at, amount, currency="INR", status="success", mid="mer_a"):
    pid = f"pay_{next(_seq):06d}"
    session.add(
        Payment(
            id=pid,
            merchant_id=mid,
            order_id=f"order_{pid}",
            amount=amount,
            currency=currency,
            method="card",
            status=status,
            captured=status == "success",
            created_at=at,
            updated_at=at,
        )
    )
    return pid


def refund(session, pid, at, amount, currency="INR", status="pending_approval", processed_at=None):
    rid = f"rfnd_{next(_seq):06d}"
    session.add(
        Refund(
            id=rid,
            payment_id=pid,
            merchant_id="mer_a",
            amount=amount,
            currency=currency,
            kind="partial",
            reason="requested_by_customer",
            status=status,
            requested_by="asha",
            processed_at=processed_at,
            created_at=at,
            updated_at=at,
        )
    )
    return rid


def webhook(session, status, attempts=(), mid="mer_a", at=NOW - timedelta(hours=3)):
    """A delivery and its attempts: each attempt is (started_at, response_code)."""
    lid = f"msg_{next(_seq):06d}"
    session.add(
        WebhookLog(
            id=lid,
            merchant_id=mid,
            event="payment.captured",
            payload="{}",
            status=status,
            attempts=len(attempts),
            response_code=attempts[-1][1] if attempts else None,
            created_at=at,
            updated_at=at,
        )
    )
    session.flush()
    for number, (started, code) in enumerate(attempts, 1):
        session.add(
            WebhookAttempt(
                webhook_log_id=lid,
                number=number,
                started_at=started,
                url="https://hooks.example/x",
                response_code=code,
                error=None if code and 200 <= code < 300 else "failed",
                trigger="scheduled",
            )
        )
    return lid


def load(db, **kw):
    kw.setdefault("now", NOW)
    kw.setdefault("tz", KOLKATA)
    with db.read() as session:
        return dashboard.load(session, **kw)


# -- payments ---------------------------------------------------------------------------------------


def test_payments_today_start_at_local_midnight_not_utc_midnight(db):
    with db.write() as s:
        merchant(s)
        payment(s, KOLKATA_TODAY - timedelta(seconds=1), 100)  # 23:59:59 yesterday, local
        payment(s, KOLKATA_TODAY, 200)  # 00:00:00 today, local
        payment(s, NOW, 300)
    board = load(db)
    assert board.today == date(2026, 1, 15)
    assert board.payments_today.count == 2
    assert [(v.currency, v.count, v.amount) for v in board.payments_today.volume] == [
        ("INR", 2, 500)
    ]
    # In UTC the day began at midnight UTC: only the payment at noon is today's.
    assert load(db, tz=UTC).payments_today.count == 1


def test_volume_counts_successful_payments_per_currency_in_minor_units(db):
    with db.write() as s:
        merchant(s)
        payment(s, NOW - timedelta(hours=1), 1500, "JPY")
        payment(s, NOW - timedelta(hours=2), 980, "JPY")
        payment(s, NOW - timedelta(hours=2), 70000, "JPY", status="failed")
        payment(s, NOW - timedelta(hours=3), 12_50, "USD")
        payment(s, NOW - timedelta(hours=3), 3_125, "KWD", status="pending")
    tile = load(db).payments_today
    assert tile.count == 5
    # Most payments first; failed and pending payments count but bring no volume.
    assert [(v.currency, v.count, v.amount) for v in tile.volume] == [
        ("JPY", 2, 2480),
        ("KWD", 0, 0),
        ("USD", 1, 1250),
    ]
    jpy = tile.volume[0].link
    assert jpy == payments.PaymentFilter(
        status="success",
        currency="JPY",
        created_from=KOLKATA_TODAY,
        created_to=KOLKATA_TODAY + timedelta(days=1),
    )
    assert tile.link == payments.PaymentFilter(
        created_from=KOLKATA_TODAY, created_to=KOLKATA_TODAY + timedelta(days=1)
    )


def test_success_rate_leaves_pending_out_and_compares_with_the_seven_days_before(db):
    with db.write() as s:
        merchant(s)
        for status in ("success", "success", "success", "failed", "pending", "pending"):
            payment(s, NOW - timedelta(hours=1), 100, status=status)
        for day in range(1, 8):  # the baseline: 7 whole local days before today
            payment(s, NOW - timedelta(days=day), 100, status="success")
        payment(s, NOW - timedelta(days=3), 100, status="failed")
        payment(s, NOW - timedelta(days=8), 100, status="failed")  # outside the baseline
    tile = load(db).success_rate
    assert (tile.today.success, tile.today.failed, tile.today.pending) == (3, 1, 2)
    assert tile.today.rate == pytest.approx(0.75)
    assert (tile.last_7_days.success, tile.last_7_days.failed) == (7, 1)
    assert tile.last_7_days.rate == pytest.approx(7 / 8)
    assert tile.change == pytest.approx(0.75 - 7 / 8)
    assert tile.link.status == "failed" and tile.link.created_from == KOLKATA_TODAY


def test_success_rate_is_none_when_nothing_was_decided(db):
    with db.write() as s:
        merchant(s)
        payment(s, NOW, 100, status="pending")
    tile = load(db).success_rate
    assert tile.today.rate is None and tile.last_7_days.rate is None and tile.change is None


# -- refunds -----------------------------------------------------------------------------------------


def test_refunds_awaiting_show_the_oldest_and_turn_overdue_past_the_auto_approve_age(db):
    with db.write() as s:
        merchant(s)
        pid = payment(s, NOW - timedelta(days=30), 10_000)
        s.flush()
        refund(s, pid, NOW - timedelta(days=5, hours=2), 100)
        refund(s, pid, NOW - timedelta(hours=1), 100)
        refund(s, pid, NOW - timedelta(days=20), 100, status="rejected")
    tile = load(db).refunds_awaiting
    assert tile.count == 2
    assert tile.oldest_age == timedelta(days=5, hours=2)
    assert tile.oldest_requested_at == NOW - timedelta(days=5, hours=2)
    assert tile.auto_approve_days == 14 and not tile.overdue
    assert tile.link == dashboard.RefundLink(status="pending_approval", oldest_first=True)
    with db.write() as s:
        s.add(PolicySetting(key="pro_rata_auto_approve_days", value="5", updated_at=NOW))
    assert load(db).refunds_awaiting.overdue
    with db.write() as s:
        s.get(PolicySetting, "pro_rata_auto_approve_days").value = json.dumps(0)
    assert not load(db).refunds_awaiting.overdue  # auto-approval off: never overdue


def test_refunds_processed_today_count_by_processed_time_per_currency(db):
    with db.write() as s:
        merchant(s)
        pid = payment(s, NOW - timedelta(days=40), 100_000)
        jpy = payment(s, NOW - timedelta(days=40), 50_000, "JPY")
        s.flush()
        old = NOW - timedelta(days=10)
        refund(s, pid, old, 1_000, status="processed", processed_at=NOW - timedelta(hours=2))
        refund(s, pid, old, 2_000, status="processed", processed_at=KOLKATA_TODAY)
        refund(s, jpy, old, 700, "JPY", status="processed", processed_at=NOW)
        # Yesterday (local), and a failed one: not today's processed refunds.
        refund(
            s,
            pid,
            old,
            4_000,
            status="processed",
            processed_at=KOLKATA_TODAY - timedelta(seconds=1),
        )
        refund(s, pid, old, 8_000, status="failed")
    tile = load(db).refunds_processed
    assert tile.count == 3
    assert [(c.currency, c.count, c.amount) for c in tile.by_currency] == [
        ("INR", 2, 3_000),
        ("JPY", 1, 700),
    ]
    assert tile.by_currency[1].link == dashboard.RefundLink(
        status="processed",
        currency="JPY",
        processed_from=KOLKATA_TODAY,
        processed_to=KOLKATA_TODAY + timedelta(days=1),
    )


def test_a_refund_that_becomes_processed_moves_into_todays_tile(db):
    with db.write() as s:
        merchant(s)
        pid = payment(s, NOW - timedelta(days=3), 100_000)
        s.flush()
        rid = refund(s, pid, NOW - timedelta(days=2), 2_500, status="processing")
    assert load(db).refunds_processed.count == 0
    with db.write() as s:
        r = s.get(Refund, rid)
        r.status, r.processed_at = "processed", NOW - timedelta(minutes=5)
    tile = load(db).refunds_processed
    assert [(c.currency, c.count, c.amount) for c in tile.by_currency] == [("INR", 1, 2_500)]


# -- webhooks ----------------------------------------------------------------------------------------


def test_failing_deliveries_are_failed_plus_pending_whose_latest_attempt_failed(db):
    hour = NOW - timedelta(hours=2)
    with db.write() as s:
        merchant(s, webhook_url="https://a.example/hook")
        webhook(s, "failed", [(hour, 500)] * 5)
        webhook(s, "failed", [(hour, None)])
        webhook(s, "pending", [(hour, 503)])  # retrying
        webhook(s, "pending", [(hour, 302)])  # a redirect is a failure too
        webhook(s, "pending")  # not attempted yet
        webhook(s, "success", [(hour, 500), (hour, 200)])
        webhook(s, "pending", [(hour, 200)])  # resent after a success
        webhook(s, "pending", [(hour, 500), (hour, 200)])  # likewise
        webhook(s, "pending", [(hour, 200), (hour, 500)])  # resent, and failing again
    tile = load(db).webhooks_failing
    assert (tile.failing, tile.failed, tile.retrying) == (5, 2, 3)
    assert tile.link == dashboard.WebhookLink(failing=True)


def test_problem_endpoints_are_disabled_or_failing_ones_with_an_url(db):
    since = NOW - timedelta(hours=6)
    with db.write() as s:
        merchant(s, "mer_ok", webhook_url="https://ok.example/h")
        merchant(
            s,
            "mer_gone",
            webhook_url="https://gone.example/h",
            webhook_enabled=False,
            webhook_disabled_reason="The endpoint answered 410 Gone.",
        )
        merchant(
            s,
            "mer_flaky",
            webhook_url="https://flaky.example/h",
            webhook_failing_since=since,
            webhook_consecutive_failures=7,
        )
        merchant(s, "mer_none", webhook_enabled=False)  # no endpoint at all
    tile = load(db).webhooks_failing
    assert [(e.merchant_id, e.enabled, e.consecutive_failures) for e in tile.endpoints] == [
        ("mer_gone", False, 0),
        ("mer_flaky", True, 7),
    ]
    assert tile.endpoints[0].disabled_reason == "The endpoint answered 410 Gone."
    assert tile.endpoints[1].failing_since == since
    assert tile.endpoints[1].link == dashboard.EndpointLink(merchant_id="mer_flaky")


def test_attempts_chart_has_48_local_hours_split_by_success_and_failure(db):
    # Kolkata's hours start at half past the UTC hour; the current one began at 11:30 UTC.
    current = datetime(2026, 1, 15, 11, 30, tzinfo=UTC)
    with db.write() as s:
        merchant(s)
        webhook(
            s,
            "failed",
            [
                (current, 500),
                (current + timedelta(minutes=29), None),
                (current - timedelta(seconds=1), 200),  # the hour before
                (current - timedelta(hours=47), 204),  # the first hour shown
                (current - timedelta(hours=47, seconds=1), 200),  # too old
            ],
        )
    chart = load(db).webhook_attempts
    assert chart.unit == "hour" and chart.currency is None
    assert len(chart.buckets) == 48
    assert chart.buckets[-1].start == current
    assert chart.buckets[-1].label == current.astimezone(KOLKATA)
    assert chart.buckets[0].start == current - timedelta(hours=47)
    ok, bad = chart.get("success"), chart.get("failure")
    assert bad.points[-1].count == 2 and ok.points[-1].count == 0
    assert ok.points[-2].count == 1 and ok.points[0].count == 1
    assert ok.total_count == 2 and bad.total_count == 2 and ok.total_amount is None
    assert bad.points[-1].link == dashboard.WebhookLink(
        attempted_from=current, attempted_to=current + timedelta(hours=1), attempt_outcome="failure"
    )


# -- charts ------------------------------------------------------------------------------------------


def test_payment_chart_defaults_to_the_currency_with_most_payments_and_never_mixes(db):
    with db.write() as s:
        merchant(s)
        for day in range(3):
            payment(s, NOW - timedelta(days=day), 1_000, "JPY")
        payment(s, NOW - timedelta(days=1), 1_000, "JPY", status="failed")
        payment(s, NOW, 99_999, "INR")
        payment(s, NOW - timedelta(days=40), 5, "EUR")  # outside the 30 days
    board = load(db, range="30d")
    assert board.currencies == ("JPY", "INR")
    assert board.currency == "JPY"
    chart = board.payment_volume
    assert chart.currency == "JPY" and chart.unit == "day" and len(chart.buckets) == 30
    assert chart.buckets[-1].label == date(2026, 1, 15)
    assert chart.buckets[-1].start == KOLKATA_TODAY
    success = chart.get("success")
    assert [p.count for p in success.points[-3:]] == [1, 1, 1]
    assert success.total_amount == 3_000  # yen only: the INR payment is not in this series
    assert chart.get("failed").points[-2].amount == 1_000
    inr = load(db, range="30d", currency="inr").payment_volume
    assert inr.currency == "INR" and inr.get("success").total_amount == 99_999


def test_a_chart_bar_opens_exactly_the_payments_it_counts(db):
    with db.write() as s:
        merchant(s)
        for minutes in (0, 1, 2):
            payment(s, KOLKATA_TODAY - timedelta(days=1, minutes=-minutes), 700, "JPY")
        payment(s, KOLKATA_TODAY - timedelta(days=1, seconds=1), 700, "JPY")  # day before
        payment(s, KOLKATA_TODAY - timedelta(hours=2), 700, "INR")
    chart = load(db, range="7d", currency="JPY").payment_volume
    point = chart.get("success").points[-2]
    assert point.count == 3
    with db.read() as s:
        rows = payments.page(s, point.link)
    assert len(rows) == 3 and {r.currency for r in rows} == {"JPY"}


def test_refund_chart_shows_requested_and_processed_amounts_per_day(db):
    with db.write() as s:
        merchant(s)
        pid = payment(s, NOW - timedelta(days=20), 100_000)
        s.flush()
        refund(s, pid, NOW - timedelta(days=2), 1_000)
        refund(s, pid, NOW - timedelta(days=2), 2_000, status="processed", processed_at=NOW)
        usd = payment(s, NOW - timedelta(days=20), 100_000, "USD")
        s.flush()
        refund(s, usd, NOW - timedelta(days=2), 4_000, "USD")  # a refund is in its payment's
    chart = load(db, range="7d", currency="INR").refund_amounts
    requested, processed = chart.get("requested"), chart.get("processed")
    assert requested.points[-3].amount == 3_000 and requested.points[-3].count == 2
    assert processed.points[-1].amount == 2_000 and processed.total_count == 1
    assert processed.points[-1].link.status == "processed"
    assert processed.points[-1].link.processed_from == KOLKATA_TODAY


def test_today_range_draws_local_hours(db):
    with db.write() as s:
        merchant(s)
        payment(s, KOLKATA_TODAY + timedelta(minutes=15), 100)
        payment(s, KOLKATA_TODAY + timedelta(hours=17, minutes=29), 200)
    chart = load(db, range="today").payment_volume
    assert chart.unit == "hour" and len(chart.buckets) == 24
    assert chart.buckets[0].label.hour == 0 and chart.buckets[0].start == KOLKATA_TODAY
    success = chart.get("success")
    assert success.points[0].amount == 100 and success.points[17].amount == 200


def test_days_stay_whole_across_a_daylight_saving_change(db):
    ny = ZoneInfo("America/New_York")  # clocks went forward on 2026-03-08
    now = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    with db.write() as s:
        merchant(s)
        payment(s, datetime(2026, 3, 8, 4, 30, tzinfo=UTC), 1)  # Mar 7, 23:30 EST
        payment(s, datetime(2026, 3, 8, 5, 0, tzinfo=UTC), 2)  # Mar 8, 00:00 EST
        payment(s, datetime(2026, 3, 9, 3, 45, tzinfo=UTC), 4)  # Mar 8, 23:45 EDT
        payment(s, datetime(2026, 3, 9, 4, 0, tzinfo=UTC), 8)  # Mar 9, 00:00 EDT
    chart = load(db, now=now, tz=ny, range="7d").payment_volume
    by_day = {
        b.label: p.amount for b, p in zip(chart.buckets, chart.get("success").points, strict=True)
    }
    assert by_day[date(2026, 3, 7)] == 1
    assert by_day[date(2026, 3, 8)] == 6
    assert by_day[date(2026, 3, 9)] == 8
    day = next(b for b in chart.buckets if b.label == date(2026, 3, 8))
    assert day.end - day.start == timedelta(hours=23)


# -- the scheduler tile and bad input -----------------------------------------------------------------


def test_scheduler_tile_turns_red_for_a_late_or_failing_task(db):
    with db.write() as s:
        record_task_run(
            s,
            task="heartbeat",
            client_id="a",
            at=NOW - timedelta(seconds=10),
            outcome="ok",
            next_run_at=NOW + timedelta(seconds=5),
        )
    assert load(db).scheduler.ok
    with db.write() as s:
        record_task_run(
            s,
            task="webhook_dispatch",
            client_id="a",
            at=NOW - timedelta(seconds=3),
            outcome="error",
            message="The database is locked.",
            next_run_at=NOW + timedelta(seconds=2),
        )
    tile = load(db).scheduler
    assert not tile.ok and [t.task for t in tile.erroring] == ["webhook_dispatch"]
    assert tile.link == dashboard.JobsLink()


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [
        ({"range": "1y"}, "'1y' is not a dashboard range; use today, 7d, 30d or 90d."),
        ({"currency": "XYZ"}, "'XYZ' is not a currency Paydesk knows."),
    ],
)
def test_bad_range_or_currency_is_refused_with_a_sentence(db, kwargs, sentence):
    with pytest.raises(InputError) as err:
        load(db, **kwargs)
    assert err.value.message == sentence


def test_an_empty_database_gives_zeroes_and_no_chart_currency(db):
    board = load(db, range="90d")
    assert board.payments_today.count == 0 and board.payments_today.volume == ()
    assert board.currency is None and board.currencies == ()
    assert len(board.payment_volume.buckets) == 90
    assert board.payment_volume.get("success").total_count == 0
    assert board.refunds_awaiting.oldest_age is None and not board.refunds_awaiting.overdue
    assert board.webhooks_failing.failing == 0 and board.scheduler.ok
