"""The Overview: KPI tiles and charts that answer "is anything wrong right now?".

``core.overview.board.read_board`` runs in the pool under the TaskRunner key ``"dashboard"``
(a newer request makes an older answer stale). The view reloads every minute, and when
``services.changes`` reports payments, refunds, webhook deliveries or endpoints changing,
at most once per ``LIVE_COALESCE_MS``; while hidden it only notes that it is stale and
catches up when shown. The Gateways tile (shown where a gateway connection exists) is read
apart, under ``"dashboard-gateways"``, with a short call to each gateway: one that does not
answer holds up that tile only. Every tile, per-currency line and bar carries the ``link`` of the
filtered view behind it; a click hands it to ``desktop.shell.views.open_link``.

What the tiles say (``tile_content``) and what the charts draw (``chart_content``) are made
from the board apart from the widgets (``tiles``, ``charts``) that show them.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.gateway.status import GatewayStatus, gateway_statuses
from core.overview.board import read_board
from core.overview.dashboard import Dashboard
from core.payments.queries import PaymentFilter
from desktop.lists.retry_banner import RetryBanner
from desktop.overview.chart_content import (
    RANGE_CHOICES,
    payments_bar_data,
    payments_summary,
    refunds_bar_data,
    refunds_summary,
    webhook_bar_data,
    webhooks_summary,
)
from desktop.overview.charts import ChartCard
from desktop.overview.formatting import hour_text
from desktop.overview.gateway_tile import GATEWAYS_EXPLAIN, gateways_content
from desktop.overview.tile_content import TILES
from desktop.overview.tiles import Tile, TileContent, TileLine
from desktop.shell import theme, views
from desktop.shell.named import named
from desktop.shell.views import AppServices

REFRESH_MS = 60_000
LIVE_COALESCE_MS = 1_000
LIVE_TABLES = frozenset({"payments", "refunds", "webhook_logs", "merchants"})
DEFAULT_RANGE = "30d"
VIEW_TITLES = {
    "payments": "Payments",
    "refunds": "Refunds",
    "webhooks": "Webhooks",
    "endpoints": "Endpoints",
    "jobs": "Jobs",
}


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


# -- the view ---------------------------------------------------------------------------------------


class DashboardView(QWidget):
    """KPI tiles and charts. ``loaded`` once the first figures (or the error that stopped
    them) are on screen; ``refreshed`` after every load; ``navigated(view, link)`` after a
    click opened the view behind a tile or bar."""

    loaded = Signal()
    refreshed = Signal()
    navigated = Signal(str, object)
    gatewaysLoaded = Signal(int)  # after each read of the gateway connections (-1: error)
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
        self._currency: str | None = None  # None: the one core.overview.dashboard picks
        self._stale = False
        self._columns = 0
        self.gateway_rows: list[GatewayStatus] = []
        self._gateways_in_flight = False

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

        bar = named(QFrame(self), "FilterBar")
        bar_lay = QVBoxLayout(bar)
        bar_lay.setContentsMargins(20, 12, 20, 12)
        bar_lay.setSpacing(8)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(named(QLabel("Overview"), "PageTitle"))
        self.updated = named(QLabel(""), "Muted")
        row.addWidget(self.updated)
        row.addStretch(1)
        self.currency_combo = QComboBox(self)
        self.currency_combo.setToolTip(
            "The charts show one currency: amounts in different currencies do not add up."
        )
        self.currency_combo.setMinimumContentsLength(5)
        self.currency_combo.setAccessibleName("Currency")
        self.currency_combo.setAccessibleDescription("The one currency the charts show")
        self.currency_combo.currentIndexChanged.connect(self._currency_chosen)
        self.range_combo = QComboBox(self)
        for key, title in RANGE_CHOICES:
            self.range_combo.addItem(title, key)
        self.range_combo.setCurrentIndex(self.range_combo.findData(self._range))
        self.range_combo.setToolTip("The span of the payment and refund charts")
        self.range_combo.setAccessibleName("Chart range")
        self.range_combo.setAccessibleDescription("The span of the payment and refund charts")
        self.range_combo.currentIndexChanged.connect(self._range_chosen)
        self.refresh_button = QToolButton(self)
        self.refresh_button.setIcon(theme.icon("refresh"))
        self.refresh_button.setToolTip("Reload (F5)")
        self.refresh_button.setShortcut("F5")
        self.refresh_button.setAccessibleName("Reload")
        self.refresh_button.setAccessibleDescription("Read the figures again (F5)")
        self.refresh_button.clicked.connect(self.reload)
        row.addWidget(named(QLabel("Currency"), "Muted"))
        row.addWidget(self.currency_combo)
        row.addSpacing(8)
        row.addWidget(self.range_combo)
        row.addWidget(self.refresh_button)
        bar_lay.addLayout(row)

        self.banner = RetryBanner(self, self.reload)
        self.banner_text = self.banner.text
        self.banner.hide()
        bar_lay.addWidget(self.banner)
        root.addWidget(bar)

        self.scroll_area = QScrollArea(self)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = named(QWidget(self.scroll_area), "Page")
        self.grid = QGridLayout(body)
        self.grid.setContentsMargins(20, 18, 20, 20)
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(14)
        self.tiles: dict[str, Tile] = {}
        for key, icon, caption, explain, _content in TILES:
            tile = Tile(key, icon, caption, explain, body)
            tile.activated.connect(self.open_link)
            self.tiles[key] = tile
        self.gateways_tile = Tile("gateways", "database", "Gateways", GATEWAYS_EXPLAIN, body)
        self.gateways_tile.activated.connect(self.open_link)
        self.gateways_tile.hide()  # until a read finds a connection
        self.payments_chart = ChartCard("Payment volume", body)
        self.webhooks_chart = ChartCard("Webhook attempts per hour", body)
        self.refunds_chart = ChartCard("Refund amounts", body)
        for card in self.charts:
            card.setMinimumHeight(250)
            card.chart.activated.connect(self.open_link)
        self.scroll_area.setWidget(body)
        root.addWidget(self.scroll_area, 1)
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
        tiles = list(self.tiles.values())
        if self.gateway_rows:
            tiles.append(self.gateways_tile)
        for i, tile in enumerate(tiles):
            # The last tile fills what its row has left, so no row ends in a gap.
            span = columns - i % columns if i == len(tiles) - 1 else 1
            self.grid.addWidget(tile, i // columns, i % columns, 1, span)
        row = (len(tiles) + columns - 1) // columns
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
            return read_board(db, now=now, range=rng, currency=cur, tz=tz)

        self.runner.submit(work, self._on_board, self._on_error, key="dashboard")
        self.reload_gateways()

    def reload_gateways(self) -> None:
        """Read the gateway connections' status apart from the board (network calls with a
        short timeout); a read still in flight is not doubled by a burst of reloads."""
        if self._gateways_in_flight:
            return
        self._gateways_in_flight = True
        db = self.services.ctx.db
        now = self.services.ctx.clock.now()
        self.runner.submit(
            lambda: gateway_statuses(db, now=now),
            lambda rows: self._on_gateways(rows, now),
            self._on_gateways_error,
            key="dashboard-gateways",
            owner=self,
        )

    def _on_gateways(self, rows: list[GatewayStatus], now: datetime) -> None:
        self._gateways_in_flight = False
        was_shown = bool(self.gateway_rows)
        self.gateway_rows = list(rows)
        if rows:
            self.gateways_tile.set_content(gateways_content(rows, now))
        self.gateways_tile.setVisible(bool(rows))
        if was_shown != bool(rows):
            columns, self._columns = self._columns, 0
            self._arrange(columns or 3)
        self.gatewaysLoaded.emit(len(rows))

    def _on_gateways_error(self, exc: BaseException) -> None:
        from core import errors

        self._gateways_in_flight = False
        if self.gateway_rows:  # keep the last figures, say why they are old
            self.gateways_tile.set_content(
                TileContent(value="Not read", lines=(TileLine(errors.sentence(exc)),))
            )
        self.gatewaysLoaded.emit(-1)

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
        from core import errors

        self.banner_text.setText(errors.sentence(exc))
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
