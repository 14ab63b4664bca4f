"""The dashboard: KPI tiles and charts that answer "is anything wrong right now?".

``load`` returns one frozen ``Dashboard`` of plain dataclasses; the GUI draws it and turns
each tile's or bar's ``link`` into the filtered view behind it. Definitions:

- Day boundaries are local midnights in the ``tz`` handed in; "today" is the local day
  that contains ``now``. Payment and refund figures come from the rollup tables
  (``core.overview.rollups``: 15-minute UTC buckets, which sum exactly into local days and hours).
- Payments today: every payment created today, any status. Volume: the amount of the
  successful ones, per currency.
- Success rate: success / (success + failed); pending payments are not decided yet and
  are left out. Today against the seven whole local days before today.
- Refunds awaiting approval: status ``pending_approval``; overdue when the oldest is older
  than the policy's ``pro_rata_auto_approve_days`` (0: never overdue).
- Refunds processed today: status ``processed`` with ``processed_at`` today, per currency.
- Webhook deliveries failing now: ``failed`` ones, plus ``pending`` ones whose latest
  attempt failed (retrying; so they have at least one failed attempt). A delivery resent
  after a success is not failing, whatever its older attempts did. Endpoints with a problem: disabled, or failing
  since some time (``webhook_failing_since``) or with consecutive failures.
- Charts: payments per local day over the range split by status, and refunds per local
  day (requested by created_at, processed by processed_at), both in one currency; webhook
  attempts per hour over the last 48 hours, success (2xx) vs failure. For the ``today``
  range the payment and refund charts use local hours.
- Money is integer minor units of one currency; no series mixes currencies. The chart
  currency defaults to the one with the most payments in the range (amounts in different
  currencies cannot be compared without exchange rates; counts can).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from core import money
from core.access import policy
from core.clock import utc
from core.errors import InputError
from core.health.check import TaskHealth, task_health
from core.overview.links import (
    EndpointLink,
    JobsLink,
    Link,
    ReconLink,
    RefundLink,
    WebhookLink,
)
from core.overview.rollups import epoch_sql
from core.payments.queries import PaymentFilter
from core.recon import service as recon
from core.refunds.awaiting import awaiting_approval
from core.refunds.states import RefundStatus
from core.store.models import WEBHOOK_RETRYING, Merchant, WebhookAttempt, WebhookLog

RangeName = Literal["today", "7d", "30d", "90d"]
RANGES: dict[str, int] = {"today": 1, "7d": 7, "30d": 30, "90d": 90}
PAYMENT_STATUSES = ("success", "failed", "pending")
REFUND_MEASURES = ("requested", "processed")
ATTEMPT_OUTCOMES = ("success", "failure")
BASELINE_DAYS = 7
WEBHOOK_HOURS = 48
DAY = 86_400
HOUR = 3_600
_EPOCH_DATE = date(1970, 1, 1)


# -- tiles -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyTotal:
    """A count and an amount (minor units) in one currency."""

    currency: str
    count: int
    amount: int
    link: Link


@dataclass(frozen=True)
class PaymentsTodayTile:
    """Payments created today (any status); ``volume`` per currency is the amount and
    count of the successful ones, most payments first."""

    count: int
    volume: tuple[CurrencyTotal, ...]
    link: PaymentFilter


@dataclass(frozen=True)
class Outcomes:
    """Payment counts by status over a period."""

    success: int = 0
    failed: int = 0
    pending: int = 0

    @property
    def decided(self) -> int:
        return self.success + self.failed

    @property
    def rate(self) -> float | None:
        """success / (success + failed), or None when nothing was decided."""
        return self.success / self.decided if self.decided else None


@dataclass(frozen=True)
class SuccessRateTile:
    """Success rate today against the seven whole local days before today."""

    today: Outcomes
    last_7_days: Outcomes
    link: PaymentFilter  # today's failed payments

    @property
    def change(self) -> float | None:
        """Today's rate minus the baseline's (a fraction: -0.05 is five points down)."""
        if self.today.rate is None or self.last_7_days.rate is None:
            return None
        return self.today.rate - self.last_7_days.rate


@dataclass(frozen=True)
class RefundsAwaitingTile:
    """Refunds waiting for a decision; ``overdue`` (red) when the oldest has waited longer
    than the policy's auto-approve age."""

    count: int
    oldest_requested_at: datetime | None
    oldest_age: timedelta | None
    auto_approve_days: int  # 0: auto-approval is off, never overdue
    overdue: bool
    link: RefundLink


