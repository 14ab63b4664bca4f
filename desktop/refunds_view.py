"""The Refunds view: the approval queue, its filters, a keyset-paged table, the detail pane,
and Approve / Reject / Cancel / Retry.

Every read and every action goes through the TaskRunner. Queries run under the key
``"refunds"``: a filter change starts a new generation, so a page (or a live update) that
arrives for an older filter is dropped. Whether this person may act on a refund is asked of
``core.refunds.why_not`` in the pool when the refund is selected; the buttons show its
sentence as their tooltip when they are disabled.

Change notices (``AppServices.changes``) keep the table current without a refresh: rows on
screen that changed are re-read and replaced in place, and the first page is re-read and its
new rows merged in only when the filter may have gained rows. Selection and scroll stay put.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import (
    QFontDatabase,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from core import payments, roles
from core import refunds as rf
from core.dashboard import RefundLink
from core.errors import PaydeskError
from core.money import format_money
from core.refunds import PAGE_SIZE, DecisionResult, RefundFilter, RefundView
from desktop import list_page, theme
from desktop.link_chips import LinkChips, span_text
from desktop.payments_view import person_message
from desktop.refund_detail import RefundDetailData, RefundDetailPane, load_refund_detail
from desktop.refund_dialog import form_style
from desktop.refunds_model import (
    COLUMN,
    KIND_NAMES,
    STATUS_NAMES,
    STATUS_ROLE,
    RefundsModel,
)
from desktop.status_badge import StatusBadgeDelegate
from desktop.views import AppServices

SEARCH_DEBOUNCE_MS = 150
AGE_TICK_MS = 30_000
APPROVE_KEYS = QKeySequence("Ctrl+Return")
REJECT_KEYS = QKeySequence("Ctrl+Backspace")

# (label, min_age, max_age)
AGES: tuple[tuple[str, timedelta | None, timedelta | None], ...] = (
    ("Any age", None, None),
    ("Under 1 hour", None, timedelta(hours=1)),
    ("Under 1 day", None, timedelta(days=1)),
    ("Over 1 day", timedelta(days=1), None),
    ("Over 3 days", timedelta(days=3), None),
    ("Over 7 days", timedelta(days=7), None),
    ("Over 14 days", timedelta(days=14), None),
)
# The widest text each column usually holds; widths follow the font in use.
_COLUMN_SAMPLES = {
    "requested": "31 Dec 23:59",
    "id": "rfnd_00000000000000",
    "payment": "pay_00000000000000",
    "merchant": "Merchant nam",
    "amount": "₹1,23,456.00",
    "kind": "Pro rata",
    "reason": "Customer ask",
    "requested_by": "Requested by",
    "age": "10 d 23 h",
    "status": "Awaiting approval",
}


def shortcut_text(keys: QKeySequence) -> str:
    return keys.toString(QKeySequence.SequenceFormat.NativeText)


def totals_text(totals: dict[str, int]) -> str:
    """``₹1,500.00 + $20.00``: one figure per currency, never summed across currencies."""
    return " + ".join(format_money(amount, cur) for cur, amount in sorted(totals.items()))


@dataclass
class _Setup:
    """What the view needs once: who is acting, their role, names for the filter lists."""

    role: str | None
    refusal: str | None  # why this person cannot use Paydesk at all
    merchants: dict[str, str]
    staff: list[str]


@dataclass
class _FirstPage:
    filter: RefundFilter
    rows: list[RefundView]
    setup: _Setup | None


@dataclass
class _LiveUpdate:
    changed: list[RefundView]
    first_page: list[RefundView] | None


class RejectDialog(QDialog):
    """Asks for the note a rejection needs. ``submitted(note)`` when the person confirms; the
    view shows the service's answer with ``show_error`` or closes the dialog."""

    submitted = Signal(str)

    def __init__(self, refund: RefundView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.refund = refund
        self.setWindowTitle("Reject refund")
        self.setMinimumWidth(440)
        self.setStyleSheet(form_style())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(8)
        head = QLabel(f"Reject the refund of {refund.amount_text}?", objectName="DetailTitle")
        head.setStyleSheet("font-size: 12pt; font-weight: 700;")
        lay.addWidget(head)
        sub = QLabel(
            f"{refund.id} on payment {refund.payment_id}, requested by {refund.requested_by}.",
            objectName="Muted",
        )
        sub.setWordWrap(True)
        lay.addWidget(sub)
        lay.addSpacing(6)
        lay.addWidget(QLabel("Why? The requester reads this note."))
        self.note = QPlainTextEdit(self)
        self.note.setPlaceholderText("e.g. The customer already received a replacement.")
        self.note.setTabChangesFocus(True)
        self.note.setFixedHeight(90)
        lay.addWidget(self.note)
        self.error = QLabel("", self)
        self.error.setWordWrap(True)
        self.error.hide()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(self)
        self.reject_button = buttons.addButton(
            "Reject refund", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.reject_button.setObjectName("Primary")
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.note.setFocus()

    def _submit(self) -> None:
        self.set_busy(True)
        self.submitted.emit(self.note.toPlainText())

    def set_busy(self, busy: bool) -> None:
        self.reject_button.setEnabled(not busy)
        self.reject_button.setText("Rejecting…" if busy else "Reject refund")

    def show_error(self, sentence: str) -> None:
        self.set_busy(False)
        self.error.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")
        self.error.setText(sentence)
        self.error.show()
        self.note.setFocus()


class ApprovalReportDialog(QDialog):
    """Which refunds of a multi-approve went through and, for the rest, why not (those first)."""

    def __init__(
        self,
        results: list[DecisionResult],
        amounts: dict[str, str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.results = results
        self.setWindowTitle("Approval report")
        self.setMinimumSize(760, 340)
        ok = sum(1 for r in results if r.ok)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(8)
        self.heading = QLabel(f"{ok} of {len(results)} refunds approved")
        self.heading.setStyleSheet("font-size: 12pt; font-weight: 700;")
        lay.addWidget(self.heading)
        failed = len(results) - ok
        sub = QLabel(
            f"{failed} could not be approved; the reason is beside each."
            if failed
            else "Every selected refund was approved.",
            objectName="Muted",
        )
        lay.addWidget(sub)
        ordered = sorted(results, key=lambda r: r.ok)  # stable: failures first, else as chosen
        self.table = QTableWidget(len(ordered), 3, self)
        self.table.setHorizontalHeaderLabels(["Refund", "Amount", "Result"])
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.verticalHeader().setDefaultSectionSize(
            max(26, self.table.fontMetrics().height() + 12)
        )
        hh = self.table.horizontalHeader()
        hh.setHighlightSections(False)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        hh.setStretchLastSection(True)
        ok_colour = theme.status_colours("processed")[0]
        bad_colour = theme.status_colours("failed")[0]
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for row, r in enumerate(ordered):
            cells = (
                QTableWidgetItem(r.refund_id),
                QTableWidgetItem(amounts.get(r.refund_id, "")),
                QTableWidgetItem(("✓ " if r.ok else "✗ ") + r.message),
            )
            cells[0].setFont(mono)
            cells[1].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            cells[2].setForeground(ok_colour if r.ok else bad_colour)
            cells[2].setToolTip(r.message)
            for col, cell in enumerate(cells):
                self.table.setItem(row, col, cell)
        self.table.setColumnWidth(
            0, QFontMetrics(mono).horizontalAdvance("rfnd_00000000000000") + 24
        )
        self.table.setColumnWidth(1, 110)
        self.table.horizontalHeaderItem(1).setTextAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.table.setWordWrap(True)
        lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # Long reasons wrap; row heights are known only once the columns have their width.
        self.table.resizeRowsToContents()

    def lines(self) -> list[str]:
        """Each refund's line as a person reads it (``rfnd_… · ✗ Refund … was already …``)."""
        return [
            f"{self.table.item(row, 0).text()} · {self.table.item(row, 2).text()}"
            for row in range(self.table.rowCount())
        ]


class RefundsView(QWidget):
    """Work the refund queue. Emits ``loaded`` when a query's first page is on screen,
    ``actionFinished`` with the sentence an action ended with, ``liveUpdated`` after a change
    notice was applied."""

    loaded = Signal(int)
    detailShown = Signal(str)
    actionsUpdated = Signal()
    actionFinished = Signal(str)
    liveUpdated = Signal()
    message = Signal(str)

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.services = services
        self.ctx = services.ctx
        self.db = services.ctx.db
        self.runner = services.runner
        self.actor = services.ctx.default_actor()
        self.role: str | None = None
        self.is_loaded = False
        self._filter = RefundFilter()
        self._query_filter = RefundFilter()
        self._detail: RefundDetailData | None = None
        self._busy = False
        # Change notices that arrived while the view was hidden, applied when it is shown.
        self._deferred: tuple[set[str], set[str], bool] | None = None
        self.reject_dialog: RejectDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.report_dialog: ApprovalReportDialog | None = None
        # What a RefundLink narrowed to that the combos cannot say (shown as chips): the
        # filter's currency, created_* and processed_* fields.
        self._link_extras: dict[str, Any] = {}

        self.model = RefundsModel(self.ctx.clock.now, self)
        self.model.set_fetcher(self._fetch_next)
        self.model.rowsLoaded.connect(self._update_counter)

        self._debounce = list_page.debounce_timer(self, SEARCH_DEBOUNCE_MS, self.apply_filters)
        self._ages = QTimer(self)
        self._ages.setInterval(AGE_TICK_MS)
        self._ages.timeout.connect(self.model.tick)
        self._ages.start()

        self._build()
        self._update_actions()
        changes = services.changes
        if changes is not None:
            changes.changed.connect(self._on_changed)
        self._first_load()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root, bar_lay, title_row, self.counter = list_page.filter_bar(self, "Refunds")
        self.approve_button = QPushButton(theme.icon("approve", "#ffffff"), "Approve", self)
        self.approve_button.setObjectName("Primary")
        self.approve_button.setShortcut(APPROVE_KEYS)
        self.approve_button.clicked.connect(self.approve_selected)
        self.reject_button = QPushButton(theme.icon("reject"), "Reject…", self)
        self.reject_button.setShortcut(REJECT_KEYS)
        self.reject_button.clicked.connect(self.reject_selected)
        self.cancel_button = QPushButton(theme.icon("undo"), "Cancel request", self)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.retry_button = QPushButton(theme.icon("refresh"), "Retry", self)
        self.retry_button.clicked.connect(self.retry_selected)
        for b in (self.cancel_button, self.retry_button, self.reject_button, self.approve_button):
            title_row.addWidget(b)
        title_row.addSpacing(4)
        self.refresh_button = list_page.refresh_button(self, self.refresh)
        title_row.addWidget(self.refresh_button)

        filters = QHBoxLayout()
        filters.setSpacing(8)
        self.search = list_page.search_box(
            self, "Refund id or payment id", 220, self._debounce, self.apply_filters
        )
        filters.addWidget(self.search, 3)

        self.status_combo = QComboBox(self)
        self.status_combo.addItem("All statuses", None)
        for key in rf.STATUSES:
            self.status_combo.addItem(STATUS_NAMES[key], key)
        self.merchant_combo = QComboBox(self)
        self.merchant_combo.addItem("All merchants", None)
        self.requester_combo = QComboBox(self)
        self.requester_combo.addItem("Anyone", None)
        self.requester_combo.setToolTip("Requested by")
        self.kind_combo = QComboBox(self)
        self.kind_combo.addItem("All kinds", None)
        for key in rf.KINDS:
            self.kind_combo.addItem(KIND_NAMES[key], key)
        self.age_combo = QComboBox(self)
        for i, (label, _lo, _hi) in enumerate(AGES):
            self.age_combo.addItem(label, i)
        self.age_combo.setToolTip("Age of the request")
        list_page.fit_combos(self.merchant_combo, self.requester_combo)
        for combo in (
            self.status_combo,
            self.merchant_combo,
            self.requester_combo,
            self.kind_combo,
            self.age_combo,
        ):
            combo.currentIndexChanged.connect(self.apply_filters)
            filters.addWidget(combo, 1)
        self.link_chips = LinkChips(self)
        self.link_chips.removed.connect(self._link_chip_removed)
        filters.addWidget(self.link_chips)
        self.clear_button = list_page.clear_button(self, self.clear_filters)
        filters.addWidget(self.clear_button)
        bar_lay.addLayout(filters)

        self.banner, self.banner_text = list_page.message_bar(self, "Banner")
        bar_lay.addWidget(self.banner)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.pages = QStackedWidget(self.splitter)
        self.table = self._build_table()
        self.pages.addWidget(self.table)
        self.empty_page, self.empty_title, self.empty_text, self.show_all_button = (
            list_page.empty_page(
                self, "refunds", "No refunds", "Show all refunds", self.clear_filters
            )
        )
        self.pages.addWidget(self.empty_page)
        self.loading_page = list_page.loading_page(self, "refunds", "Loading refunds…")
        self.pages.addWidget(self.loading_page)
        self.pages.setCurrentWidget(self.loading_page)
        self.splitter.addWidget(self.pages)

        self.detail = RefundDetailPane(self.splitter)
        self.detail.closed.connect(self._close_detail)
        self.detail.hide()
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        root.addWidget(self.splitter, 1)

        list_page.add_shortcut(self, QKeySequence.StandardKey.Refresh, self.refresh)
        list_page.add_shortcut(self, QKeySequence.StandardKey.Find, lambda: self.search.setFocus())

    def _build_table(self) -> QTableView:
        table = list_page.list_table(
            self, self.model, QAbstractItemView.SelectionMode.ExtendedSelection
        )
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        hh = table.horizontalHeader()
        hh.setSectionsClickable(True)
        hh.setSectionsMovable(True)  # a person may bring Status or Age further left
        hh.setSortIndicatorShown(True)
        hh.setSortIndicator(COLUMN["requested"], Qt.SortOrder.DescendingOrder)
        hh.setStretchLastSection(True)
        hh.sectionClicked.connect(self._header_clicked)
        fm = table.fontMetrics()
        header_fm = hh.fontMetrics()
        mono = QFontMetrics(self.model.id_font)
        for key, sample in _COLUMN_SAMPLES.items():
            metrics = mono if key in ("id", "payment") else fm
            title = self.model.headerData(COLUMN[key], Qt.Orientation.Horizontal)
            # Header labels are bold and carry the sort arrow; cells have their own padding.
            width = max(
                metrics.horizontalAdvance(sample) + 24, header_fm.horizontalAdvance(title) + 34
            )
            extra = 18 if key == "status" else 0  # the badge's own padding
            table.setColumnWidth(COLUMN[key], width + extra)
        table.setItemDelegateForColumn(COLUMN["status"], StatusBadgeDelegate(STATUS_ROLE, table))
        table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        table.selectionModel().currentRowChanged.connect(self._current_changed)
        return table

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> RefundFilter:
        """What the filter widgets say now (not yet validated)."""
        _label, min_age, max_age = AGES[self.age_combo.currentData() or 0]
        return RefundFilter(
            status=self.status_combo.currentData(),
            merchant_id=self.merchant_combo.currentData(),
            requested_by=self.requester_combo.currentData(),
            kind=self.kind_combo.currentData(),
            min_age=min_age,
            max_age=max_age,
            search=self.search.text(),
            descending=self._filter.descending,
            **self._link_extras,
        )

    def apply_link(self, link: object) -> None:
        """Narrow to a dashboard ``RefundLink``: the status combo shows its status, the
        order its ``oldest_first``; its currency and time ranges show as removable chips."""
        if not isinstance(link, RefundLink):
            return
        f = rf.filter_for_link(link)
        widgets = (self.search, self.status_combo, self.merchant_combo, self.requester_combo,
                   self.kind_combo, self.age_combo)  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        self._debounce.stop()
        self.search.clear()
        for combo in widgets[1:]:
            combo.setCurrentIndex(0)
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(f.status)))
        for w in widgets:
            w.blockSignals(False)
        self._set_link_extras(
            currency=f.currency,
            created_from=f.created_from,
            created_to=f.created_to,
            processed_from=f.processed_from,
            processed_to=f.processed_to,
        )
        order = Qt.SortOrder.DescendingOrder if f.descending else Qt.SortOrder.AscendingOrder
        self.table.horizontalHeader().setSortIndicator(COLUMN["requested"], order)
        # A link may arrive before the first answer: ask for the setup it would have brought.
        self.run_query(f, setup=not self.is_loaded)

    def _set_link_extras(self, **extras: Any) -> None:
        self._link_extras = {k: v for k, v in extras.items() if v is not None}
        e = self._link_extras
        currency = e.get("currency")
        self.link_chips.set_chip(
            "currency", f"Currency: {currency}" if currency else None, "Show every currency"
        )
        for key, word in (("created", "Requested"), ("processed", "Processed")):
            start, end = e.get(f"{key}_from"), e.get(f"{key}_to")
            text = f"{word} {span_text(start, end)}" if start or end else None
            self.link_chips.set_chip(key, text, f"{word} at any time")

    def _link_chip_removed(self, key: str) -> None:
        extras = {k: v for k, v in self._link_extras.items() if not k.startswith(key)}
        self._set_link_extras(**extras)
        self.apply_filters()

    def _first_load(self) -> None:
        """Who is acting decides the default: finance and admin staff start on the refunds
        awaiting approval, everyone else on all refunds."""
        db, actor, clock = self.db, self.actor, self.ctx.clock

        def work() -> _FirstPage:
            with db.read() as session:
                setup = _read_setup(session, actor)
                deciding = roles.allowed(setup.role, "refund.decide")
                f = RefundFilter(status="pending_approval" if deciding else None)
                rows = rf.page(session, f, limit=PAGE_SIZE, now=clock.now())
            return _FirstPage(f, rows, setup)

        self.runner.submit(work, self._on_first_page, self._on_query_error, key="refunds")

    def apply_filters(self) -> None:
        """Run the query the filters describe (the search box calls this after a pause)."""
        self._debounce.stop()
        self.run_query(self.current_filter())

    def refresh(self) -> None:
        self.run_query(self.current_filter(), setup=True)

    def run_query(self, f: RefundFilter, *, setup: bool = False) -> None:
        """Replace the table with the first page of ``f``; older results are dropped."""
        try:
            f = f.validated()
        except PaydeskError as exc:
            self.runner.invalidate("refunds")
            self._show_banner(exc.message)
            return
        self._filter = f
        db, actor, clock = self.db, self.actor, self.ctx.clock

        def work() -> _FirstPage:
            with db.read() as session:
                rows = rf.page(session, f, limit=PAGE_SIZE, now=clock.now())
                info = _read_setup(session, actor) if setup else None
            return _FirstPage(f, rows, info)

        self.runner.submit(work, self._on_first_page, self._on_query_error, key="refunds")

    def _on_first_page(self, result: _FirstPage) -> None:
        self.banner.hide()
        if result.setup is not None:
            self._apply_setup(result.setup, result.filter)
        self._filter = self._query_filter = result.filter
        self.model.reset(result.rows, more=len(result.rows) == PAGE_SIZE)
        self._close_detail()
        if result.rows:
            self.pages.setCurrentWidget(self.table)
            self.table.scrollToTop()
        else:
            self._show_empty(result.filter)
        self.is_loaded = True
        self.loaded.emit(len(result.rows))

    def _show_empty(self, f: RefundFilter) -> None:
        if f == RefundFilter(status="pending_approval"):
            self.empty_title.setText("Nothing awaits approval")
            self.empty_text.setText("New refund requests that need a second person appear here.")
        elif self._is_unfiltered(f):
            self.empty_title.setText("No refunds yet")
            self.empty_text.setText("Refunds appear here once someone requests one from Payments.")
        else:
            self.empty_title.setText("No refunds match")
            self.empty_text.setText("Try another search, or clear the filters.")
        self.show_all_button.setVisible(not self._is_unfiltered(f))
        self.pages.setCurrentWidget(self.empty_page)

    def _apply_setup(self, setup: _Setup, f: RefundFilter) -> None:
        self.role = setup.role
        deciding = roles.allowed(setup.role, "refund.decide")
        # The UI offers only what the role allows; the service refuses the rest anyway.
        for b in (self.approve_button, self.reject_button, self.retry_button):
            b.setVisible(deciding)
        combos = (self.status_combo, self.merchant_combo, self.requester_combo)
        for c in combos:
            c.blockSignals(True)
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(f.status)))
        list_page.refill_combo(
            self.merchant_combo,
            "All merchants",
            sorted(setup.merchants.items(), key=lambda kv: kv[1].lower()),
        )
        people = [(self.actor, f"Me ({self.actor})")]
        people += [(u, u) for u in setup.staff if u != self.actor]
        list_page.refill_combo(self.requester_combo, "Anyone", people)
        for c in combos:
            c.blockSignals(False)
        self.model.set_merchant_names(setup.merchants)
        if setup.refusal:
            self._show_banner(setup.refusal)
        self._update_actions()

    def _on_query_error(self, exc: BaseException) -> None:
        self.model.fetch_failed()
        if self.pages.currentWidget() is self.loading_page:
            self._show_empty(self._filter)
        self._show_banner(person_message(exc))

    def _fetch_next(self, after: tuple[datetime, str]) -> None:
        f = self._query_filter
        db, clock = self.db, self.ctx.clock

        def work() -> list[RefundView]:
            with db.read() as session:
                return rf.page(session, f, after=after, limit=PAGE_SIZE, now=clock.now())

        self.runner.submit(
            work,
            lambda rows: self.model.append(rows, more=len(rows) == PAGE_SIZE),
            self._on_query_error,
            key="refunds",
            supersede=False,
        )

    @staticmethod
    def _is_unfiltered(f: RefundFilter) -> bool:
        return f == RefundFilter()

    def clear_filters(self) -> None:
        widgets = (self.search, self.status_combo, self.merchant_combo, self.requester_combo,
                   self.kind_combo, self.age_combo)  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        self.search.clear()
        for combo in widgets[1:]:
            combo.setCurrentIndex(0)
        for w in widgets:
            w.blockSignals(False)
        self._set_link_extras()
        self.apply_filters()

    def _header_clicked(self, section: int) -> None:
        # Only the request time orders the keyset: newest first, or oldest first (the queue).
        header = self.table.horizontalHeader()
        if section in (COLUMN["requested"], COLUMN["age"]):
            self._filter = replace(self._filter, descending=not self._filter.descending)
            self.run_query(replace(self.current_filter(), descending=self._filter.descending))
        ascending = not self._filter.descending
        order = Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder
        header.setSortIndicator(COLUMN["requested"], order)

    def _update_counter(self, count: int) -> None:
        self.counter.setText(list_page.counter_text(count, self.model.has_more))

    def _show_banner(self, text: str) -> None:
        self.banner_text.setText(text)
        self.banner.show()

    # -- live updates --------------------------------------------------------------------------
    def _on_changed(self, table: str, ids: Any, statuses: Any) -> None:
        if table == "payments":
            d = self._detail
            if d is not None and (not ids or d.detail.payment.id in ids):
                self._load_detail(d.refund.id)
            return
        if table != "refunds":
            return
        if not self.isVisible():
            # Catch up when shown (a hidden view costs nothing while refunds are processed).
            known, seen, everything = self._deferred or (set(), set(), False)
            self._deferred = (known | set(ids), seen | set(statuses), everything or not ids)
            return
        self._apply_changes(set(ids), set(statuses), everything=not ids)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._deferred is not None:
            ids, statuses, everything = self._deferred
            self._deferred = None
            self._apply_changes(ids, statuses, everything=everything)

    def _may_gain(self, ids: set[str], statuses: set[str], everything: bool) -> bool:
        """Could the first page of the filter on screen now hold rows it did not?"""
        if everything:
            return True
        if not ids - self.model.ids():
            return False
        status = self._query_filter.status
        return not (status and statuses and status not in statuses)

    def _apply_changes(self, ids: set[str], statuses: set[str], *, everything: bool) -> None:
        if not self.is_loaded:
            return
        on_screen = self.model.ids() if everything else ids & self.model.ids()
        gain = self._may_gain(ids, statuses, everything)
        if not on_screen and not gain:
            return
        f, db, clock = self._query_filter, self.db, self.ctx.clock

        def work() -> _LiveUpdate:
            with db.read() as session:
                changed = rf.get_many(session, sorted(on_screen)) if on_screen else []
                first = rf.page(session, f, limit=PAGE_SIZE, now=clock.now()) if gain else None
            return _LiveUpdate(changed, first)

        # Joins the query's generation: a filter change meanwhile drops this update.
        self.runner.submit(
            work, self._on_live_update, lambda _exc: None, key="refunds", supersede=False
        )

    def _on_live_update(self, update: _LiveUpdate) -> None:
        changed_rows = self.model.update_rows(update.changed)
        if update.first_page:
            list_page.merge_first_page(self.table, self.pages, self.model, update.first_page)
        current = self.selected_refund()
        if current is not None and (
            self.model.row_of(current.id) in changed_rows
            or (self._detail is not None and self._detail.refund.version != current.version)
        ):
            self._load_detail(current.id)
        self.liveUpdated.emit()

    # -- selection, detail and what this person may do --------------------------------------
    def selected_refunds(self) -> list[RefundView]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [r for r in (self.model.row_at(i) for i in rows) if r is not None]

    def selected_refund(self) -> RefundView | None:
        """The refund the detail pane is about: the only one selected, or the current row."""
        chosen = self.selected_refunds()
        if len(chosen) == 1:
            return chosen[0]
        index = self.table.currentIndex()
        if index.isValid() and self.table.selectionModel().isRowSelected(index.row()):
            return self.model.row_at(index.row())
        return None

    def select_refund(self, refund_id: str, *, extend: bool = False) -> bool:
        """Select (or add to the selection) the row of ``refund_id``; False when not shown."""
        row = self.model.row_of(refund_id)
        if row is None:
            return False
        flags = QItemSelectionModel.SelectionFlag.Rows | (
            QItemSelectionModel.SelectionFlag.Select
            if extend
            else QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(index, flags)
        self.table.scrollTo(index)
        return True

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row_at(current.row()) if current.isValid() else None
        if row is None:
            return
        if self.detail.isHidden():
            self.detail.show()
            total = max(900, self.splitter.width())
            self.splitter.setSizes([total - 340, 340])
        self._load_detail(row.id)

    def _selection_changed(self) -> None:
        self._update_actions()

    def _load_detail(self, refund_id: str) -> None:
        if self._detail is None or self._detail.refund.id != refund_id:
            self._detail = None
            self.detail.show_loading(refund_id)
            self._update_actions()
        db, actor = self.db, self.actor
        self.runner.submit(
            lambda: load_refund_detail(db, refund_id, actor),
            self._on_detail,
            lambda exc: self.detail.show_error(person_message(exc)),
            key="refund-detail",
        )

    def _on_detail(self, data: RefundDetailData) -> None:
        self._detail = data
        self.model.update_rows([data.refund])
        self.detail.show_detail(data)
        self._update_actions()
        self.detailShown.emit(data.refund.id)

    def _close_detail(self) -> None:
        self.runner.invalidate("refund-detail")
        self._detail = None
        self.detail.hide()
        self.table.selectionModel().clearSelection()
        self._update_actions()

    def _update_actions(self) -> None:
        """Enable each button only when this person may take the action on the selection;
        a disabled button's tooltip says why."""
        chosen = self.selected_refunds()
        buttons: dict[str, tuple[QPushButton, str, QKeySequence | None]] = {
            "approve": (self.approve_button, "Approve", APPROVE_KEYS),
            "reject": (self.reject_button, "Reject", REJECT_KEYS),
            "cancel": (self.cancel_button, "Cancel your request", None),
            "retry": (self.retry_button, "Retry processing", None),
        }
        for action, (button, verb, keys) in buttons.items():
            enabled, tip = self._may(action, chosen, verb)
            if self._busy:
                enabled, tip = False, "Working…"
            button.setEnabled(enabled)
            keys_text = f" ({shortcut_text(keys)})" if keys is not None else ""
            button.setToolTip(tip + (keys_text if enabled else ""))
        self.approve_button.setText(f"Approve {len(chosen)}" if len(chosen) > 1 else "Approve")
        self.actionsUpdated.emit()

    def _may(self, action: str, chosen: list[RefundView], verb: str) -> tuple[bool, str]:
        if not chosen:
            return False, "Select a refund first."
        if len(chosen) > 1:
            if action != "approve":
                return False, f"Select one refund to {verb.lower()} it."
            if not roles.allowed(self.role, "refund.decide"):
                return False, "Only finance or admin staff can approve or reject refunds."
            return True, f"Approve the {len(chosen)} selected refunds"
        r = chosen[0]
        d = self._detail
        # Only an answer about the row as shown now counts (versions move on every change).
        if d is None or d.refund.id != r.id or d.refund.version != r.version:
            return False, "Checking…"
        reason = d.why_not.get(action)
        if reason:
            return False, reason
        return True, f"{verb} refund {r.id}"

    # -- actions -------------------------------------------------------------------------------
    def approve_selected(self) -> None:
        """Approve the selection: one refund at once, several after a confirmation."""
        chosen = self.selected_refunds()
        if self._busy or not chosen:
            return
        if len(chosen) > 1:
            self._confirm_many([r.id for r in chosen])
            return
        r = chosen[0]
        ctx, actor = self.ctx, self.actor
        self._run_action(
            lambda: rf.approve(ctx, actor, r.id, expected_version=r.version),
            lambda v: f"Approved refund {v.id} ({v.amount_text}).",
        )

    def reject_selected(self) -> None:
        """Ask for the note, then reject."""
        chosen = self.selected_refunds()
        if self._busy or len(chosen) != 1 or not self.reject_button.isEnabled():
            return
        r = chosen[0]
        dialog = RejectDialog(r, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        ctx, actor = self.ctx, self.actor

        def submit(note: str) -> None:
            def done(view: RefundView) -> None:
                self.model.update_rows([view])
                self._after_action(f"Rejected refund {view.id}.")
                dialog.accept()

            self.runner.submit(
                lambda: rf.reject(ctx, actor, r.id, note, expected_version=r.version),
                done,
                lambda exc: dialog.show_error(person_message(exc)),
            )

        dialog.submitted.connect(submit)
        dialog.finished.connect(lambda _r: setattr(self, "reject_dialog", None))
        self.reject_dialog = dialog
        dialog.open()

    def cancel_selected(self) -> None:
        """Withdraw the person's own pending request, after a confirmation."""
        chosen = self.selected_refunds()
        if self._busy or len(chosen) != 1 or not self.cancel_button.isEnabled():
            return
        r = chosen[0]
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Cancel refund request")
        box.setText(f"Withdraw your request to refund {r.amount_text}?")
        box.setInformativeText(
            f"{r.id} on payment {r.payment_id}. The amount becomes refundable again."
        )
        yes = box.addButton("Withdraw request", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole)
        ctx, actor = self.ctx, self.actor

        def finished(_result: int) -> None:
            self.confirm_box = None
            if box.clickedButton() is yes:
                self._run_action(
                    lambda: rf.cancel(ctx, actor, r.id), lambda v: f"Cancelled refund {v.id}."
                )

        box.finished.connect(finished)
        self.confirm_box = box
        box.open()

    def retry_selected(self) -> None:
        """Put a failed refund back to approved so processing tries it again."""
        chosen = self.selected_refunds()
        if self._busy or len(chosen) != 1 or not self.retry_button.isEnabled():
            return
        r = chosen[0]
        ctx, actor = self.ctx, self.actor
        self._run_action(
            lambda: rf.retry(ctx, actor, r.id),
            lambda v: f"Refund {v.id} will be processed again.",
        )

    def _run_action(
        self, work: Callable[[], RefundView], said: Callable[[RefundView], str]
    ) -> None:
        self._busy = True
        self._update_actions()

        def done(view: RefundView) -> None:
            self._busy = False
            self.model.update_rows([view])
            self._after_action(said(view))

        def failed(exc: BaseException) -> None:
            self._busy = False
            sentence = person_message(exc)
            self._show_banner(sentence)
            self._refresh_selection()
            self._update_actions()
            self.actionFinished.emit(sentence)

        self.runner.submit(work, done, failed)

    def _after_action(self, sentence: str) -> None:
        self.banner.hide()
        self.message.emit(sentence)
        self._refresh_selection()
        self._update_actions()
        self.actionFinished.emit(sentence)

    def _refresh_selection(self) -> None:
        """Re-read what is selected: an action (ours or someone else's) changed it."""
        chosen = self.selected_refunds()
        if chosen:
            ids = [r.id for r in chosen]
            db = self.db
            self.runner.submit(lambda: _read_many(db, ids), self.model.update_rows, lambda _e: None)
        current = self.selected_refund()
        if current is not None:
            self._load_detail(current.id)

    def _confirm_many(self, ids: list[str]) -> None:
        db = self.db

        def work() -> dict[str, int]:
            with db.read() as session:
                return rf.totals_by_currency(session, ids)

        self.runner.submit(
            work,
            lambda totals: self._ask_many(ids, totals),
            lambda exc: self._show_banner(person_message(exc)),
        )

    def _ask_many(self, ids: list[str], totals: dict[str, int]) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Approve refunds")
        box.setText(f"<b>Approve {len(ids)} refunds?</b>")
        lines = [f"{format_money(amount, cur)} in {cur}" for cur, amount in sorted(totals.items())]
        box.setInformativeText(
            "Total per currency:\n" + "\n".join(lines) + "\n\nEach is approved on its own; "
            "any that cannot be approved are listed afterwards with the reason."
        )
        yes = box.addButton(f"Approve {len(ids)} refunds", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(yes)
        self.confirm_totals = totals

        def finished(_result: int) -> None:
            self.confirm_box = None
            if box.clickedButton() is yes:
                self._approve_many(ids)

        box.finished.connect(finished)
        self.confirm_box = box
        box.open()

    def _approve_many(self, ids: list[str]) -> None:
        self._busy = True
        self._update_actions()
        ctx, actor, db = self.ctx, self.actor, self.db
        amounts = {r.id: r.amount_text for r in self.model.rows() if r.id in set(ids)}

        def work() -> tuple[list[DecisionResult], list[RefundView]]:
            results = rf.approve_many(ctx, actor, ids)
            return results, _read_many(db, ids)

        def done(outcome: tuple[list[DecisionResult], list[RefundView]]) -> None:
            results, fresh = outcome
            self._busy = False
            self.model.update_rows(fresh)
            ok = sum(1 for r in results if r.ok)
            sentence = f"Approved {ok} of {len(results)} refunds."
            self._after_action(sentence)
            report = ApprovalReportDialog(results, amounts, self)
            report.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            report.finished.connect(lambda _r: setattr(self, "report_dialog", None))
            self.report_dialog = report
            report.open()

        def failed(exc: BaseException) -> None:
            self._busy = False
            self._show_banner(person_message(exc))
            self._update_actions()

        self.runner.submit(work, done, failed)

    # -- context menu and clipboard --------------------------------------------------------------
    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if index.isValid() and not self.table.selectionModel().isRowSelected(index.row()):
            self.table.setCurrentIndex(index)
        self.build_context_menu().exec(self.table.viewport().mapToGlobal(pos))

    def build_context_menu(self) -> QMenu:
        menu = QMenu(self)
        for button, slot in (
            (self.approve_button, self.approve_selected),
            (self.reject_button, self.reject_selected),
            (self.cancel_button, self.cancel_selected),
            (self.retry_button, self.retry_selected),
        ):
            if not button.isHidden():
                act = menu.addAction(button.icon(), button.text())
                act.setEnabled(button.isEnabled())
                act.setShortcut(button.shortcut())
                act.triggered.connect(slot)
        menu.addSeparator()
        r = self.selected_refund()
        copy_id = menu.addAction(theme.icon("copy"), "Copy refund id")
        copy_id.setEnabled(r is not None)
        copy_id.triggered.connect(lambda: r and self._copy(r.id))
        copy_payment = menu.addAction("Copy payment id")
        copy_payment.setEnabled(r is not None)
        copy_payment.triggered.connect(lambda: r and self._copy(r.payment_id))
        return menu

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.message.emit(f"Copied {text}")


def _read_setup(session: Session, actor: str) -> _Setup:
    role = roles.role_of(session, actor)
    refusal = None
    try:
        roles.require(session, actor, "view")
    except PaydeskError as exc:
        refusal = exc.message
    return _Setup(
        role=role,
        refusal=refusal,
        merchants=payments.merchant_names(session),
        # Shared mode: logins in the groups, and the staff-list names an owner login acts for.
        staff=sorted(
            {m.username for m in roles.list_members(session)}
            | {m.username for m in roles.list_staff(session)}
        ),
    )


def _read_many(db: Any, ids: list[str]) -> list[RefundView]:
    with db.read() as session:
        return rf.get_many(session, ids)
