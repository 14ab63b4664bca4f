"""The Overview: KPI tiles and charts that answer "is anything wrong right now?".

``core.dashboard.load`` runs in the pool under the TaskRunner key ``"dashboard"`` (a newer
request makes an older answer stale). The view reloads every minute, and when
``services.changes`` reports payments, refunds, webhook deliveries or endpoints changing,
at most once per ``LIVE_COALESCE_MS``; while hidden it only notes that it is stale and
catches up when shown. Every tile, per-currency line and bar carries the ``link`` of the
filtered view behind it; a click hands it to ``desktop.views.open_link``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from PySide6.QtCore import QDate, QEvent, QLocale, Qt, QTime, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import dashboard, money
from core.dashboard import Chart, Dashboard, Link
from core.health import age_text
from core.payments import PaymentFilter
from desktop import theme, views
from desktop.charts import BarData, BarSeries, ChartCard
from desktop.tiles import TILE_LINES, Tile, TileContent, TileLine
from desktop.views import AppServices

REFRESH_MS = 60_000
LIVE_COALESCE_MS = 1_000
LIVE_TABLES = frozenset({"payments", "refunds", "webhook_logs", "merchants"})
RANGE_CHOICES = (
    ("today", "Today"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
)
DEFAULT_RANGE = "30d"
VIEW_TITLES = {
    "payments": "Payments",
    "refunds": "Refunds",
    "webhooks": "Webhooks",
    "endpoints": "Endpoints",
    "jobs": "Jobs",
}
PAYMENT_NAMES = {"success": "Successful", "failed": "Failed", "pending": "Pending"}
REFUND_NAMES = {"requested": "Requested", "processed": "Processed"}
ATTEMPT_NAMES = {"success": "Delivered", "failure": "Failed"}


def system_timezone() -> tzinfo:
    """Where the person's days begin: the system zone by name (daylight saving included),
    else the current fixed offset."""
    from PySide6.QtCore import QTimeZone

    name = bytes(QTimeZone.systemTimeZoneId().data()).decode()
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # an id zoneinfo does not know (no tzdata): the offset of now
        return datetime.now().astimezone().tzinfo or UTC


def link_view(link: object) -> str:
    """The key of the view a link opens."""
    if isinstance(link, PaymentFilter):
        return "payments"
    key = str(getattr(link, "view", ""))
    # Endpoints are a dialog of the Webhooks view, which opens it for an EndpointLink.
    return "webhooks" if key == "endpoints" else key


# -- formatting (counts, rates and dates per locale; money by core.money) -----------------------


def locale() -> QLocale:
    """The person's locale; the bare C locale (no group separators) reads as English."""
    loc = QLocale()
    return QLocale(QLocale.Language.English) if loc.language() == QLocale.Language.C else loc


def count_text(n: int) -> str:
    return locale().toString(int(n))


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{count_text(n)} {one if n == 1 else (many or one + 's')}"


def percent_text(rate: float | None) -> str:
    return "—" if rate is None else locale().toString(rate * 100, "f", 1) + "%"


def points_text(change: float) -> str:
    """``+1.3 pts`` / ``−2.0 pts`` / ``±0.0 pts`` (a change of a rate, in percentage points)."""
    if round(abs(change) * 100, 1) == 0:
        return f"±{locale().toString(0.0, 'f', 1)} pts"
    sign = "+" if change > 0 else "−"
    return f"{sign}{locale().toString(abs(change) * 100, 'f', 1)} pts"


def compact_money(amount: int, currency: str) -> str:
    """An axis label: ``₹2.5L``, ``$120K``, ``¥3M``, ``KWD 0.500``; exact figures are in the
    tooltips and tiles (``money.format_money``)."""
    scale = 10 ** money.exponent(currency)
    major = amount / scale
    symbol = money.SYMBOLS.get(currency.upper(), currency.upper() + " ")
    units = (
        ((10_000_000, "Cr"), (100_000, "L"), (1_000, "K"))
        if currency.upper() == "INR"  # lakh and crore: how amounts are read in India
        else ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K"))
    )
    for size, suffix in units:
        if abs(major) >= size:
            value = locale().toString(major / size, "f", 1 if major % size else 0)
            return f"{symbol}{value.removesuffix(locale().decimalPoint() + '0')}{suffix}"
    if amount % scale == 0:
        return f"{symbol}{count_text(int(major))}"
    return money.format_money(amount, currency)


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def day_title(d: date) -> str:
    return locale().toString(_qdate(d), "ddd d MMM yyyy")