@dataclass(frozen=True)
class RefundsProcessedTile:
    """Refunds processed today, per currency."""

    count: int
    by_currency: tuple[CurrencyTotal, ...]
    link: RefundLink


@dataclass(frozen=True)
class EndpointProblem:
    """A merchant endpoint that is disabled or failing."""

    merchant_id: str
    name: str
    url: str | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    consecutive_failures: int
    link: EndpointLink


@dataclass(frozen=True)
class WebhooksFailingTile:
    """Deliveries failing now: ``failed`` plus ``retrying`` (pending, latest attempt failed)."""

    failing: int
    failed: int
    retrying: int
    endpoints: tuple[EndpointProblem, ...]
    link: WebhookLink
    endpoints_link: EndpointLink


@dataclass(frozen=True)
class ReconTile:
    """Settlement lines that need a person and the difference they leave unexplained, per
    currency (settled minus expected, minor units; ``core.recon.service.open_totals``)."""

    open_exceptions: int
    unexplained: tuple[tuple[str, int], ...]  # (currency, difference), largest first
    imported: bool  # whether any settlement report was imported at all
    link: ReconLink


@dataclass(frozen=True)
class SchedulerTile:
    """Every recorded scheduler task; red when any is late or its last run failed."""

    tasks: tuple[TaskHealth, ...]
    link: JobsLink

    @property
    def late(self) -> tuple[TaskHealth, ...]:
        return tuple(t for t in self.tasks if t.late)

    @property
    def erroring(self) -> tuple[TaskHealth, ...]:
        return tuple(t for t in self.tasks if t.erroring)

    @property
    def ok(self) -> bool:
        return not self.late and not self.erroring


