"""What each Overview chart draws, from a ``Dashboard``: the bars of each series with their
tooltips and links, the axis labels of the buckets, and the headline above the chart."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime

from core import money
from core.overview import dashboard
from core.overview.dashboard import Chart, Dashboard, Link, Point
from core.payments.queries import PaymentFilter
from desktop.overview.charts import BarData, BarSeries
from desktop.overview.formatting import (
    compact_money,
    count_text,
    day_title,
    hour_text,
    locale,
    percent_text,
    plural,
    qdate,
)

RANGE_CHOICES = (
    ("today", "Today"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
)
PAYMENT_NAMES = {"success": "Successful", "failed": "Failed", "pending": "Pending"}
REFUND_NAMES = {"requested": "Requested", "processed": "Processed"}
ATTEMPT_NAMES = {"success": "Delivered", "failure": "Failed"}


def _bucket_axis(
    chart: Chart,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    """(tooltip titles, axis labels, label keys, label steps) for a chart's buckets."""
    titles, labels, keys = [], [], []
    n = len(chart.buckets)
    for i, b in enumerate(chart.buckets):
        label = b.label
        if chart.unit == "day":
            assert isinstance(label, date)
            titles.append(day_title(label))
            labels.append(locale().toString(qdate(label), "d MMM"))
            keys.append(n - 1 - i)  # the latest day always has its label
        else:
            assert isinstance(label, datetime)
            end = label + (b.end - b.start)
            titles.append(f"{day_title(label.date())}, {hour_text(label)}–{hour_text(end)}")
            labels.append(
                locale().toString(qdate(label.date()), "d MMM")
                if label.hour == 0
                else hour_text(label)
            )
            keys.append(label.hour)
    steps = (1, 2, 3, 5, 7, 14, 30) if chart.unit == "day" else (1, 2, 3, 4, 6, 12, 24)
    return tuple(titles), tuple(labels), tuple(keys), steps


def _series(
    chart: Chart,
    names: Mapping[str, str],
    value: Callable[[Point], int],
    text: Callable[[Point], str],
) -> tuple[BarSeries, ...]:
    """A colour of bars per series of ``chart``: each point's height (``value``), tooltip
    (``text``) and link."""
    return tuple(
        BarSeries(
            s.key,
            names.get(s.key, s.key),
            tuple(value(p) for p in s.points),
            tuple(text(p) for p in s.points),
            tuple(p.link for p in s.points),
        )
        for s in chart.series
    )


def _bars(
    chart: Chart,
    series: tuple[BarSeries, ...],
    *,
    stacked: bool,
    axis_text: Callable[[int], str],
    empty_text: str,
    column_links: tuple[object | None, ...] | None = None,
    footer: tuple[str, ...] = (),
) -> BarData:
    """``series`` over the buckets of ``chart``."""
    titles, labels, keys, steps = _bucket_axis(chart)
    return BarData(
        titles=titles,
        labels=labels,
        label_keys=keys,
        label_steps=steps,
        series=series,
        stacked=stacked,
        axis_text=axis_text,
        column_links=column_links,
        empty_text=empty_text,
        footer=footer,
    )


def _money_text(amount: int | None, currency: str | None) -> str:
    return money.format_money(amount or 0, currency) if currency else "—"


def _amount(p: Point) -> int:
    return p.amount or 0


def _amount_axis(currency: str | None) -> Callable[[int], str]:
    return (lambda v: compact_money(v, currency)) if currency else count_text


def _without_status(link: Link) -> Link:
    if isinstance(link, PaymentFilter):
        return replace(link, status=None)
    if isinstance(link, dashboard.WebhookLink):
        return replace(link, attempt_outcome=None)
    return link


def payments_bar_data(chart: Chart) -> BarData:
    cur = chart.currency
    series = _series(
        chart,
        PAYMENT_NAMES,
        _amount,
        lambda p: f"{_money_text(p.amount, cur)} · {plural(p.count, 'payment')}",
    )
    first = chart.series[0].points
    footer = tuple(
        f"{_money_text(sum(s.points[i].amount or 0 for s in chart.series), cur)}"
        f" · {plural(sum(s.points[i].count for s in chart.series), 'payment')}"
        for i in range(len(chart.buckets))
    )
    return _bars(
        chart,
        series,
        stacked=True,
        axis_text=_amount_axis(cur),
        column_links=tuple(_without_status(p.link) for p in first),
        empty_text="No payments in this period",
        footer=footer,
    )


def webhook_bar_data(chart: Chart) -> BarData:
    series = _series(chart, ATTEMPT_NAMES, lambda p: p.count, lambda p: plural(p.count, "attempt"))
    return _bars(
        chart,
        series,
        stacked=True,
        axis_text=count_text,
        column_links=tuple(_without_status(p.link) for p in chart.series[0].points),
        empty_text="No delivery attempts in the last 48 hours",
    )


def refunds_bar_data(chart: Chart) -> BarData:
    cur = chart.currency
    series = _series(
        chart,
        REFUND_NAMES,
        _amount,
        lambda p: f"{_money_text(p.amount, cur)} · {plural(p.count, 'refund')}",
    )
    return _bars(
        chart,
        series,
        stacked=False,
        axis_text=_amount_axis(cur),
        empty_text="No refunds in this period",
    )


def _range_words(board: Dashboard) -> str:
    return dict(RANGE_CHOICES).get(board.range, board.range)


def payments_summary(board: Dashboard) -> tuple[str, str]:
    """(headline, what it is) above the payments chart."""
    chart = board.payment_volume
    if chart.currency is None:
        return "—", f"no payments · {_range_words(board).lower()}"
    ok = chart.get("success")
    total = sum(s.total_count for s in chart.series)
    return (
        money.format_money(ok.total_amount or 0, chart.currency),
        f"successful · {plural(total, 'payment')}",
    )


def webhooks_summary(board: Dashboard) -> tuple[str, str]:
    chart = board.webhook_attempts
    ok, bad = chart.get("success").total_count, chart.get("failure").total_count
    if not ok + bad:
        return "—", "no attempts · last 48 hours"
    return percent_text(
        ok / (ok + bad)
    ), f"delivered · {plural(ok + bad, 'attempt')} · last 48 hours"


def refunds_summary(board: Dashboard) -> tuple[str, str]:
    chart = board.refund_amounts
    if chart.currency is None:
        return "—", f"no refunds · {_range_words(board).lower()}"
    done = chart.get("processed")
    asked = chart.get("requested")
    return (
        money.format_money(done.total_amount or 0, chart.currency),
        f"processed · {money.format_money(asked.total_amount or 0, chart.currency)} requested",
    )