def hour_text(dt: datetime) -> str:
    return locale().toString(QTime(dt.hour, dt.minute), "HH:mm")


# -- what each tile says ------------------------------------------------------------------------


def _per_currency(
    totals: tuple[dashboard.CurrencyTotal, ...], describe: Callable[[int], str], rest: Link
) -> tuple[TileLine, ...]:
    """A line per currency (each opens that currency); past two, the second line sums up the
    rest and opens them all."""

    def line(t: dashboard.CurrencyTotal) -> TileLine:
        return TileLine(
            f"{money.format_money(t.amount, t.currency)} · {describe(t.count)}", link=t.link
        )

    if len(totals) <= TILE_LINES:
        return tuple(line(t) for t in totals)
    others = ", ".join(t.currency for t in totals[1:])
    return (line(totals[0]), TileLine(f"+ {len(totals) - 1} more currencies: {others}", link=rest))


def payments_today_content(board: Dashboard) -> TileContent:
    t = board.payments_today
    lines = _per_currency(t.volume, lambda n: f"{count_text(n)} successful", t.link)
    return TileContent(
        value=count_text(t.count),
        lines=lines or (TileLine("No payments yet today"),),
        link=t.link,
    )


def success_rate_content(board: Dashboard) -> TileContent:
    t = board.success_rate
    failed = t.today.failed
    badge = None
    if t.change is not None:
        status = "success" if t.change > 0.0005 else "failed" if t.change < -0.0005 else "cancelled"
        badge = (points_text(t.change), status)
    first = (
        TileLine(f"Last 7 days: {percent_text(t.last_7_days.rate)}")
        if t.last_7_days.rate is not None
        else TileLine("No decided payments in the last 7 days")
    )
    if t.today.rate is None:
        second = TileLine("No payments decided yet today")
    else:
        second = TileLine(
            f"{plural(failed, 'failed payment')} today",
            tone="failed" if failed else None,
            link=t.link,
        )
    return TileContent(
        value=percent_text(t.today.rate), lines=(first, second), badge=badge, link=t.link
    )


def refunds_awaiting_content(board: Dashboard) -> TileContent:
    t = board.refunds_awaiting
    rule = (
        f"Overdue after {plural(t.auto_approve_days, 'day')} (auto-approve age)"
        if t.auto_approve_days
        else "Auto-approval is off"
    )
    if not t.count or t.oldest_age is None:
        lines = (TileLine("Nothing waiting for a decision"), TileLine(rule))
    else:
        lines = (
            TileLine(
                f"Oldest waiting {age_text(t.oldest_age)}", tone="failed" if t.overdue else None
            ),
            TileLine(rule),
        )
    return TileContent(
        value=count_text(t.count),
        lines=lines,
        value_tone="failed" if t.overdue else None,
        badge=("Overdue", "failed") if t.overdue else None,
        alert=t.overdue,
        link=t.link,
    )


def refunds_processed_content(board: Dashboard) -> TileContent:
    t = board.refunds_processed
    lines = _per_currency(t.by_currency, lambda n: plural(n, "refund"), t.link)
    return TileContent(
        value=count_text(t.count),
        lines=lines or (TileLine("None processed yet today"),),
        link=t.link,
    )


def webhooks_failing_content(board: Dashboard) -> TileContent:
    t = board.webhooks_failing
    disabled = [e for e in t.endpoints if not e.enabled]
    failing = [e for e in t.endpoints if e.enabled]
    parts = []
    if disabled:
        parts.append(f"{plural(len(disabled), 'endpoint')} disabled")
    if failing:
        parts.append(f"{count_text(len(failing))} failing")
    endpoints = (
        TileLine(" · ".join(parts), tone="failed" if disabled else "pending", link=t.endpoints_link)
        if parts
        else TileLine("Every endpoint is answering")
    )
    tooltip = "\n".join(
        f"{e.name}: {'disabled' + (f' ({e.disabled_reason})' if e.disabled_reason else '') if not e.enabled else plural(e.consecutive_failures, 'failure') + ' in a row'}"
        for e in t.endpoints
    )
    return TileContent(
        value=count_text(t.failing),
        lines=(
            TileLine(
                f"{count_text(t.failed)} failed · {count_text(t.retrying)} retrying", link=t.link
            ),
            endpoints,
        ),
        value_tone="failed" if t.failed else "pending" if t.retrying else None,
        alert=bool(t.failed or disabled),
        link=t.link,
        tooltip=WEBHOOKS_EXPLAIN + ("\n\n" + tooltip if tooltip else ""),
    )