# -- charts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """One bar position: ``[start, end)`` in aware UTC; ``label`` is the local date (day
    buckets) or the local start time (hour buckets)."""

    start: datetime
    end: datetime
    label: date | datetime


@dataclass(frozen=True)
class Point:
    """One bar segment. ``amount`` is minor units of the chart's currency (None for
    webhook attempts)."""

    count: int
    amount: int | None
    link: Link


@dataclass(frozen=True)
class Series:
    """One status (or measure, or outcome): a point per chart bucket, in bucket order."""

    key: str
    points: tuple[Point, ...]

    @property
    def total_count(self) -> int:
        return sum(p.count for p in self.points)

    @property
    def total_amount(self) -> int | None:
        if any(p.amount is None for p in self.points):
            return None
        return sum(p.amount or 0 for p in self.points)


@dataclass(frozen=True)
class Chart:
    """Bars over ``buckets``; every series has one point per bucket."""

    title: str
    unit: Literal["day", "hour"]
    currency: str | None
    buckets: tuple[Bucket, ...]
    series: tuple[Series, ...]

    def get(self, key: str) -> Series:
        """The series named ``key``."""
        for s in self.series:
            if s.key == key:
                return s
        raise KeyError(key)


@dataclass(frozen=True)
class Dashboard:
    """Everything on the dashboard at ``now`` for ``range`` in ``timezone``."""

    now: datetime
    range: str
    timezone: tzinfo
    today: date
    currency: str | None  # of the payment and refund charts; None when there is nothing
    currencies: tuple[str, ...]  # with payments in the range, most payments first
    payments_today: PaymentsTodayTile
    success_rate: SuccessRateTile
    refunds_awaiting: RefundsAwaitingTile
    refunds_processed: RefundsProcessedTile
    webhooks_failing: WebhooksFailingTile
    recon: ReconTile
    scheduler: SchedulerTile
    payment_volume: Chart
    webhook_attempts: Chart
    refund_amounts: Chart


# -- local time ------------------------------------------------------------------------------------------


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The aware UTC instant at which local ``day`` starts in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def _offset(epoch: int, tz: tzinfo) -> int:
    delta = datetime.fromtimestamp(epoch, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _offset_segments(start: int, end: int, tz: tzinfo) -> list[tuple[int, int]]:
    """``(from_epoch, utc_offset)`` pieces covering ``[start, end)``, the offset constant in
    each (a new piece at every daylight-saving change)."""
    samples = [*range(start, end, DAY // 2), end]
    segments = [(start, _offset(start, tz))]
    for prev, cur in pairwise(samples):
        off = _offset(cur, tz)
        if off == segments[-1][1]:
            continue
        lo, hi = prev, cur  # the change lies in (lo, hi]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset(mid, tz) == segments[-1][1]:
                lo = mid
            else:
                hi = mid
        segments.append((hi, off))
    return segments


def _local_day_sql(column: str, segments: list[tuple[int, int]]) -> str:
    """SQL for the local day number (days since 1970-01-01, local) of an epoch column."""
    if len(segments) == 1:
        return f"(({column}) + {segments[0][1]}) / {DAY}"
    whens = " ".join(
        f"WHEN {column} < {nxt} THEN ({column} + {off}) / {DAY}"
        for (_, off), (nxt, _) in pairwise(segments)
    )
    return f"(CASE {whens} ELSE ({column} + {segments[-1][1]}) / {DAY} END)"


def _day_buckets(first: date, days: int, tz: tzinfo) -> list[tuple[int, Bucket]]:
    out = []
    for i in range(days):
        d = first + timedelta(days=i)
        out.append(
            (
                (d - _EPOCH_DATE).days,
                Bucket(local_midnight(d, tz), local_midnight(d + timedelta(days=1), tz), d),
            )
        )
    return out


def _hour_buckets(start: datetime, end: datetime, tz: tzinfo) -> list[tuple[int, Bucket]]:
    """Hours from ``start`` (a local hour boundary) to ``end``, keyed by hours since start."""
    out = []
    i, t = 0, start
    while t < end:
        nxt = min(t + timedelta(hours=1), end)
        out.append((i, Bucket(t, nxt, t.astimezone(tz))))
        i, t = i + 1, nxt
    return out


# -- loading ---------------------------------------------------------------------------------------------


def load(
    session: Session,
    *,
    now: datetime,
    range: RangeName | str = "30d",
    currency: str | None = None,
    tz: tzinfo = UTC,
) -> Dashboard:
    """Every tile and chart of the dashboard at ``now``.

    ``range`` (today, 7d, 30d, 90d) sets the span of the payment and refund charts;
    ``currency`` their currency (default: the one with the most payments in the range);
    ``tz`` where local days begin. Raises InputError for an unknown range or currency.
    Read-only: run it in ``db.read()`` off the UI thread.
    """
    if range not in RANGES:
        raise InputError(f"{range!r} is not a dashboard range; use today, 7d, 30d or 90d.")
    if currency is not None:
        money.exponent(currency)  # refuses an unknown currency with a sentence
        currency = currency.upper()
    now = utc(now)
    dialect = session.get_bind().dialect.name
    settings = policy.get_all(session)

    today = now.astimezone(tz).date()
    today_start = local_midnight(today, tz)
    tomorrow_start = local_midnight(today + timedelta(days=1), tz)
    days = RANGES[range]
    range_first = today - timedelta(days=days - 1)

    # Payments per local day, currency and status, over the range and the baseline week.
    pay_first = min(range_first, today - timedelta(days=BASELINE_DAYS))
    pay_days = _rollup_days(session, "payment_rollup", "status", pay_first, today, tz)
    today_key = (today - _EPOCH_DATE).days
    baseline_keys = _days_before(today_key, 1, BASELINE_DAYS)
    range_keys = _days_before(today_key, 0, days)

    payments_today = _payments_today_tile(pay_days, today_key, today_start, tomorrow_start)
    success_rate = SuccessRateTile(
        today=_outcomes(pay_days, {today_key}),
        last_7_days=_outcomes(pay_days, baseline_keys),
        link=PaymentFilter(status="failed", created_from=today_start, created_to=tomorrow_start),
    )

    by_currency: dict[str, int] = defaultdict(int)
    for (k, cur, _status), (n, _amount) in pay_days.items():
        if k in range_keys:
            by_currency[cur] += n
    currencies = tuple(sorted(by_currency, key=lambda c: (-by_currency[c], c)))
    chart_currency = currency or (currencies[0] if currencies else None)

    if range == "today":
        buckets = _hour_buckets(today_start, tomorrow_start, tz)
        pay_chart_rows = _rollup_hours(
            session, "payment_rollup", "status", today_start, tomorrow_start, chart_currency
        )
        refund_chart_rows = _rollup_hours(
            session, "refund_rollup", "measure", today_start, tomorrow_start, chart_currency
        )
        refund_days = _rollup_days(session, "refund_rollup", "measure", today, today, tz)
        unit: Literal["day", "hour"] = "hour"
    else:
        buckets = _day_buckets(range_first, days, tz)
        pay_chart_rows = {
            (k, status): v for (k, cur, status), v in pay_days.items() if cur == chart_currency
        }
        refund_days = _rollup_days(session, "refund_rollup", "measure", range_first, today, tz)
        refund_chart_rows = {
            (k, m): v for (k, cur, m), v in refund_days.items() if cur == chart_currency
        }
        unit = "day"

    payment_volume = _chart(
        "Payments",
        unit,
        chart_currency,
        buckets,
        pay_chart_rows,
        PAYMENT_STATUSES,
        lambda status, b: PaymentFilter(
            status=status, currency=chart_currency, created_from=b.start, created_to=b.end
        ),
    )
    refund_amounts = _chart(
        "Refunds",
        unit,
        chart_currency,
        buckets,
        refund_chart_rows,
        REFUND_MEASURES,
        lambda measure, b: _refund_link(measure, chart_currency, b),
    )

    auto_days = int(settings["pro_rata_auto_approve_days"])
    grace = timedelta(seconds=int(settings["health_task_late_seconds"]))
    return Dashboard(
        now=now,
        range=range,
        timezone=tz,
        today=today,
        currency=chart_currency,
        currencies=currencies,
        payments_today=payments_today,
        success_rate=success_rate,
        refunds_awaiting=_refunds_awaiting_tile(session, now, auto_days),
        refunds_processed=_refunds_processed_tile(
            refund_days, today_key, today_start, tomorrow_start
        ),
        webhooks_failing=_webhooks_failing_tile(session),
        recon=_recon_tile(session),
        scheduler=SchedulerTile(tuple(task_health(session, now, grace)), JobsLink()),
        payment_volume=payment_volume,
        webhook_attempts=_webhook_attempts_chart(session, dialect, now, tz),
        refund_amounts=refund_amounts,
    )


def _recon_tile(session: Session) -> ReconTile:
    totals = recon.open_totals(session)
    imported = totals.open_exceptions > 0 or recon.any_imported(session)
    unexplained = sorted(totals.unexplained.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    return ReconTile(
        totals.open_exceptions, tuple(unexplained), imported, ReconLink(open_only=True)
    )


RollupRows = dict[tuple[Any, ...], tuple[int, int]]


def _days_before(key: int, first: int, count: int) -> set[int]:
    """Day numbers ``key - first`` back to ``key - first - count + 1``."""
    return {key - first - i for i in range(count)}


def _rollup_days(
    session: Session,
    table: str,
    key: str,
    first: date,
    last: date,
    tz: tzinfo,
) -> RollupRows:
    """``{(local day number, currency, key): (count, amount)}`` for local days
    ``first``..``last`` from a rollup table."""
    start = _epoch(local_midnight(first, tz))
    end = _epoch(local_midnight(last + timedelta(days=1), tz))
    day = _local_day_sql("bucket", _offset_segments(start, end, tz))
    # Sums come back as int or Decimal depending on the database: int() makes them one.
    rows: Iterable[tuple[Any, str, str, Any, Any]] = session.execute(
        text(
            f"SELECT {day} AS d, currency, {key}, sum(count), sum(amount) FROM {table} "
            f"WHERE bucket >= {start} AND bucket < {end} GROUP BY 1, 2, 3"
        )
    )
    return {(int(d), cur, k): (int(n), int(a)) for d, cur, k, n, a in rows}


def _rollup_hours(
    session: Session,
    table: str,
    key: str,
    start: datetime,
    end: datetime,
    currency: str | None,
) -> RollupRows:
    """``{(hours since start, key): (count, amount)}`` in one currency."""
    if currency is None:
        return {}
    s, e = _epoch(start), _epoch(end)
    rows: Iterable[tuple[Any, str, Any, Any]] = session.execute(
        text(
            f"SELECT (bucket - {s}) / {HOUR} AS h, {key}, sum(count), sum(amount) FROM {table} "
            f"WHERE bucket >= {s} AND bucket < {e} AND currency = :currency GROUP BY 1, 2"
        ),
        {"currency": currency},
    )
    return {(int(h), k): (int(n), int(a)) for h, k, n, a in rows}


def _chart(
    title: str,
    unit: Literal["day", "hour"],
    currency: str | None,
    buckets: Sequence[tuple[Any, Bucket]],
    rows: Mapping[tuple[Any, str], tuple[int, int]],
    names: Sequence[str],
    link: Callable[[str, Bucket], Link],
) -> Chart:
    """One series per name of ``names``, a point per bucket: its count and amount from
    ``rows`` (keyed by bucket key and name) and the list behind it."""
    return Chart(
        title=title,
        unit=unit,
        currency=currency,
        buckets=tuple(b for _, b in buckets),
        series=tuple(
            Series(name, tuple(_point(rows.get((k, name)), link(name, b)) for k, b in buckets))
            for name in names
        ),
    )


def _point(value: tuple[int, int] | None, link: Link) -> Point:
    n, amount = value or (0, 0)
    return Point(n, amount, link)


def _outcomes(rows: RollupRows, keys: Iterable[int]) -> Outcomes:
    wanted = set(keys)
    counts: dict[str, int] = defaultdict(int)
    for (k, _cur, status), (n, _a) in rows.items():
        if k in wanted:
            counts[status] += n
    return Outcomes(counts["success"], counts["failed"], counts["pending"])


def _payments_today_tile(
    rows: RollupRows, today_key: int, start: datetime, end: datetime
) -> PaymentsTodayTile:
    total = 0
    ok: dict[str, list[int]] = {}
    for (k, cur, status), (n, amount) in rows.items():
        if k != today_key:
            continue
        total += n
        entry = ok.setdefault(cur, [0, 0, 0])  # all payments, successful, their amount
        entry[0] += n
        if status == "success":
            entry[1] += n
            entry[2] += amount
    volume = tuple(
        CurrencyTotal(
            cur,
            v[1],
            v[2],
            PaymentFilter(status="success", currency=cur, created_from=start, created_to=end),
        )
        for cur, v in sorted(ok.items(), key=lambda kv: (-kv[1][0], kv[0]))
    )
    return PaymentsTodayTile(total, volume, PaymentFilter(created_from=start, created_to=end))


def _refund_link(measure: str, currency: str | None, b: Bucket) -> RefundLink:
    if measure == "processed":
        return RefundLink(
            status="processed", currency=currency, processed_from=b.start, processed_to=b.end
        )
    return RefundLink(currency=currency, created_from=b.start, created_to=b.end)


def _refunds_processed_tile(
    rows: RollupRows, today_key: int, start: datetime, end: datetime
) -> RefundsProcessedTile:
    totals: dict[str, list[int]] = {}
    for (k, cur, measure), (n, amount) in rows.items():
        if k == today_key and measure == "processed" and n:
            entry = totals.setdefault(cur, [0, 0])
            entry[0] += n
            entry[1] += amount
    by_currency = tuple(
        CurrencyTotal(
            cur,
            n,
            amount,
            RefundLink(status="processed", currency=cur, processed_from=start, processed_to=end),
        )
        for cur, (n, amount) in sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))
    )
    return RefundsProcessedTile(
        sum(c.count for c in by_currency),
        by_currency,
        RefundLink(status="processed", processed_from=start, processed_to=end),
    )


def _refunds_awaiting_tile(session: Session, now: datetime, auto_days: int) -> RefundsAwaitingTile:
    waiting = awaiting_approval(session)
    n, oldest = waiting.count, waiting.oldest
    age = None if oldest is None else max(now - oldest, timedelta(0))
    overdue = bool(auto_days and age is not None and age > timedelta(days=auto_days))
    return RefundsAwaitingTile(
        int(n),
        oldest,
        age,
        auto_days,
        overdue,
        RefundLink(status=RefundStatus.PENDING_APPROVAL, oldest_first=True),
    )


def _as_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _webhooks_failing_tile(session: Session) -> WebhooksFailingTile:
    failed = session.scalar(
        select(func.count()).select_from(WebhookLog).where(WebhookLog.status == "failed")
    )
    # The log keeps its latest attempt's response code: a pending delivery whose latest
    # attempt failed is being retried. (Its attempts table would say the same, at a cost
    # that grows with the whole attempt history.)
    retrying = session.scalar(
        select(func.count()).select_from(WebhookLog).where(text(WEBHOOK_RETRYING))
    )
    rows = session.execute(
        select(
            Merchant.id,
            Merchant.name,
            Merchant.webhook_url,
            Merchant.webhook_enabled,
            Merchant.webhook_disabled_reason,
            Merchant.webhook_failing_since,
            Merchant.webhook_consecutive_failures,
        )
        .where(
            Merchant.webhook_url.is_not(None),
            or_(
                Merchant.webhook_enabled.is_(False),
                Merchant.webhook_failing_since.is_not(None),
                Merchant.webhook_consecutive_failures > 0,
            ),
        )
        .order_by(Merchant.webhook_enabled, Merchant.name, Merchant.id)
    )
    endpoints = tuple(
        EndpointProblem(
            mid,
            name,
            url,
            bool(enabled),
            reason,
            None if since is None else utc(since),
            int(failures or 0),
            EndpointLink(merchant_id=mid),
        )
        for mid, name, url, enabled, reason, since, failures in rows
    )
    failed, retrying = int(failed or 0), int(retrying or 0)
    return WebhooksFailingTile(
        failed + retrying,
        failed,
        retrying,
        endpoints,
        WebhookLink(failing=True),
        EndpointLink(problems=True),
    )


def _webhook_attempts_chart(session: Session, dialect: str, now: datetime, tz: tzinfo) -> Chart:
    """Attempts per hour for the 48 local hours ending with the current one."""
    local = now.astimezone(tz)
    hour_start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    # Offsets of a quarter or half hour make local hours start off the UTC hour.
    end = hour_start + timedelta(hours=1)
    start = end - timedelta(hours=WEBHOOK_HOURS)
    buckets = _hour_buckets(start, end, tz)
    s = _epoch(start)
    epoch = epoch_sql(dialect, "started_at")
    ok = and_(WebhookAttempt.response_code >= 200, WebhookAttempt.response_code < 300)
    hour = text(f"({epoch} - {s}) / {HOUR}")
    rows: Iterable[tuple[Any, Any, int]] = session.execute(
        select(hour, ok, func.count())
        .select_from(WebhookAttempt)
        .where(WebhookAttempt.started_at >= start, WebhookAttempt.started_at < end)
        .group_by(text("1"), text("2"))
    )
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for h, success, n in rows:
        counts[(int(h), "success" if success else "failure")] += int(n)
    return Chart(
        title="Webhook attempts",
        unit="hour",
        currency=None,
        buckets=tuple(b for _, b in buckets),
        series=tuple(
            Series(
                outcome,
                tuple(
                    Point(
                        counts.get((k, outcome), 0),
                        None,
                        WebhookLink(
                            attempted_from=b.start, attempted_to=b.end, attempt_outcome=outcome
                        ),
                    )
                    for k, b in buckets
                ),
            )
            for outcome in ATTEMPT_OUTCOMES
        ),
    )
