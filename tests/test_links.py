"""What a dashboard tile or bar counts is what its link lists: load the dashboard, take the
link, turn it into the view's filter, page it, and compare. On both databases."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import InputError
from core.overview import dashboard
from core.refunds import queries as rq
from core.refunds.records import RefundFilter, RefundView, filter_for_link
from core.store.models import Merchant, Payment, Refund, WebhookAttempt, WebhookLog
from core.webhooks import deliveries as webhooks
from core.webhooks.deliveries import WebhookFilter
from tests.webhook_receiver import SUPPORT, add_staff

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # 17:30 in Kolkata
KOLKATA = ZoneInfo("Asia/Kolkata")
# Today in Kolkata runs from 2026-01-14 18:30 UTC to 2026-01-15 18:30 UTC.
KOLKATA_TODAY = datetime(2026, 1, 14, 18, 30, tzinfo=UTC)
# Local hours start at half past in UTC: 15:00 to 16:00 in Kolkata, a bar of the attempts chart.
HOUR = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

_seq = itertools.count(1)


def _merchant(session, mid="mer_a"):
    session.add(Merchant(id=mid, name=mid.upper(), email=f"{mid}@x.test", created_at=NOW))
    session.flush()


def _payment(session, amount=100_000, currency="INR"):
    pid = f"pay_{next(_seq):06d}"
    at = NOW - timedelta(days=40)
    session.add(
        Payment(
            id=pid,
            merchant_id="mer_a",
            order_id=f"order_{pid}",
            amount=amount,
            currency=currency,
            method="card",
            status="success",
            captured=True,
            created_at=at,
            updated_at=at,
        )
    )
    session.flush()
    return pid


def _refund(session, pid, at, currency="INR", status="pending_approval", processed_at=None):
    rid = f"rfnd_{next(_seq):06d}"
    session.add(
        Refund(
            id=rid,
            payment_id=pid,
            merchant_id="mer_a",
            amount=100,
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


def _webhook(session, status, attempts=(), at=NOW - timedelta(hours=3)):
    """A delivery and its attempts, each (started_at, response_code or None: no answer)."""
    lid = f"msg_{next(_seq):06d}"
    session.add(
        WebhookLog(
            id=lid,
            merchant_id="mer_a",
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


def _board(db, **kw) -> dashboard.Dashboard:
    kw.setdefault("now", NOW)
    kw.setdefault("tz", KOLKATA)
    with db.read() as session:
        return dashboard.load(session, **kw)


def _all_refunds(db, f: RefundFilter, limit: int = 1000) -> list[RefundView]:
    """Every row of ``f``, page by page (``limit`` rows at a time)."""
    out: list[RefundView] = []
    with db.read() as session:
        while True:
            rows = rq.page(session, f, out[-1].cursor() if out else None, limit, now=NOW)
            out.extend(rows)
            if len(rows) < limit:
                return out


def _all_webhooks(db, f: WebhookFilter, limit: int = 1000) -> list[webhooks.WebhookRow]:
    out: list[webhooks.WebhookRow] = []
    with db.read() as session:
        while True:
            rows = webhooks.page(session, f, out[-1].cursor() if out else None, limit)
            out.extend(rows)
            if len(rows) < limit:
                return out


def _refund_ids(db, link: dashboard.RefundLink) -> list[str]:
    return [r.id for r in _all_refunds(db, filter_for_link(link))]


def _webhook_ids(db, link: dashboard.WebhookLink) -> list[str]:
    return [r.id for r in _all_webhooks(db, webhooks.filter_for_link(link))]


# -- webhooks ------------------------------------------------------------------------------------


def _webhook_data(db) -> dict[str, str]:
    fail, ok = 500, 200
    hour = HOUR
    with db.write() as s:
        _merchant(s)
        ids = {
            "failed": _webhook(
                s,
                "failed",
                [(hour - timedelta(minutes=50), fail), (hour + timedelta(minutes=1), fail)],
            ),
            "failed_no_answer": _webhook(s, "failed", [(hour + timedelta(minutes=3), None)]),
            "retrying": _webhook(s, "pending", [(hour + timedelta(minutes=4), 503)]),
            # Re-sent after a success: pending, older attempts failed, the latest did not.
            "resent": _webhook(
                s,
                "pending",
                [(hour - timedelta(hours=5), fail), (hour + timedelta(minutes=5), ok)],
            ),
            "fresh": _webhook(s, "pending"),  # not tried yet
            "delivered_late": _webhook(
                s, "success", [(hour + timedelta(minutes=6), fail), (hour + timedelta(hours=1), ok)]
            ),
            "delivered": _webhook(s, "success", [(hour + timedelta(minutes=7), ok)]),
        }
    return ids


def test_failing_tile_lists_exactly_the_deliveries_it_counts(db):
    ids = _webhook_data(db)
    tile = _board(db).webhooks_failing
    listed = _webhook_ids(db, tile.link)
    assert tile.failing == len(listed) == 3
    assert set(listed) == {ids["failed"], ids["failed_no_answer"], ids["retrying"]}
    with db.read() as session:
        assert webhooks.count_matching(session, webhooks.filter_for_link(tile.link)) == 3


def test_failing_combines_with_status_into_failed_or_retrying(db):
    ids = _webhook_data(db)
    tile = _board(db).webhooks_failing
    failed = _all_webhooks(db, WebhookFilter(failing=True, status="failed"))
    retrying = _all_webhooks(db, WebhookFilter(failing=True, status="pending"))
    assert len(failed) == tile.failed == 2
    assert [r.id for r in retrying] == [ids["retrying"]] and tile.retrying == 1


def test_every_attempt_chart_bar_lists_the_deliveries_behind_its_attempts(db):
    ids = _webhook_data(db)
    chart = _board(db).webhook_attempts
    seen = 0
    for series in chart.series:
        for point in series.points:
            listed = _webhook_ids(db, point.link)
            # One attempt per delivery, outcome and hour in this data: counts agree.
            assert point.count == len(listed), (series.key, point.link)
            seen += point.count
    assert seen == 9
    hour = HOUR
    at = next(i for i, b in enumerate(chart.buckets) if b.start == hour)
    assert set(_webhook_ids(db, chart.get("failure").points[at].link)) == {
        ids["failed"],
        ids["failed_no_answer"],
        ids["retrying"],
        ids["delivered_late"],
    }
    assert set(_webhook_ids(db, chart.get("success").points[at].link)) == {
        ids["resent"],
        ids["delivered"],
    }
    assert _webhook_ids(db, chart.get("success").points[at + 1].link) == [ids["delivered_late"]]


def test_a_delivery_with_several_attempts_in_one_hour_is_listed_once(db):
    hour = HOUR
    with db.write() as s:
        _merchant(s)
        lid = _webhook(s, "pending", [(hour + timedelta(minutes=m), 500) for m in (0, 1, 6)])
    chart = _board(db).webhook_attempts
    at = next(i for i, b in enumerate(chart.buckets) if b.start == hour)
    point = chart.get("failure").points[at]
    # The bar counts attempts; the list shows each delivery once.
    assert point.count == 3
    assert _webhook_ids(db, point.link) == [lid]


def test_attempt_window_is_half_open(db):
    hour = HOUR
    with db.write() as s:
        _merchant(s)
        at_start = _webhook(s, "failed", [(hour, 500)])
        _webhook(s, "failed", [(hour + timedelta(hours=1), 500)])  # the next hour's
    f = WebhookFilter(
        attempted_from=hour, attempted_to=hour + timedelta(hours=1), attempt_outcome="failure"
    )
    assert [r.id for r in _all_webhooks(db, f)] == [at_start]


def test_failing_and_attempt_filters_page_by_key_without_gaps(db):
    with db.write() as s:
        _merchant(s)
        for i in range(7):
            _webhook(s, "failed", [(NOW - timedelta(minutes=30), 500)], at=NOW - timedelta(hours=i))
            _webhook(
                s, "success", [(NOW - timedelta(minutes=20), 200)], at=NOW - timedelta(hours=i)
            )
    f = WebhookFilter(failing=True, attempted_from=NOW - timedelta(hours=1))
    whole = _all_webhooks(db, f)
    assert len(whole) == 7
    assert [r.id for r in _all_webhooks(db, f, limit=2)] == [r.id for r in whole]


def test_bulk_retry_of_the_failing_filter_retries_what_the_tile_counts(ctx):
    ids = _webhook_data(ctx.db)
    add_staff(ctx)
    with ctx.db.write() as s:  # bulk retry leaves out merchants without an endpoint
        s.get(Merchant, "mer_a").webhook_url = "https://a.example/hooks"
    tile = _board(ctx.db).webhooks_failing
    f = webhooks.filter_for_link(tile.link)
    assert webhooks.bulk_retry(ctx, SUPPORT, f) == tile.failing == 3
    with ctx.db.read() as session:
        statuses = {
            r.id: r.status for r in webhooks.rows_by_id(session, list(ids.values())).values()
        }
    assert statuses[ids["failed"]] == statuses[ids["failed_no_answer"]] == "pending"
    assert statuses[ids["delivered"]] == "success"


@pytest.mark.parametrize(
    ("f", "sentence"),
    [
        (WebhookFilter(attempt_outcome="maybe"), "not an attempt outcome"),
        (
            WebhookFilter(attempted_from=NOW, attempted_to=NOW - timedelta(hours=1)),
            "attempt time range is after its end",
        ),
    ],
)
def test_bad_attempt_filters_are_refused_with_a_sentence(db, f, sentence):
    with db.read() as session, pytest.raises(InputError, match=sentence):
        webhooks.page(session, f)


# -- refunds -------------------------------------------------------------------------------------


def _refund_data(db) -> dict[str, str]:
    with db.write() as s:
        _merchant(s)
        inr, jpy = _payment(s), _payment(s, 100_000, "JPY")
        ids = {
            "waiting_old": _refund(s, inr, NOW - timedelta(days=6)),
            "waiting_new": _refund(s, jpy, NOW - timedelta(hours=1), "JPY"),
            "waiting_mid": _refund(s, inr, NOW - timedelta(days=2)),
            # Processed today in Kolkata, requested long ago.
            "processed_inr": _refund(
                s, inr, NOW - timedelta(days=20), status="processed", processed_at=KOLKATA_TODAY
            ),
            "processed_jpy": _refund(
                s, jpy, NOW - timedelta(days=3), "JPY", "processed", NOW - timedelta(hours=2)
            ),
            # 23:59:59 yesterday, local: not today's.
            "processed_yesterday": _refund(
                s,
                inr,
                NOW - timedelta(days=3),
                status="processed",
                processed_at=KOLKATA_TODAY - timedelta(seconds=1),
            ),
            "approved": _refund(s, inr, NOW - timedelta(days=2), status="approved"),
        }
    return ids


def test_awaiting_tile_lists_its_refunds_oldest_first(db):
    ids = _refund_data(db)
    tile = _board(db).refunds_awaiting
    listed = _refund_ids(db, tile.link)
    assert tile.count == len(listed) == 3
    assert listed == [ids["waiting_old"], ids["waiting_mid"], ids["waiting_new"]]


def test_processed_today_tile_and_its_currency_lines_list_what_they_count(db):
    ids = _refund_data(db)
    tile = _board(db).refunds_processed
    assert tile.count == len(_refund_ids(db, tile.link)) == 2
    assert {c.currency: _refund_ids(db, c.link) for c in tile.by_currency} == {
        "INR": [ids["processed_inr"]],
        "JPY": [ids["processed_jpy"]],
    }
    for line in tile.by_currency:
        assert line.count == len(_refund_ids(db, line.link))


def test_every_refund_chart_bar_lists_what_it_counts(db):
    _refund_data(db)
    board = _board(db, range="7d", currency="INR")
    total = 0
    for series in board.refund_amounts.series:
        for point in series.points:
            rows = _all_refunds(db, filter_for_link(point.link))
            assert point.count == len(rows), (series.key, point.link)
            assert point.amount == sum(r.amount for r in rows)
            assert all(r.currency == "INR" for r in rows)
            total += point.count
    # Requested within the 7 days: waiting_old, waiting_mid, processed_yesterday, approved;
    # processed: processed_inr (today), processed_yesterday.
    assert total == 6


def test_refund_filter_pages_by_key_in_both_orders(db):
    with db.write() as s:
        _merchant(s)
        pid = _payment(s)
        same = NOW - timedelta(hours=5)  # equal times: the id breaks the tie
        for i in range(9):
            _refund(s, pid, same if i % 3 == 0 else NOW - timedelta(hours=i), status="processed",
                    processed_at=NOW - timedelta(minutes=i))  # fmt: skip
    for descending in (True, False):
        f = RefundFilter(
            currency="inr", processed_from=NOW - timedelta(hours=1), descending=descending
        )
        whole = _all_refunds(db, f)
        assert len(whole) == 9
        keys = [(r.created_at, r.id) for r in whole]
        assert keys == sorted(keys, reverse=descending)
        assert [r.id for r in _all_refunds(db, f, limit=2)] == [r.id for r in whole]


@pytest.mark.parametrize(
    ("f", "sentence"),
    [
        (RefundFilter(currency="XYZ"), "not a currency Paydesk knows"),
        (
            RefundFilter(created_from=NOW, created_to=NOW - timedelta(days=1)),
            "requested time range is after its end",
        ),
        (
            RefundFilter(processed_from=NOW, processed_to=NOW - timedelta(days=1)),
            "processed time range is after its end",
        ),
    ],
)
def test_bad_refund_filters_are_refused_with_a_sentence(db, f, sentence):
    with db.read() as session, pytest.raises(InputError, match=sentence):
        rq.page(session, f)
