"""The Payments view: filters, a keyset-paged table, a detail pane, Copy id, Refund… and CSV
export.

Every read goes through the TaskRunner under the key ``"payments"``: a filter change starts a
new generation, so a page that arrives for an older filter is dropped.

Change notices (``AppServices.changes``) for payments and refunds re-read only the rows on hand
that they name and update them in place, so selection and scroll position stay put; the
detail pane reloads when its payment changed. A hidden view collects the notices and catches
up when shown.

A link from another view (``apply_link`` with a ``PaymentFilter``) sets the filter bar to match
and runs exactly that filter; what the bar has no widget for (a currency, an hour range) shows
as a removable chip.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QModelIndex, QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import payments
from core.errors import PaydeskError
from core.payments import PaymentFilter, PaymentRow
from desktop import theme
from desktop.filter_buttons import ChoiceButton, DateRangeButton
from desktop.payment_detail import DetailData, PaymentDetailPane, load_detail
from desktop.payments_model import (
    COLUMN,
    METHOD_NAMES,
    READ_AHEAD,
    SORTABLE,
    STATUS_NAMES,
    PaymentsModel,
    format_row,
)
from desktop.row_painter import RowPaintedTable
from desktop.tasks import ProgressRelay
from desktop.views import AppServices

log = logging.getLogger(__name__)

SEARCH_DEBOUNCE_MS = 150
FIRST_PAINT_WAIT_MS = 100
READ_AHEAD_FALLBACK_MS = 250
DEMO_PAYMENTS = 20_000
# A query's first read is a tall window's worth of rows rather than a whole page: it runs
# while the UI thread shows or repaints the view, so each row it converts takes turns with
# that work for the GIL. The pages after it are read once it is on screen, so they neither
# delay the first rows nor compete with their first paint; a scroll to the end of these rows
# shows the next page.
FIRST_ROWS = 60
# Rows of a first read formatted in the pool: what a window of ordinary height shows.
_FORMATTED_IN_POOL = 30
# Widths from samples of typical content, so they follow the font (and its DPI); together
# they fit the 1280 px window beside the navigation. Longer values are elided (the tooltip and
# the detail pane have them whole); the last column takes what is left.
_COLUMN_SAMPLES = {
    "created": "2026-12-31 23:59",
    "id": "pay_xf3vv5wWToJIEG",
    "merchant": "Kirana Expr",
    "order": "order_JkhVQq4m",
    "customer": "tanvi.banerjee@yah",  # stretches: takes what the window has left
    "method": "Netbanking",
    "amount": "₹26,269.00",
    "status": "Success",
    "refunded": "₹7,759.00",
}
_CELL_PADDING = 32  # the style sheet's item padding, the focus frame and some air
# Room for the sort arrow beside the title of a column that sorts, and for a status badge.
_EXTRA = {"created": 10, "id": 8, "amount": 10, "status": 8}


def person_message(exc: BaseException) -> str:
    """One sentence for a person; anything that is not a PaydeskError is logged in full."""
    if isinstance(exc, PaydeskError):
        return exc.message
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        return "The database did not answer the query; check the connection and try again."
    log.error("Unexpected error", exc_info=exc)
    return f"Something went wrong: {exc.__class__.__name__}: {exc}".rstrip(".") + "."


@dataclass
class _FirstPage:
    filter: PaymentFilter
    rows: list[PaymentRow]
    names: dict[str, str] | None
    texts: list[tuple[str, ...]]  # the rows' display strings, made in the pool


class _ExportRow(QWidget):
    """What an export in progress shows beside the title: what it has written, and Cancel."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        self.label = QLabel("", self, objectName="Muted")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.setFixedWidth(160)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        for w in (self.label, self.progress, self.cancel_button):
            lay.addWidget(w)