def scheduler_content(board: Dashboard) -> TileContent:
    t = board.scheduler
    if not t.tasks:
        return TileContent(
            value="No runs yet",
            lines=(TileLine("No running copy has recorded a task run"),),
            link=t.link,
        )
    if t.ok:
        last = max((x.last_run_at for x in t.tasks if x.last_run_at), default=None)
        if last is None:
            ago = "not run yet"
        elif board.now - last < timedelta(minutes=1):
            ago = "last run just now"
        else:
            ago = f"last run {age_text(board.now - last)} ago"
        return TileContent(
            value="Healthy",
            value_tone="success",
            lines=(TileLine(f"{plural(len(t.tasks), 'task')} on time"), TileLine(ago.capitalize())),
            link=t.link,
        )
    problems = [x for x in t.tasks if x.erroring or x.late]
    parts = []
    if t.erroring:
        parts.append(f"{count_text(len(t.erroring))} failing")
    if t.late:
        parts.append(f"{count_text(len(t.late))} late")
    first = problems[0]
    return TileContent(
        value=" · ".join(parts),
        value_tone="failed",
        lines=(
            TileLine(
                first.sentence() or first.task,
                tone="failed",
                link=dashboard.JobsLink(task=first.task),
            ),
            TileLine(f"{plural(len(t.tasks), 'task')} in all"),
        ),
        badge=("Attention", "failed"),
        alert=True,
        link=t.link,
        tooltip="\n".join(x.sentence() or "" for x in problems),
    )


PAYMENTS_EXPLAIN = (
    "Payments created today (since local midnight), any status.\n"
    "Volume: the successful ones, per currency. Click a currency to open it."
)
RATE_EXPLAIN = (
    "Successful ÷ (successful + failed) today, against the seven days before today.\n"
    "Pending payments are not decided yet and are left out."
)
AWAITING_EXPLAIN = (
    "Refunds waiting for a finance decision. Red when the oldest has waited longer than\n"
    "the policy's auto-approve age."
)
PROCESSED_EXPLAIN = "Refunds processed today (since local midnight), per currency."
WEBHOOKS_EXPLAIN = (
    "Webhook deliveries failing now: failed ones, plus pending ones whose latest attempt\n"
    "failed and that are being retried. Below: endpoints that are disabled or failing."
)
SCHEDULER_EXPLAIN = (
    "The scheduler's tasks on every running copy: late, or failed on their last run."
)

TILES: tuple[tuple[str, str, str, str, Callable[[Dashboard], TileContent]], ...] = (
    ("payments_today", "payments", "Payments today", PAYMENTS_EXPLAIN, payments_today_content),
    ("success_rate", "trend", "Success rate today", RATE_EXPLAIN, success_rate_content),
    (
        "refunds_awaiting",
        "hourglass",
        "Refunds awaiting approval",
        AWAITING_EXPLAIN,
        refunds_awaiting_content,
    ),
    (
        "refunds_processed",
        "approve",
        "Refunds processed today",
        PROCESSED_EXPLAIN,
        refunds_processed_content,
    ),
    (
        "webhooks_failing",
        "delivery",
        "Webhook deliveries failing",
        WEBHOOKS_EXPLAIN,
        webhooks_failing_content,
    ),
    ("scheduler", "jobs", "Scheduler", SCHEDULER_EXPLAIN, scheduler_content),
)


# -- what each chart draws ------------------------------------------------------------------------


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
            labels.append(locale().toString(_qdate(label), "d MMM"))
            keys.append(n - 1 - i)  # the latest day always has its label
        else:
            assert isinstance(label, datetime)
            end = label + (b.end - b.start)
            titles.append(f"{day_title(label.date())}, {hour_text(label)}–{hour_text(end)}")
            labels.append(
                locale().toString(_qdate(label.date()), "d MMM")
                if label.hour == 0
                else hour_text(label)
            )
            keys.append(label.hour)
    steps = (1, 2, 3, 5, 7, 14, 30) if chart.unit == "day" else (1, 2, 3, 4, 6, 12, 24)
    return tuple(titles), tuple(labels), tuple(keys), steps


