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

The filter bar (``filter_bar``), the table (``table``), Export CSV… (``export_action``) and
what an empty database offers (``demo_offer``) are modules of their own; this one runs the
reads (``core.payments.listing``) and ties the parts together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from core import errors
from core.errors import PaydeskError
from core.gateway import lookup
from core.payments import listing
from core.payments.queries import PaymentFilter, PaymentRow
from desktop.lists import layout_memory, list_page
from desktop.lists.retry_banner import RetryBanner
from desktop.payments.demo_offer import DemoOffer
from desktop.payments.detail import DetailData, PaymentDetailPane, load_detail
from desktop.payments.export_action import PaymentExport
from desktop.payments.filter_bar import PaymentFilterBar
from desktop.payments.model import READ_AHEAD, SORTABLE, PaymentsModel, format_row
from desktop.payments.table import PaymentsTable
from desktop.shell import theme
from desktop.shell.views import AppServices

log = logging.getLogger(__name__)

FIRST_PAINT_WAIT_MS = 100
DEMO_PAYMENTS = 20_000
# A query's first read is a tall window's worth of rows rather than a whole page: it runs
# while the UI thread shows or repaints the view, so each row it converts takes turns with
# that work for the GIL. The pages after it are read once it is on screen, so they neither
# delay the first rows nor compete with their first paint; a scroll to the end of these rows
# shows the next page.
FIRST_ROWS = 60
NO_MATCH_TEXT = "Try another search, or clear the filters."
# Rows of a first read formatted in the pool: what a window of ordinary height shows.
_FORMATTED_IN_POOL = 30


@dataclass
class _FirstPage:
    filter: PaymentFilter
    rows: list[PaymentRow]
    names: dict[str, str] | None
    texts: list[tuple[str, ...]]  # the rows' display strings, made in the pool