class _Banner(QFrame):
    """The sentence a failed or refused query leaves above the table, with Retry."""

    def __init__(self, parent: QWidget, retry: Any) -> None:
        super().__init__(parent, objectName="Banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.text = QLabel("", self)
        self.text.setWordWrap(True)
        button = QPushButton("Retry", self)
        button.clicked.connect(retry)
        lay.addWidget(self.text, 1)
        lay.addWidget(button)


def _local_midnight(day: QDate) -> datetime:
    # Midnight where the person is; the column type stores it as UTC.
    return datetime.combine(day.toPython(), time()).astimezone()


def _is_local_midnight(dt: datetime) -> bool:
    return dt.astimezone().time() == time()


def _qdate(dt: datetime) -> QDate:
    d = dt.astimezone().date()
    return QDate(d.year, d.month, d.day)


def range_text(start: datetime | None, end: datetime | None) -> str:
    """A created-at range in the person's time zone, end exclusive: ``3 Mar 2025, 14:00–15:00``."""
    fmt = "%d %b %Y, %H:%M"
    if start is not None and end is not None:
        a, b = start.astimezone(), end.astimezone()
        if a.date() == b.date():
            return f"{a.strftime(fmt)}–{b.strftime('%H:%M')}"
        return f"{a.strftime(fmt)} – {b.strftime(fmt)}"
    if start is not None:
        return f"from {start.astimezone().strftime(fmt)}"
    assert end is not None
    return f"before {end.astimezone().strftime(fmt)}"


def can_refund(row: PaymentRow | None) -> bool:
    """Only a successful, captured payment with something left to refund offers Refund…."""
    return (
        row is not None
        and row.status == "success"
        and row.captured
        and row.refunded_amount < row.amount
    )


@dataclass
class _LiveRead:
    payment_ids: set[str]  # every payment the notice concerns, on hand or not
    rows: list[PaymentRow]  # fresh copies of the ones on hand
    everything: bool  # the notice was "something in the table changed"


class PaymentsView(QWidget):
    """Find payments. Emits ``loaded`` when a query's first page is on screen."""

    loaded = Signal(int)
    detailShown = Signal(str)
    exportFinished = Signal(str)  # the sentence shown to the person
    message = Signal(str)  # short status-bar messages

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.services = services
        self.db = services.ctx.db
        self.runner = services.runner
        self._names: dict[str, str] | None = None
        self._filter = PaymentFilter()
        self._query_filter = PaymentFilter()  # the filter of what is on screen
        self._export_cancel: threading.Event | None = None
        self._export_path: Path | None = None
        self._seeding = False
        self.is_loaded = False  # a first page has been shown
        self._shown = 0  # counts first pages shown: which query the rows on hand belong to
        # What a link narrowed to that the filter bar has no widget for (shown as chips).
        self._link_currency: str | None = None
        self._link_range: tuple[datetime | None, datetime | None] | None = None
        self._detail_id: str | None = None
        # Change notices that arrived while hidden: (payment ids, refund ids, everything).
        self._deferred: tuple[set[str], set[str], bool] | None = None
        self.refund_dialog: Any = None  # the open Refund… dialog, if any

        self.model = PaymentsModel(self)
        self.model.set_fetcher(self._fetch_next)
        self.model.rowsLoaded.connect(self._update_counter)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.apply_filters)

        # The first page (what the filter bar starts at) is read once the event loop runs
        # again, not while the widgets are built and shown: Python runs one thread at a time,
        # so a read started now would take turns with the building and slow both. A query
        # asked for before then (a link) takes its place.
        self._first_query_due = True
        self._build()
        QTimer.singleShot(0, self, self._first_query)
        # No frame of the loading page when the first rows are quick: painting the whole page
        # twice (empty, then with rows) would put a second full paint before the rows. A slow
        # first query still shows the loading page after FIRST_PAINT_WAIT_MS.
        self.setUpdatesEnabled(False)
        QTimer.singleShot(FIRST_PAINT_WAIT_MS, self, self._first_read_is_slow)
        changes = services.changes
        if changes is not None:
            changes.changed.connect(self._on_changed)

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)

        bar = QFrame(self, objectName="FilterBar")
        bar_lay = QVBoxLayout(bar)
        bar_lay.setContentsMargins(16, 12, 16, 10)
        bar_lay.setSpacing(10)

        title_row = QHBoxLayout()
        title_row.setSpacing(8)
        title_row.addWidget(QLabel("Payments", bar, objectName="PageTitle"))
        self.counter = QLabel("", bar, objectName="Counter")
        title_row.addWidget(self.counter)
        title_row.addStretch(1)
        # Widgets that start hidden (the export's progress, the chips, the banner, the loading
        # page) are built when first shown: each costs its construction and its style sheet
        # polish, and opening the view pays for what is on screen only.
        self._title_row = title_row
        self._export_row: _ExportRow | None = None
        self.refresh_button = QToolButton(bar)
        self.refresh_button.setIcon(theme.icon("refresh"))
        self.refresh_button.setToolTip("Reload (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        title_row.addWidget(self.refresh_button)
        self.refund_button = QPushButton(theme.icon("refunds"), "Refund…", bar)
        self.refund_button.setToolTip("Request a refund of the selected payment")
        self.refund_button.setEnabled(False)
        self.refund_button.clicked.connect(self.refund_selected)
        title_row.addWidget(self.refund_button)
        self.export_button = QPushButton(theme.icon("export"), "Export CSV…", bar)
        self.export_button.clicked.connect(self.export_csv)
        title_row.addWidget(self.export_button)
        bar_lay.addLayout(title_row)

        filters = QHBoxLayout()
        filters.setSpacing(8)
        self.search = QLineEdit(bar)
        self.search.setPlaceholderText("Payment id, order id, or customer email / VPA")
        self.search.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumWidth(280)
        self.search.textChanged.connect(self._search_edited)
        self.search.returnPressed.connect(self.apply_filters)
        filters.addWidget(self.search, 3)

        # Buttons with drop-down lists rather than combos, and the dates behind one button:
        # what they open is built when first opened (see desktop.filter_buttons).
        self.status_combo = ChoiceButton(bar)
        self.status_combo.addItem("All statuses", None)
        for key in payments.STATUSES:
            self.status_combo.addItem(STATUS_NAMES[key], key)
        self.method_combo = ChoiceButton(bar)
        self.method_combo.addItem("All methods", None)
        for key in payments.METHODS:
            self.method_combo.addItem(METHOD_NAMES[key], key)
        self.merchant_combo = ChoiceButton(bar, min_chars=14)
        self.merchant_combo.addItem("All merchants", None)
        for combo in (self.status_combo, self.method_combo, self.merchant_combo):
            combo.currentIndexChanged.connect(self.apply_filters)
            filters.addWidget(combo, 1)

        self.dates = DateRangeButton(
            "Created", bar, tips=("Created on or after", "Created on or before")
        )
        self.dates.rangeChanged.connect(self._dates_changed)
        filters.addWidget(self.dates)
        self._filters_row = filters
        self._currency_chip: QToolButton | None = None
        self._range_chip: QToolButton | None = None
        self.clear_button = QToolButton(bar)
        self.clear_button.setText("Clear")
        self.clear_button.setToolTip("Clear every filter")
        self.clear_button.clicked.connect(self.clear_filters)
        filters.addWidget(self.clear_button)
        bar_lay.addLayout(filters)
        self._bar = bar
        self._banner: _Banner | None = None
        root.addWidget(bar)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.pages = QStackedWidget(self.splitter)
        self.table = self._build_table()
        self.pages.addWidget(self.table)
        # The empty, no-match and loading pages and the detail pane are built when first
        # needed. The table is laid out while the first page is read; the loading page takes
        # its place only if that read is slow (see ``_first_read_is_slow``).
        self._empty_page: QWidget | None = None
        self._no_match_page: QWidget | None = None
        self._loading_page: QWidget | None = None
        self.splitter.addWidget(self.pages)

        self._detail_pane: PaymentDetailPane | None = None
        self.splitter.setStretchFactor(0, 1)
        root.addWidget(self.splitter, 1)

        reload_action = QAction(self)
        reload_action.setShortcut(QKeySequence.StandardKey.Refresh)
        reload_action.triggered.connect(self.refresh)
        self.addAction(reload_action)
        find_action = QAction(self)
        find_action.setShortcut(QKeySequence.StandardKey.Find)
        find_action.triggered.connect(lambda: self.search.setFocus())
        self.addAction(find_action)

    def _chip(self, tip: str, remove: Any, before: QWidget) -> QToolButton:
        """A removable chip for what a link narrowed to, in the filter row before ``before``."""
        chip = QToolButton(self._bar, objectName="Chip")
        chip.setIcon(theme.icon("clear"))
        chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        chip.setLayoutDirection(Qt.LayoutDirection.RightToLeft)  # the ✕ after the words
        chip.setToolTip(tip)
        chip.clicked.connect(remove)
        chip.hide()
        self._filters_row.insertWidget(self._filters_row.indexOf(before), chip)
        return chip

    def _build_table(self) -> RowPaintedTable:
        table = RowPaintedTable(self.model.column_looks(), self.pages)
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # Always there (disabled when every row fits): a query that goes from many rows to a
        # few then neither narrows nor widens the viewport and header, which would lay out
        # and repaint both a second time, and the header never has a gap where it was.
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        vh = table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(max(26, table.fontMetrics().height() + 12))
        hh = table.horizontalHeader()
        hh.setHighlightSections(False)
        hh.setSectionsClickable(True)
        hh.setSortIndicatorShown(True)
        hh.setSortIndicator(COLUMN["created"], Qt.SortOrder.DescendingOrder)
        hh.setStretchLastSection(False)
        hh.sectionClicked.connect(self._header_clicked)
        table.ensurePolished()  # the style sheet's font, not the default one
        metrics = table.fontMetrics()
        for key, sample in _COLUMN_SAMPLES.items():
            width = metrics.horizontalAdvance(sample) + _CELL_PADDING + _EXTRA.get(key, 0)
            table.setColumnWidth(COLUMN[key], width)
        self._min_customer_width = hh.minimumSectionSize()
        # The customer column takes what the table has left beside the scroll bar (always
        # shown), worked out when the table changes size rather than by a Stretch section.
        table.resized.connect(self._fit_customer_column)
        # Pages are read ahead once the rows just shown have been painted: a read in the pool
        # during the paint would take turns with it for the GIL and slow both.
        table.painted.connect(self._painted)
        self._read_ahead_fallback = QTimer(self)
        self._read_ahead_fallback.setSingleShot(True)
        self._read_ahead_fallback.setInterval(READ_AHEAD_FALLBACK_MS)  # not painted (hidden)
        self._read_ahead_fallback.timeout.connect(self.model.read_ahead)
        self.model.set_read_ahead_scheduler(self._read_ahead_after_paint)
        hh.sectionResized.connect(self._column_resized)
        table.selectionModel().currentRowChanged.connect(self._current_changed)
        # Lay the new rows out now rather than on Qt's next turn: the repaint they cause then
        # shows them laid out, instead of a second full repaint following the first.
        self.model.modelReset.connect(table.doItemsLayout)
        self.model.rowsInserted.connect(table.doItemsLayout)
        return table

    @Slot()
    def _fit_customer_column(self) -> None:
        table = self.table if hasattr(self, "table") else None
        if table is None:
            return
        col = COLUMN["customer"]
        hh = table.horizontalHeader()
        others = sum(hh.sectionSize(c) for c in range(hh.count()) if c != col)
        room = (
            table.width()
            - 2 * table.frameWidth()
            - table.verticalScrollBar().sizeHint().width()
            - others
        )
        width = max(self._min_customer_width, room)
        if hh.sectionSize(col) != width:
            hh.resizeSection(col, width)

    @Slot(int, int, int)
    def _column_resized(self, section: int, _old: int, _new: int) -> None:
        if section != COLUMN["customer"]:
            self._fit_customer_column()

    def _state_page(self, icon: str, title: str, text: str) -> tuple[QWidget, QVBoxLayout]:
        page = QWidget(self.pages, objectName="Page")
        lay = QVBoxLayout(page)
        lay.addStretch(2)
        pic = QLabel(page)
        pic.setPixmap(theme.icon(icon).pixmap(56, 56))
        pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(pic)
        head = QLabel(title, objectName="EmptyTitle")
        head.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(head)
        body = QLabel(text, objectName="EmptyText")
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body.setWordWrap(True)
        lay.addWidget(body)
        lay.addSpacing(8)
        return page, lay

    @property
    def empty_page(self) -> QWidget:
        if self._empty_page is None:
            self._empty_page = self._build_empty_page()
            self.pages.addWidget(self._empty_page)
        return self._empty_page

    @property
    def no_match_page(self) -> QWidget:
        if self._no_match_page is None:
            self._no_match_page = self._build_no_match_page()
            self.pages.addWidget(self._no_match_page)
        return self._no_match_page

    @property
    def loading_page(self) -> QWidget:
        if self._loading_page is None:
            page, lay = self._state_page("payments", "Loading payments…", "")
            lay.addStretch(3)
            self.pages.addWidget(page)
            self._loading_page = page
        return self._loading_page

    @property
    def banner(self) -> _Banner:
        if self._banner is None:
            self._banner = _Banner(self._bar, self.refresh)
            self._banner.hide()
            bar_layout = self._bar.layout()
            assert bar_layout is not None
            bar_layout.addWidget(self._banner)
        return self._banner

    @property
    def banner_text(self) -> QLabel:
        return self.banner.text

    def _hide_banner(self) -> None:
        if self._banner is not None:
            self._banner.hide()

    @property
    def currency_chip(self) -> QToolButton:
        if self._currency_chip is None:
            self._currency_chip = self._chip(
                "Show every currency",
                self.remove_currency_chip,
                self._range_chip or self.clear_button,
            )
        return self._currency_chip

    @property
    def range_chip(self) -> QToolButton:
        if self._range_chip is None:
            self._range_chip = self._chip(
                "Show every time of day", self.remove_range_chip, self.clear_button
            )
        return self._range_chip

    @property
    def export_row(self) -> _ExportRow:
        if self._export_row is None:
            row = _ExportRow(self._bar)
            row.cancel_button.clicked.connect(self.cancel_export)
            row.hide()
            self._title_row.insertWidget(self._title_row.indexOf(self.refresh_button), row)
            self._export_row = row
        return self._export_row

    @property
    def export_cancel_button(self) -> QPushButton:
        return self.export_row.cancel_button

    @property
    def detail(self) -> PaymentDetailPane:
        if self._detail_pane is None:
            pane = PaymentDetailPane(self.splitter)
            pane.closed.connect(self._close_detail)
            pane.hide()
            self.splitter.addWidget(pane)
            self.splitter.setStretchFactor(1, 0)
            self._detail_pane = pane
        return self._detail_pane

    def _build_empty_page(self) -> QWidget:
        page, lay = self._state_page(
            "empty",
            "No payments yet",
            "Payments appear here as the gateway records them.\n"
            f"To look around first, load {DEMO_PAYMENTS:,} realistic demo payments.",
        )
        self.demo_button = QPushButton("Load demo data", page, objectName="Primary")
        self.demo_button.clicked.connect(self.load_demo_data)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.demo_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.demo_progress = QProgressBar(page)
        self.demo_progress.setFixedWidth(280)
        self.demo_progress.hide()
        self.demo_status = QLabel("", objectName="EmptyText")
        self.demo_status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        prow = QHBoxLayout()
        prow.addStretch(1)
        prow.addWidget(self.demo_progress)
        prow.addStretch(1)
        lay.addLayout(prow)
        lay.addWidget(self.demo_status)
        lay.addStretch(3)
        return page

    def _build_no_match_page(self) -> QWidget:
        page, lay = self._state_page(
            "search", "No payments match", "Try another search, or clear the filters."
        )
        button = QPushButton("Clear filters", page)
        button.clicked.connect(self.clear_filters)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addStretch(3)
        return page

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> PaymentFilter:
        """What the filter widgets say now (not yet validated)."""
        created_from = created_to = None
        first, last = self.dates.range()
        if (d := first) is not None:
            created_from = _local_midnight(d)
        if (d := last) is not None:
            # "To" is inclusive for a person; the query's bound is exclusive.
            created_to = _local_midnight(d) + timedelta(days=1)
        if self._link_range is not None:
            created_from, created_to = self._link_range
        return PaymentFilter(
            status=self.status_combo.currentData(),
            merchant_id=self.merchant_combo.currentData(),
            method=self.method_combo.currentData(),
            created_from=created_from,
            created_to=created_to,
            search=self.search.text(),
            sort=self._filter.sort,
            descending=self._filter.descending,
            currency=self._link_currency,
        )

    @Slot(str)
    def _search_edited(self, text: str) -> None:
        # The clear button (shown only while there is text) is added with the first text
        # rather than with the view: it is a widget, an action and an icon of its own.
        if text and not self.search.isClearButtonEnabled():
            self.search.setClearButtonEnabled(True)
        self._debounce.start()

    @Slot()
    def apply_filters(self) -> None:
        """Run the query the filters describe (the search box calls this after a pause)."""
        self._debounce.stop()
        self.run_query(self.current_filter())

    @Slot()
    def refresh(self) -> None:
        self._names = None  # merchants may have been added
        self.run_query(self.current_filter())

    @Slot()
    def _first_query(self) -> None:
        if self._first_query_due:
            self.run_query(PaymentFilter())

    def run_query(self, f: PaymentFilter) -> None:
        """Replace the table with the first page of ``f``; older results are dropped."""
        self._first_query_due = False
        try:
            f = f.validated()
        except PaydeskError as exc:
            self.runner.invalidate("payments")
            self._show_banner(exc.message)
            return
        self._filter = f
        self.runner.invalidate("live")  # the new first page is read after any change so far
        db = self.db
        known = self._names  # replaced, never changed in place: safe to read in the pool

        def work() -> _FirstPage:
            with db.driver() as conn:
                rows = payments.page(conn, f, limit=FIRST_ROWS)
                names = payments.merchant_names(conn) if known is None else None
            # The rows a window shows are formatted here rather than when first painted: the UI
            # thread then only draws them.
            shown = names if names is not None else known or {}
            texts = [format_row(r, shown) for r in rows[:_FORMATTED_IN_POOL]]
            return _FirstPage(f, rows, names, texts)

        self.runner.submit(
            work, self._on_first_page, self._on_query_error, key="payments", owner=self
        )

    def _read_ahead_after_paint(self) -> None:
        # The fallback timer running is what says a read waits for the next paint.
        self._read_ahead_fallback.start()

    @Slot()
    def _painted(self) -> None:
        if self._read_ahead_fallback.isActive():
            # The rows are painted; the zero timer fires once the rest of the window is too.
            self._read_ahead_fallback.stop()
            QTimer.singleShot(0, self.model, self.model.read_ahead)

    def _allow_painting(self) -> None:
        if not self.updatesEnabled():
            self.setUpdatesEnabled(True)

    def _first_read_is_slow(self) -> None:
        if not self.updatesEnabled() and not self.is_loaded:
            self.pages.setCurrentWidget(self.loading_page)
        self._allow_painting()

    def _on_first_page(self, result: _FirstPage) -> None:
        self._allow_painting()
        self._hide_banner()
        if result.names is not None:
            self._set_merchants(result.names)
        self._query_filter = result.filter
        self._shown += 1
        more = len(result.rows) == FIRST_ROWS
        # Nothing of the last query stays selected or current (a reset of the model would do
        # this by itself; rows replaced in place keep their indexes).
        self.table.selectionModel().clear()
        self.model.reset(result.rows, sort=result.filter.sort, more=more, texts=result.texts)
        if more:
            self._read_ahead_after_paint()
        if result.rows:
            self.pages.setCurrentWidget(self.table)
            self.table.scrollToTop()
        elif self._is_unfiltered(result.filter):
            self.pages.setCurrentWidget(self.empty_page)
        else:
            self.pages.setCurrentWidget(self.no_match_page)
        self._close_detail()
        self.is_loaded = True
        self.loaded.emit(len(result.rows))

    def _on_query_error(self, exc: BaseException) -> None:
        self._allow_painting()
        self.model.fetch_failed()
        if self.pages.currentWidget() is self.loading_page:
            self.pages.setCurrentWidget(self.no_match_page)
        self._show_banner(person_message(exc))

    def _fetch_next(self, after: tuple[Any, str]) -> None:
        f = self._query_filter
        db = self.db
        # A read asked for while a new query is on its way joins that query's generation, yet
        # continues the rows it replaces: it is kept only if those rows are still shown.
        shown = self._shown

        def work() -> list[PaymentRow]:
            with db.driver() as conn:
                return payments.page(conn, f, after=after, limit=READ_AHEAD)

        def done(rows: list[PaymentRow]) -> None:
            if shown == self._shown:
                self.model.append(rows, more=len(rows) == READ_AHEAD)

        def failed(exc: BaseException) -> None:
            if shown == self._shown:
                self._on_query_error(exc)

        self.runner.submit(work, done, failed, key="payments", supersede=False, owner=self)

    @staticmethod
    def _is_unfiltered(f: PaymentFilter) -> bool:
        narrowed = f.status or f.merchant_id or f.method or f.created_from or f.created_to
        return not (narrowed or f.currency or f.search)

    def _set_merchants(self, names: dict[str, str]) -> None:
        self._names = names
        self.model.set_merchant_names(names)
        combo = self.merchant_combo
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("All merchants", None)
        for merchant_id, name in sorted(names.items(), key=lambda kv: kv[1].lower()):
            combo.addItem(name, merchant_id)
        found = combo.findData(current) if current else 0
        combo.setCurrentIndex(max(0, found))
        combo.blockSignals(False)

    @Slot()
    def clear_filters(self) -> None:
        widgets = (self.search, self.status_combo, self.method_combo, self.merchant_combo,
                   self.dates)  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        self.search.clear()
        for combo in (self.status_combo, self.method_combo, self.merchant_combo):
            combo.setCurrentIndex(0)
        self.dates.clear_range()
        for w in widgets:
            w.blockSignals(False)
        self._set_link_extras(None, None)
        self.apply_filters()

    # -- links from other views ---------------------------------------------------------------
    def apply_link(self, link: object) -> None:
        """Narrow to ``link`` (a ``PaymentFilter``): set the filter bar to match and run exactly
        that filter. A currency, or a time range that is not whole local days, has no widget
        and shows as a removable chip instead."""
        if not isinstance(link, PaymentFilter):
            return
        widgets = (self.search, self.status_combo, self.method_combo, self.merchant_combo,
                   self.dates)  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        try:
            self._debounce.stop()
            self.search.setText(link.search or "")
            for combo, value in (
                (self.status_combo, link.status),
                (self.method_combo, link.method),
                (self.merchant_combo, link.merchant_id),
            ):
                found = combo.findData(value) if value else 0
                if found < 0 and combo is self.merchant_combo and value:
                    # Merchants not loaded yet: keep the id so the query and the combo agree.
                    combo.addItem(value, value)
                    found = combo.count() - 1
                combo.setCurrentIndex(max(0, found))
            whole_days = all(
                b is None or _is_local_midnight(b) for b in (link.created_from, link.created_to)
            )
            first = last = None
            if link.created_from is not None and whole_days:
                first = _qdate(link.created_from)
            if link.created_to is not None and whole_days:
                # The widget's "to" day is inclusive; the filter's bound is exclusive.
                last = _qdate(link.created_to - timedelta(days=1))
            self.dates.set_range(first, last)
        finally:
            for w in widgets:
                w.blockSignals(False)
        has_range = link.created_from is not None or link.created_to is not None
        self._set_link_extras(
            link.currency.upper() if link.currency else None,
            (link.created_from, link.created_to) if has_range and not whole_days else None,
        )
        sort_column = next(c for c, k in SORTABLE.items() if k == link.sort)
        self.table.horizontalHeader().setSortIndicator(
            sort_column,
            Qt.SortOrder.DescendingOrder if link.descending else Qt.SortOrder.AscendingOrder,
        )
        self.run_query(link)

    def _set_link_extras(
        self, currency: str | None, span: tuple[datetime | None, datetime | None] | None
    ) -> None:
        self._link_currency = currency
        self._link_range = span
        if currency is not None or self._currency_chip is not None:
            self.currency_chip.setText(f"Currency: {currency}" if currency else "")
            self.currency_chip.setVisible(currency is not None)
        if span is not None or self._range_chip is not None:
            self.range_chip.setText(f"Created {range_text(*span)}" if span else "")
            self.range_chip.setVisible(span is not None)

    def remove_currency_chip(self) -> None:
        self._set_link_extras(None, self._link_range)
        self.apply_filters()

    def remove_range_chip(self) -> None:
        self._set_link_extras(self._link_currency, None)
        self.apply_filters()

    @Slot()
    def _dates_changed(self, *_: object) -> None:
        # A day chosen by the person replaces a linked hour range.
        if self._link_range is not None:
            self._set_link_extras(self._link_currency, None)
        self.apply_filters()

    @Slot(int)
    def _header_clicked(self, section: int) -> None:
        header = self.table.horizontalHeader()
        key = SORTABLE.get(section)
        if key is None:
            # Only keyset-ordered columns sort; put the indicator back where the order is.
            current = next(c for c, k in SORTABLE.items() if k == self._filter.sort)
            order = (
                Qt.SortOrder.DescendingOrder
                if self._filter.descending
                else Qt.SortOrder.AscendingOrder
            )
            header.setSortIndicator(current, order)
            return
        descending = not self._filter.descending if key == self._filter.sort else True
        header.setSortIndicator(
            section, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        )
        self._filter = PaymentFilter(
            **{**self._filter.__dict__, "sort": key, "descending": descending}
        )
        self.apply_filters()

    @Slot(int)
    def _update_counter(self, count: int) -> None:
        if count == 0:
            self.counter.setText("")
            return
        more = " · scroll for more" if self.model.has_more else ""
        self.counter.setText(f"{count:,} shown{more}")

    def _show_banner(self, text: str) -> None:
        self.banner_text.setText(text)
        self.banner.show()

    # -- selection and detail ----------------------------------------------------------------
    def selected_row(self) -> PaymentRow | None:
        index = self.table.currentIndex()
        return self.model.row_at(index.row()) if index.isValid() else None

    @Slot(QModelIndex, QModelIndex)
    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row_at(current.row()) if current.isValid() else None
        self._update_actions()
        if row is None:
            return
        if self.detail.isHidden():
            self.detail.show()
            total = max(800, self.splitter.width())
            self.splitter.setSizes([total - 340, 340])
        self.detail.show_loading(row.id)
        self._load_detail(row.id)

    def _load_detail(self, payment_id: str) -> None:
        self._detail_id = payment_id
        db = self.db
        self.runner.submit(
            lambda: load_detail(db, payment_id),
            self._on_detail,
            lambda exc: self.detail.show_error(person_message(exc)),
            key="detail",
            owner=self,
        )

    def _on_detail(self, data: DetailData) -> None:
        self.detail.show_detail(data)
        self.detailShown.emit(data.id)

    def _close_detail(self) -> None:
        self.runner.invalidate("detail")
        self._detail_id = None
        if self._detail_pane is not None:
            self._detail_pane.hide()
        self.table.selectionModel().clearSelection()
        self._update_actions()

    def _update_actions(self) -> None:
        self.refund_button.setEnabled(can_refund(self.selected_row()))

    # -- refunds -------------------------------------------------------------------------------
    @Slot()
    def refund_selected(self) -> None:
        """Open the Refund… dialog for the selected payment."""
        row = self.selected_row()
        if not can_refund(row):
            return
        assert row is not None
        from desktop.refund_dialog import open_refund_dialog  # built only when asked for

        dialog = open_refund_dialog(self.services, row.id, self)
        payment_id = row.id
        dialog.submitted.connect(lambda _refund: self._refund_created(payment_id, dialog))
        self.refund_dialog = dialog

    def _refund_created(self, payment_id: str, dialog: Any) -> None:
        text = dialog.result_text()
        if text:
            self.message.emit(text)
        # Without change notices nothing else would tell this view; with them this costs
        # one small read more.
        self._read_live({payment_id}, set(), everything=False)

    # -- live updates --------------------------------------------------------------------------
    def _on_changed(self, table: str, ids: Any, _statuses: Any) -> None:
        if table not in ("payments", "refunds"):
            return
        payment_ids = set(ids) if table == "payments" else set()
        refund_ids = set(ids) if table == "refunds" else set()
        everything = not ids
        if not self.isVisible():
            known, refunds, all_rows = self._deferred or (set(), set(), False)
            self._deferred = (known | payment_ids, refunds | refund_ids, all_rows or everything)
            return
        self._read_live(payment_ids, refund_ids, everything=everything)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._deferred is not None:
            payment_ids, refund_ids, everything = self._deferred
            self._deferred = None
            self._read_live(payment_ids, refund_ids, everything=everything)

    def _read_live(self, payment_ids: set[str], refund_ids: set[str], *, everything: bool) -> None:
        """Re-read the rows on hand that the notices name (all of them for "something in this
        table changed"), off the UI thread."""
        on_hand = set(self.model.ids())
        detail_id = self._detail_id
        if not on_hand and detail_id is None:
            return
        db = self.db

        def work() -> _LiveRead:
            with db.read() as session:
                named = set(payment_ids)
                if refund_ids:
                    named |= payments.payment_ids_of_refunds(session, refund_ids)
                if everything:
                    named |= on_hand | ({detail_id} if detail_id else set())
                rows = payments.rows_by_id(session, named & on_hand) if named & on_hand else []
            return _LiveRead(named, rows, everything)

        self.runner.submit(
            work, self._on_live_read, self._on_live_error, key="live", supersede=False, owner=self
        )

    def _on_live_read(self, result: _LiveRead) -> None:
        # Rows read ahead are not re-read: the changed ones (and those after them) are read
        # again when the person scrolls there.
        shown = set(self.model.ids())
        self.model.drop_read_ahead(None if result.everything else result.payment_ids - shown)
        if result.rows:
            self.model.update_rows(result.rows)
            self._update_actions()
        if self._detail_id is not None and self._detail_id in result.payment_ids:
            self._load_detail(self._detail_id)

    def _on_live_error(self, exc: BaseException) -> None:
        # A missed refresh is not worth interrupting anyone: the next notice or reload fixes it.
        log.info("Refreshing changed payments failed: %s", person_message(exc))

    # -- context menu and clipboard ------------------------------------------------------------
    @Slot(QPoint)
    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if index.isValid():
            self.table.setCurrentIndex(index)
        menu = self.build_context_menu()
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def build_context_menu(self) -> QMenu:
        menu = QMenu(self)
        row = self.selected_row()
        refund = menu.addAction(theme.icon("refunds"), "Refund…")
        refund.setEnabled(can_refund(row))
        refund.triggered.connect(self.refund_selected)
        menu.addSeparator()
        copy_id = menu.addAction(theme.icon("copy"), "Copy id")
        copy_id.setEnabled(row is not None)
        copy_id.triggered.connect(self.copy_selected_id)
        copy_order = menu.addAction("Copy order id")
        copy_order.setEnabled(row is not None)
        copy_order.triggered.connect(
            lambda: row and QGuiApplication.clipboard().setText(row.order_id)
        )
        menu.addSeparator()
        export = menu.addAction(theme.icon("export"), "Export CSV…")
        export.setEnabled(self._export_cancel is None)
        export.triggered.connect(self.export_csv)
        return menu

    def copy_selected_id(self) -> None:
        row = self.selected_row()
        if row is not None:
            QGuiApplication.clipboard().setText(row.id)
            self.message.emit(f"Copied {row.id}")

    # -- export ------------------------------------------------------------------------------
    @Slot()
    def export_csv(self) -> None:
        if self._export_cancel is not None:
            return
        path_text, _ = QFileDialog.getSaveFileName(
            self, "Export payments", str(Path.home() / "payments.csv"), "CSV files (*.csv)"
        )
        if not path_text:
            return
        self.start_export(Path(path_text))

    def start_export(self, path: Path) -> None:
        """Write the payments the filters select to ``path`` in the pool, with progress."""
        from core.export import export_payments

        f = self._query_filter
        db = self.db
        cancel = threading.Event()
        relay = ProgressRelay(self)
        row = self.export_row
        relay.changed.connect(lambda n: row.label.setText(f"Exporting… {int(n):,} payments"))
        self._export_cancel = cancel
        self._export_path = path
        row.label.setText("Exporting…")
        row.cancel_button.setEnabled(True)
        row.show()
        self.export_button.setEnabled(False)

        def work() -> int:
            return export_payments(db, f, path, progress=relay.report, cancelled=cancel.is_set)

        self.runner.submit(
            work,
            lambda n: self._export_done(f"Exported {n:,} payments to {path.name}.", relay),
            lambda exc: self._export_failed(exc, relay),
        )

    def cancel_export(self) -> None:
        if self._export_cancel is not None:
            self._export_cancel.set()
            self.export_row.label.setText("Cancelling…")
            self.export_row.cancel_button.setEnabled(False)

    def _export_failed(self, exc: BaseException, relay: ProgressRelay) -> None:
        from core.export import ExportCancelled

        if isinstance(exc, ExportCancelled):
            self._export_done("Export cancelled; no file was written.", relay)
        else:
            self._export_done(person_message(exc), relay)

    def _export_done(self, sentence: str, relay: ProgressRelay) -> None:
        relay.deleteLater()
        self._export_cancel = None
        self.export_row.hide()
        self.export_button.setEnabled(True)
        self.message.emit(sentence)
        self.exportFinished.emit(sentence)

    @property
    def exporting(self) -> bool:
        return self._export_cancel is not None

    # -- demo data ---------------------------------------------------------------------------
    def load_demo_data(self) -> None:
        """Seed demo payments into this (empty) database off the UI thread, then show them."""
        if self._seeding:
            return
        self._seeding = True
        self.demo_button.setEnabled(False)
        self.demo_progress.setRange(0, 0)
        self.demo_progress.show()
        self.demo_status.setText("Preparing demo data…")
        relay = ProgressRelay(self)
        relay.changed.connect(self._demo_progress)
        db = self.db
        now = self.services.ctx.clock.now()

        def work() -> Any:
            from core import demo

            return demo.seed(db, payments=DEMO_PAYMENTS, seed=1, now=now, progress=relay.report)

        def done(_summary: Any) -> None:
            self._seeding_finished(relay)
            self.refresh()

        def failed(exc: BaseException) -> None:
            self._seeding_finished(relay)
            self.demo_status.setText(person_message(exc))

        self.runner.submit(work, done, failed)

    def _demo_progress(self, report: Any) -> None:
        stage, done, total = report
        if total:
            self.demo_progress.setRange(0, int(total))
            self.demo_progress.setValue(int(done))
        self.demo_status.setText(f"{str(stage).capitalize()}… {int(done):,} of {int(total):,}")

    def _seeding_finished(self, relay: ProgressRelay) -> None:
        relay.deleteLater()
        self._seeding = False
        self.demo_button.setEnabled(True)
        self.demo_progress.hide()
        self.demo_status.setText("")