def _money_text(amount: int | None, currency: str | None) -> str:
    return money.format_money(amount or 0, currency) if currency else "—"


def payments_bar_data(chart: Chart) -> BarData:
    cur = chart.currency
    titles, labels, keys, steps = _bucket_axis(chart)
    series = tuple(
        BarSeries(
            s.key,
            PAYMENT_NAMES.get(s.key, s.key),
            tuple(p.amount or 0 for p in s.points),
            tuple(f"{_money_text(p.amount, cur)} · {plural(p.count, 'payment')}" for p in s.points),
            tuple(p.link for p in s.points),
        )
        for s in chart.series
    )
    first = chart.series[0].points
    footer = tuple(
        f"{_money_text(sum(s.points[i].amount or 0 for s in chart.series), cur)}"
        f" · {plural(sum(s.points[i].count for s in chart.series), 'payment')}"
        for i in range(len(chart.buckets))
    )
    return BarData(
        titles=titles,
        labels=labels,
        label_keys=keys,
        label_steps=steps,
        series=series,
        stacked=True,
        axis_text=(lambda v: compact_money(v, cur)) if cur else count_text,
        column_links=tuple(_without_status(p.link) for p in first),
        empty_text="No payments in this period",
        footer=footer,
    )


def _without_status(link: Link) -> Link:
    from dataclasses import replace

    if isinstance(link, PaymentFilter):
        return replace(link, status=None)
    if isinstance(link, dashboard.WebhookLink):
        return replace(link, attempt_outcome=None)
    return link


def webhook_bar_data(chart: Chart) -> BarData:
    titles, labels, keys, steps = _bucket_axis(chart)
    series = tuple(
        BarSeries(
            s.key,
            ATTEMPT_NAMES.get(s.key, s.key),
            tuple(p.count for p in s.points),
            tuple(plural(p.count, "attempt") for p in s.points),
            tuple(p.link for p in s.points),
        )
        for s in chart.series
    )
    return BarData(
        titles=titles,
        labels=labels,
        label_keys=keys,
        label_steps=steps,
        series=series,
        stacked=True,
        axis_text=count_text,
        column_links=tuple(_without_status(p.link) for p in chart.series[0].points),
        empty_text="No delivery attempts in the last 48 hours",
    )