def can_refund(row: PaymentRow | None) -> bool:
    """Only a successful, captured payment with something left to refund offers Refund…."""
    return (
        row is not None
        and row.status == "success"
        and row.captured
        and row.refunded_amount + row.pending_refund_amount < row.amount
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
        self.is_loaded = False  # a first page has been shown
        self._shown = 0  # counts first pages shown: which query the rows on hand belong to
        self._detail_id: str | None = None
        # Change notices that arrived while hidden: (payment ids, refund ids, everything).
        self._deferred: tuple[set[str], set[str], bool] | None = None
        self.refund_dialog: Any = None  # the open Refund… dialog, if any

        self.model = PaymentsModel(self)
        self.model.set_fetcher(self._fetch_next)
        self.model.rowsLoaded.connect(self._update_counter)

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
        self.bar = bar = PaymentFilterBar(self, self.apply_filters, self.refresh)
        self.counter = bar.counter
        self.refresh_button = bar.refresh_button
        self.refund_button = bar.refund_button
        self.export_button = bar.export_button
        self.search = bar.search
        self.status_combo = bar.status_combo
        self.method_combo = bar.method_combo
        self.merchant_combo = bar.merchant_combo
        self.dates = bar.dates
        self.clear_button = bar.clear_button
        self.refund_button.clicked.connect(self.refund_selected)
        self._export = PaymentExport(
            self, bar, self.runner, self.db, lambda: self._query_filter, self._export_finished
        )
        self.export_button.clicked.connect(self._export.ask_and_start)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.pages = QStackedWidget(self.splitter)
        self.table = PaymentsTable(self.model, self.pages)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.horizontalHeader().sectionClicked.connect(self._header_clicked)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.pages.addWidget(self.table)
        # The empty, no-match and loading pages and the detail pane are built when first
        # needed. The table is laid out while the first page is read; the loading page takes
        # its place only if that read is slow (see ``_first_read_is_slow``).
        self._demo_offer: DemoOffer | None = None
        self._no_match_page: QWidget | None = None
        self._no_match_body: QLabel | None = None
        self._loading_page: QWidget | None = None
        self.splitter.addWidget(self.pages)

        self._detail_pane: PaymentDetailPane | None = None
        self.splitter.setStretchFactor(0, 1)
        bar.page_layout.addWidget(self.splitter, 1)

        list_page.add_shortcut(self, QKeySequence.StandardKey.Refresh, self.refresh)
        list_page.add_shortcut(self, QKeySequence.StandardKey.Find, lambda: self.search.setFocus())

    @property
    def demo_offer(self) -> DemoOffer:
        if self._demo_offer is None:
            self._demo_offer = DemoOffer(self.pages, self.services, DEMO_PAYMENTS, self.refresh)
            self.pages.addWidget(self._demo_offer.page)
        return self._demo_offer

    @property
    def empty_page(self) -> QWidget:
        return self.demo_offer.page

    @property
    def demo_button(self) -> QPushButton:
        return self.demo_offer.button

    @property
    def no_match_page(self) -> QWidget:
        if self._no_match_page is None:
            page, _head, body, _button = list_page.empty_page(
                self.pages, "search", "No payments match", "Clear filters", self.bar.clear_filters
            )
            body.setText(NO_MATCH_TEXT)
            self.pages.addWidget(page)
            self._no_match_page = page
            self._no_match_body = body
        return self._no_match_page

    @property
    def loading_page(self) -> QWidget:
        if self._loading_page is None:
            page = list_page.loading_page(self.pages, "payments", "Loading payments…")
            self.pages.addWidget(page)
            self._loading_page = page
        return self._loading_page

    @property
    def banner(self) -> RetryBanner:
        return self.bar.banner

    @property
    def banner_text(self) -> QLabel:
        return self.bar.banner.text

    @property
    def currency_chip(self) -> QToolButton:
        return self.bar.currency_chip

    @property
    def range_chip(self) -> QToolButton:
        return self.bar.range_chip

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

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> PaymentFilter:
        """What the filter widgets say now (not yet validated)."""
        return self.bar.current_filter(self._filter.sort, self._filter.descending)

    @Slot()
    def apply_filters(self) -> None:
        """Run the query the filters describe (the search box calls this after a pause)."""
        self.bar.debounce.stop()
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
            self.bar.show_banner(exc.message)
            return
        self._filter = f
        self.runner.invalidate("live")  # the new first page is read after any change so far
        db = self.db
        known = self._names  # replaced, never changed in place: safe to read in the pool

        def work() -> _FirstPage:
            first = listing.first_rows(db, f, FIRST_ROWS, names=known is None)
            # The rows a window shows are formatted here rather than when first painted: the UI
            # thread then only draws them.
            shown = first.names if first.names is not None else known or {}
            texts = [format_row(r, shown) for r in first.rows[:_FORMATTED_IN_POOL]]
            return _FirstPage(f, first.rows, first.names, texts)

        self.runner.submit(
            work, self._on_first_page, self._on_query_error, key="payments", owner=self
        )

    def _allow_painting(self) -> None:
        if not self.updatesEnabled():
            self.setUpdatesEnabled(True)

    def _first_read_is_slow(self) -> None:
        if not self.updatesEnabled() and not self.is_loaded:
            self.pages.setCurrentWidget(self.loading_page)
        self._allow_painting()

    def _on_first_page(self, result: _FirstPage) -> None:
        self._allow_painting()
        self.bar.hide_banner()
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
            self.table.read_ahead_after_paint()
        if result.rows:
            self.pages.setCurrentWidget(self.table)
            self.table.scrollToTop()
        elif self._is_unfiltered(result.filter):
            self.pages.setCurrentWidget(self.empty_page)
        else:
            self.pages.setCurrentWidget(self.no_match_page)
            self._say_no_match(NO_MATCH_TEXT)
            if (result.filter.search or "").startswith("pay_"):
                self._look_up_at_gateways(result.filter)
        self._close_detail()
        self.is_loaded = True
        self.loaded.emit(len(result.rows))

    def _say_no_match(self, text: str) -> None:
        if self._no_match_body is not None:
            self._no_match_body.setText(text)

    def _look_up_at_gateways(self, f: PaymentFilter) -> None:
        """An exact payment id Paydesk does not hold is asked for at the gateway connections
        this copy holds the secret of; one that a gateway has is kept and shown."""
        ctx, actor, pid = self.services.ctx, self.services.ctx.default_actor(), f.search or ""

        def found(hit: lookup.Found | None) -> None:
            # Only a payment fetched now is read again: one Paydesk held already is left out
            # by the other filters, and reading again would only ask again.
            if hit is not None and hit.added and self._query_filter == f:
                self.message.emit(f"{pid} was fetched from the gateway connection {hit.gateway}.")
                self.run_query(f)

        def failed(exc: BaseException) -> None:
            if self._query_filter == f:
                self._say_no_match(
                    f"{pid} is not in Paydesk, and a gateway could not be asked: "
                    f"{errors.sentence(exc)}"
                )

        self.runner.submit(
            lambda: lookup.look_up_payment(ctx, pid, actor=actor),
            found,
            failed,
            key="payments-lookup",
            owner=self,
        )

    def _on_query_error(self, exc: BaseException) -> None:
        self._allow_painting()
        self.model.fetch_failed()
        if self.pages.currentWidget() is self.loading_page:
            self.pages.setCurrentWidget(self.no_match_page)
        self.bar.show_banner(errors.sentence(exc))

    def _fetch_next(self, after: tuple[Any, str]) -> None:
        f = self._query_filter
        db = self.db
        # A read asked for while a new query is on its way joins that query's generation, yet
        # continues the rows it replaces: it is kept only if those rows are still shown.
        shown = self._shown

        def work() -> list[PaymentRow]:
            return listing.rows_after(db, f, after, READ_AHEAD)

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
        self.bar.set_merchants(names)

    # -- links from other views ---------------------------------------------------------------
    def apply_link(self, link: object) -> None:
        """Narrow to ``link`` (a ``PaymentFilter``): set the filter bar to match and run exactly
        that filter. A currency, or a time range that is not whole local days, has no widget
        and shows as a removable chip instead."""
        if not isinstance(link, PaymentFilter):
            return
        self.bar.show_link(link)
        sort_column = next(c for c, k in SORTABLE.items() if k == link.sort)
        self.table.horizontalHeader().setSortIndicator(
            sort_column,
            Qt.SortOrder.DescendingOrder if link.descending else Qt.SortOrder.AscendingOrder,
        )
        self.run_query(link)

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
        self.counter.setText(list_page.counter_text(count, self.model.has_more))

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
            width = layout_memory.pane_width(self.splitter, 340)
            self.splitter.setSizes([total - width, width])
        self.detail.show_loading(row.id)
        self._load_detail(row.id)

    def _load_detail(self, payment_id: str) -> None:
        self._detail_id = payment_id
        db = self.db
        self.runner.submit(
            lambda: load_detail(db, payment_id),
            self._on_detail,
            lambda exc: self.detail.show_error(errors.sentence(exc)),
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
        from desktop.refunds.dialog import open_refund_dialog  # built only when asked for

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
            found = listing.changed_rows(
                db, payment_ids, refund_ids, on_hand, everything=everything
            )
            # "Everything" concerns the payment in the detail pane too, shown or not.
            also = {detail_id} if everything and detail_id else set()
            return _LiveRead(found.payment_ids | also, found.rows, everything)

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
        log.info("Refreshing changed payments failed: %s", errors.sentence(exc))

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
        copy_order.triggered.connect(lambda: self._copy_order_id(row))
        menu.addSeparator()
        export = menu.addAction(theme.icon("export"), "Export CSV…")
        export.setEnabled(not self._export.running)
        export.triggered.connect(self._export.ask_and_start)
        return menu

    def copy_selected_id(self) -> None:
        row = self.selected_row()
        if row is not None:
            QGuiApplication.clipboard().setText(row.id)
            self.message.emit(f"Copied {row.id}")

    @staticmethod
    def _copy_order_id(row: PaymentRow | None) -> None:
        if row is not None:
            QGuiApplication.clipboard().setText(row.order_id)

    # -- export ------------------------------------------------------------------------------
    def start_export(self, path: Path) -> None:
        """Write the payments the filters select to ``path`` in the pool, with progress."""
        self._export.start(path)

    @property
    def export_cancel_button(self) -> QPushButton:
        return self._export.row.cancel_button

    @property
    def exporting(self) -> bool:
        return self._export.running

    def _export_finished(self, sentence: str) -> None:
        self.message.emit(sentence)
        self.exportFinished.emit(sentence)