def refunds_bar_data(chart: Chart) -> BarData:
    cur = chart.currency
    titles, labels, keys, steps = _bucket_axis(chart)
    series = tuple(
        BarSeries(
            s.key,
            REFUND_NAMES.get(s.key, s.key),
            tuple(p.amount or 0 for p in s.points),
            tuple(f"{_money_text(p.amount, cur)} · {plural(p.count, 'refund')}" for p in s.points),
            tuple(p.link for p in s.points),
        )
        for s in chart.series
    )
    return BarData(
        titles=titles,
        labels=labels,
        label_keys=keys,
        label_steps=steps,
        series=series,
        stacked=False,
        axis_text=(lambda v: compact_money(v, cur)) if cur else count_text,
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


# -- the view ---------------------------------------------------------------------------------------


class DashboardView(QWidget):
    """KPI tiles and charts. ``loaded`` once the first figures (or the error that stopped
    them) are on screen; ``refreshed`` after every load; ``navigated(view, link)`` after a
    click opened the view behind a tile or bar."""

    loaded = Signal()
    refreshed = Signal()
    navigated = Signal(str, object)
    message = Signal(str)

    def __init__(
        self, services: AppServices, parent: QWidget | None = None, *, tz: tzinfo | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.services = services
        self.runner = services.runner
        self.tz = tz or system_timezone()
        self.board: Dashboard | None = None
        self.is_loaded = False
        self.loads = 0  # answers shown so far
        self._range = DEFAULT_RANGE
        self._currency: str | None = None  # None: the one core.dashboard picks
        self._stale = False
        self._columns = 0

        self._build()

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._reload_when_visible)
        self._timer.start()
        self._coalesce = QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(LIVE_COALESCE_MS)
        self._coalesce.timeout.connect(self._reload_when_visible)
        if services.changes is not None:
            services.changes.changed.connect(self._on_changed)
        self.reload()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)

        bar = QFrame(self, objectName="FilterBar")
        bar_lay = QVBoxLayout(bar)
        bar_lay.setContentsMargins(20, 12, 20, 12)
        bar_lay.setSpacing(8)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(QLabel("Overview", objectName="PageTitle"))
        self.updated = QLabel("", objectName="Muted")
        row.addWidget(self.updated)
        row.addStretch(1)
        self.currency_combo = QComboBox(self)
        self.currency_combo.setToolTip(
            "The charts show one currency: amounts in different currencies do not add up."
        )
        self.currency_combo.setMinimumContentsLength(5)
        self.currency_combo.currentIndexChanged.connect(self._currency_chosen)
        self.range_combo = QComboBox(self)
        for key, title in RANGE_CHOICES:
            self.range_combo.addItem(title, key)
        self.range_combo.setCurrentIndex(self.range_combo.findData(self._range))
        self.range_combo.setToolTip("The span of the payment and refund charts")
        self.range_combo.currentIndexChanged.connect(self._range_chosen)
        self.refresh_button = QToolButton(self)
        self.refresh_button.setIcon(theme.icon("refresh"))
        self.refresh_button.setToolTip("Reload (F5)")
        self.refresh_button.setShortcut("F5")
        self.refresh_button.clicked.connect(self.reload)
        row.addWidget(QLabel("Currency", objectName="Muted"))
        row.addWidget(self.currency_combo)
        row.addSpacing(8)
        row.addWidget(self.range_combo)
        row.addWidget(self.refresh_button)
        bar_lay.addLayout(row)

        self.banner = QFrame(self, objectName="Banner")
        banner_lay = QHBoxLayout(self.banner)
        banner_lay.setContentsMargins(10, 6, 6, 6)
        self.banner_text = QLabel("")
        self.banner_text.setWordWrap(True)
        retry = QPushButton("Retry", self.banner)
        retry.clicked.connect(self.reload)
        banner_lay.addWidget(self.banner_text, 1)
        banner_lay.addWidget(retry)
        self.banner.hide()
        bar_lay.addWidget(self.banner)
        root.addWidget(bar)

        self.scroll = QScrollArea(self)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(self.scroll, objectName="Page")
        self.grid = QGridLayout(body)
        self.grid.setContentsMargins(20, 18, 20, 20)
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(14)
        self.tiles: dict[str, Tile] = {}
        for key, icon, caption, explain, _content in TILES:
            tile = Tile(key, icon, caption, explain, body)
            tile.activated.connect(self.open_link)
            self.tiles[key] = tile
        self.payments_chart = ChartCard("Payment volume", body)
        self.webhooks_chart = ChartCard("Webhook attempts per hour", body)
        self.refunds_chart = ChartCard("Refund amounts", body)
        for card in self.charts:
            card.setMinimumHeight(250)
            card.chart.activated.connect(self.open_link)
        self.scroll.setWidget(body)
        root.addWidget(self.scroll, 1)
        self._arrange(3)

    @property
    def charts(self) -> tuple[ChartCard, ChartCard, ChartCard]:
        return (self.payments_chart, self.webhooks_chart, self.refunds_chart)

    def _arrange(self, columns: int) -> None:
        """Tiles in ``columns`` columns, the charts under them (payments first and widest)."""
        if columns == self._columns:
            return
        self._columns = columns
        while self.grid.count():
            self.grid.takeAt(0)
        for r in range(self.grid.rowCount()):
            self.grid.setRowStretch(r, 0)
        for i, tile in enumerate(self.tiles.values()):
            self.grid.addWidget(tile, i // columns, i % columns)
        row = (len(self.tiles) + columns - 1) // columns
        if columns >= 3:
            for c, card in enumerate(self.charts):
                self.grid.addWidget(card, row, c)
            self.grid.setRowStretch(row, 1)
        else:
            self.grid.addWidget(self.payments_chart, row, 0, 1, columns)
            self.grid.setRowStretch(row, 1)
            for i, card in enumerate(self.charts[1:]):
                r, c = row + 1 + i // columns, i % columns
                self.grid.addWidget(card, r, c)
                self.grid.setRowStretch(r, 1)
        for c in range(3):
            self.grid.setColumnStretch(c, 1 if c < columns else 0)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        width = self.width() - 40  # the grid's margins
        self._arrange(3 if width >= 900 else 2 if width >= 600 else 1)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.refresh_button.setIcon(theme.icon("refresh"))

    # -- loading -----------------------------------------------------------------------------
    @property
    def range(self) -> str:
        return self._range

    def reload(self) -> None:
        """Load every tile and chart again, off the UI thread."""
        self._coalesce.stop()
        self._stale = False
        db = self.services.ctx.db
        now = self.services.ctx.clock.now()
        rng, cur, tz = self._range, self._currency, self.tz

        def work() -> Dashboard:
            with db.read() as session:
                return dashboard.load(session, now=now, range=rng, currency=cur, tz=tz)

        self.runner.submit(work, self._on_board, self._on_error, key="dashboard")

    def _reload_when_visible(self) -> None:
        if self.isVisible():
            self.reload()
        else:
            self._stale = True  # caught up in showEvent

    def _on_changed(self, table: str, _ids: Any, _statuses: Any) -> None:
        if table in LIVE_TABLES and not self._coalesce.isActive():
            self._coalesce.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.reload()

    def _on_board(self, board: Dashboard) -> None:
        self.board = board
        self.banner.hide()
        self._fill_currencies(board)
        for key, _icon, _caption, _explain, content in TILES:
            self.tiles[key].set_content(content(board))
        self.payments_chart.set_data(
            payments_bar_data(board.payment_volume), *payments_summary(board)
        )
        self.webhooks_chart.set_data(
            webhook_bar_data(board.webhook_attempts), *webhooks_summary(board)
        )
        self.refunds_chart.set_data(refunds_bar_data(board.refund_amounts), *refunds_summary(board))
        self.payments_chart.title.setText(
            "Payment volume per hour"
            if board.payment_volume.unit == "hour"
            else "Payment volume per day"
        )
        self.refunds_chart.title.setText(
            "Refund amounts per hour"
            if board.refund_amounts.unit == "hour"
            else "Refund amounts per day"
        )
        local = board.now.astimezone(self.tz)
        self.updated.setText(f"Updated {hour_text(local)} · {local.tzname() or ''}".rstrip(" ·"))
        self.updated.setToolTip(f"Days start at midnight in {self.tz}. Reloads every minute.")
        self._shown()

    def _on_error(self, exc: BaseException) -> None:
        from desktop.payments_view import person_message  # only when something went wrong

        self.banner_text.setText(person_message(exc))
        self.banner.show()
        self._shown()

    def _shown(self) -> None:
        self.loads += 1
        if not self.is_loaded:
            self.is_loaded = True
            self.loaded.emit()
        self.refreshed.emit()

    def _fill_currencies(self, board: Dashboard) -> None:
        combo = self.currency_combo
        choices = list(board.currencies)
        if board.currency is not None and board.currency not in choices:
            choices.append(board.currency)
        combo.blockSignals(True)
        combo.clear()
        for cur in choices:
            combo.addItem(cur, cur)
        if not choices:
            combo.addItem("—", None)
        combo.setCurrentIndex(max(0, combo.findData(board.currency)))
        combo.setEnabled(bool(choices))
        combo.blockSignals(False)

    def _currency_chosen(self, _index: int) -> None:
        chosen = self.currency_combo.currentData()
        if chosen and chosen != (self.board.currency if self.board else None):
            self._currency = chosen
            self.reload()

    def _range_chosen(self, _index: int) -> None:
        self._range = self.range_combo.currentData()
        self.reload()

    def set_range(self, key: str) -> None:
        """Show ``key`` (today, 7d, 30d, 90d) as a person choosing it would."""
        self.range_combo.setCurrentIndex(self.range_combo.findData(key))

    # -- navigation --------------------------------------------------------------------------
    def open_link(self, link: object) -> None:
        """Open the filtered view behind a tile, line or bar."""
        key = link_view(link)
        target = views.open_link(self.services, self, key, link)
        if target is None:
            self.message.emit(f"This Paydesk has no {VIEW_TITLES.get(key, key)} view yet.")
            return
        self.navigated.emit(key, link)
