"""The Webhooks view: every delivery with its status at a glance, filters and search, a
keyset-paged table, the detail pane (payload, attempt timeline, Retry), "Retry failed…",
"Send test event" and the endpoints dialog.

Every read and every action goes through the TaskRunner. Queries run under the key
``"webhooks"``: a filter change starts a new generation, so a page (or a live update) that
arrives for an older filter is dropped. What this person may do is read once with the first
page (``roles.may``); the buttons their role does not allow are not offered, and the Retry
button of a log that cannot be retried shows the service's reason.

Change notices (``AppServices.changes``, table ``webhook_logs``) keep the table current while
the dispatcher records attempts: the named rows on screen are re-read (``rows_by_id``) and
replaced in place, and the first page is re-read and merged only when the filter may have
gained rows. Bursts are coalesced: while one live read runs, further notices are gathered and
applied together after it. Selection and scroll stay put.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics, QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QWidget,
)
from sqlalchemy.orm import Session

from core import payments, roles, webhooks
from core.dashboard import EndpointLink, WebhookLink
from core.errors import PaydeskError
from core.webhooks import PAGE_SIZE, WebhookDetail, WebhookFilter, WebhookRow
from desktop import list_page, theme
from desktop.bulk_retry_dialog import BulkRetryDialog
from desktop.endpoints_dialog import EndpointsDialog, TestResult, send_test
from desktop.link_chips import LinkChips, span_text
from desktop.payments_view import person_message
from desktop.status_badge import StatusBadgeDelegate
from desktop.views import AppServices
from desktop.webhook_detail import WebhookDetailPane, load_webhook_detail
from desktop.webhooks_model import (
    COLUMN,
    STATUS_NAMES,
    STATUS_ROLE,
    TIME_RANGES,
    WebhooksModel,
    range_start,
)

SEARCH_DEBOUNCE_MS = 150
# "in 4 min" moves on without a notice; a quarter of a minute keeps it honest.
RELATIVE_TICK_MS = 15_000
# rows_by_id reads at most this many ids per statement (an IN list stays small).
_ID_CHUNK = 500
_COLUMN_SAMPLES = {
    "created": "17 Jan 05:45",
    "id": "msg_0000000000000000",
    "merchant": "Meridian Books Ltd",
    "event": "payment.captured",
    "status": "Delivered",
    "attempts": "Attempts",
    "next_retry": "in 23 h 59 min",
}


@dataclass
class _Setup:
    """What the view needs once: what this person may do and names for the filter lists."""

    may_retry: bool
    may_test: bool
    may_manage: bool
    refusal: str | None  # why this person cannot use Paydesk at all
    merchants: dict[str, str]
    events: list[str]
    # (merchant id, name) of the endpoints a test event can go to
    testable: list[tuple[str, str]]


@dataclass
class _FirstPage:
    filter: WebhookFilter
    rows: list[WebhookRow]
    setup: _Setup | None


@dataclass
class _LiveUpdate:
    changed: list[WebhookRow]
    first_page: list[WebhookRow] | None


@dataclass
class _Changes:
    ids: set[str]
    statuses: set[str]
    everything: bool

    def merge(self, ids: Iterable[str], statuses: Iterable[str], everything: bool) -> None:
        self.ids |= set(ids)
        self.statuses |= set(statuses)
        self.everything = self.everything or everything


class WebhooksView(QWidget):
    """Watch and fix webhook deliveries. Emits ``loaded`` when a query's first page is on
    screen, ``actionFinished`` with the sentence an action ended with, ``liveUpdated`` after
    change notices were applied."""

    loaded = Signal(int)
    detailShown = Signal(str)
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
        self.setup: _Setup | None = None
        self.is_loaded = False
        self._filter = WebhookFilter()
        self._query_filter = WebhookFilter()
        self._detail: WebhookDetail | None = None
        # Reads are numbered as they start, so a slow one cannot undo a newer one's rows.
        self._reads = itertools.count(1)
        self._live_running = False
        self._live_pending: _Changes | None = None
        # Change notices that arrived while the view was hidden, applied when it is shown.
        self._deferred: _Changes | None = None
        self.bulk_dialog: BulkRetryDialog | None = None
        self.endpoints_dialog: EndpointsDialog | None = None
        # What a WebhookLink narrowed to that the combos cannot say (shown as chips).
        self._link_failing = False
        self._link_attempts: tuple[datetime | None, datetime | None, str | None] | None = None

        self.model = WebhooksModel(self.ctx.clock.now, self)
        self.model.set_fetcher(self._fetch_next)
        self.model.rowsLoaded.connect(self._update_counter)

        self._debounce = list_page.debounce_timer(self, SEARCH_DEBOUNCE_MS, self.apply_filters)
        self._ticker = QTimer(self)
        self._ticker.setInterval(RELATIVE_TICK_MS)
        self._ticker.timeout.connect(self.model.tick)
        self._ticker.start()

        self._build()
        changes = services.changes
        if changes is not None:
            changes.changed.connect(self._on_changed)
        self._first_load()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root, bar_lay, title_row, self.counter = list_page.filter_bar(self, "Webhooks")
        self.test_button = QPushButton(theme.icon("delivery"), "Send test event", self)
        self.test_menu = QMenu(self.test_button)
        self.test_menu.aboutToShow.connect(self._fill_test_menu)
        self.test_button.setMenu(self.test_menu)
        self.test_button.setToolTip("Send a test.ping to a merchant's endpoint")
        self.endpoints_button = QPushButton(theme.icon("endpoint"), "Endpoints…", self)
        self.endpoints_button.clicked.connect(self.open_endpoints)
        self.bulk_button = QPushButton(theme.icon("refresh", "#ffffff"), "Retry failed…", self)
        self.bulk_button.setObjectName("Primary")
        self.bulk_button.setToolTip("Retry every failed delivery a filter selects")
        self.bulk_button.clicked.connect(self.open_bulk_retry)
        for w in (self.test_button, self.endpoints_button, self.bulk_button):
            title_row.addWidget(w)
        title_row.addSpacing(4)
        self.refresh_button = list_page.refresh_button(self, self.refresh)
        title_row.addWidget(self.refresh_button)

        filters = QHBoxLayout()
        filters.setSpacing(8)
        self.search = list_page.search_box(
            self,
            "Log id (msg_…) or payment / refund id",
            240,
            self._debounce,
            self.apply_filters,
        )
        filters.addWidget(self.search, 3)

        self.status_combo = QComboBox(self)
        self.status_combo.addItem("All statuses", None)
        for key in webhooks.STATUSES:
            self.status_combo.addItem(STATUS_NAMES[key], key)
        self.merchant_combo = QComboBox(self)
        self.merchant_combo.addItem("All merchants", None)
        self.event_combo = QComboBox(self)
        self.event_combo.addItem("All events", None)
        self.range_combo = QComboBox(self)
        for i, (label, _span) in enumerate(TIME_RANGES):
            self.range_combo.addItem(label, i)
        self.range_combo.setToolTip("Created")
        list_page.fit_combos(self.merchant_combo, self.event_combo)
        for combo in (self.status_combo, self.merchant_combo, self.event_combo, self.range_combo):
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
        # What an action came to when it went well (a test event's answer, a retry).
        self.notice, self.notice_text = list_page.message_bar(self, "Notice")
        bar_lay.addWidget(self.notice)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.pages = QStackedWidget(self.splitter)
        self.table = self._build_table()
        self.pages.addWidget(self.table)
        self.empty_page, self.empty_title, self.empty_text, self.show_all_button = (
            list_page.empty_page(
                self, "webhooks", "No deliveries", "Show all deliveries", self.clear_filters
            )
        )
        self.pages.addWidget(self.empty_page)
        self.loading_page = list_page.loading_page(self, "webhooks", "Loading deliveries…")
        self.pages.addWidget(self.loading_page)
        self.pages.setCurrentWidget(self.loading_page)
        self.splitter.addWidget(self.pages)

        self.detail = WebhookDetailPane(self.splitter)
        self.detail.closed.connect(self._close_detail)
        self.detail.retryRequested.connect(self.retry)
        self.detail.message.connect(self.message)
        self.detail.hide()
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        root.addWidget(self.splitter, 1)

        list_page.add_shortcut(self, QKeySequence.StandardKey.Refresh, self.refresh)
        list_page.add_shortcut(self, QKeySequence.StandardKey.Find, lambda: self.search.setFocus())
        self._restyle_notice(True)

    def _build_table(self) -> QTableView:
        table = list_page.list_table(
            self, self.model, QAbstractItemView.SelectionMode.SingleSelection
        )
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        hh = table.horizontalHeader()
        hh.setSectionsMovable(True)
        hh.setSortIndicatorShown(True)
        # The keyset orders by creation, newest first; other columns do not reorder.
        hh.setSortIndicator(COLUMN["created"], Qt.SortOrder.DescendingOrder)
        hh.setSectionsClickable(False)
        hh.setStretchLastSection(True)
        fm = table.fontMetrics()
        header_fm = hh.fontMetrics()
        mono = QFontMetrics(self.model.id_font)
        for key, sample in _COLUMN_SAMPLES.items():
            metrics = mono if key == "id" else fm
            title = self.model.headerData(COLUMN[key], Qt.Orientation.Horizontal)
            # Cells have 8 px padding a side plus the style's margins; headers a sort arrow.
            width = max(
                metrics.horizontalAdvance(sample) + 32, header_fm.horizontalAdvance(title) + 40
            )
            extra = 18 if key == "status" else 0  # the badge's own padding
            table.setColumnWidth(COLUMN[key], width + extra)
        table.setItemDelegateForColumn(COLUMN["status"], StatusBadgeDelegate(STATUS_ROLE, table))
        table.selectionModel().currentRowChanged.connect(self._current_changed)
        return table

    def _restyle_notice(self, ok: bool | None) -> None:
        status = {True: "success", False: "failed", None: "pending"}[ok]
        fg, bg = theme.status_colours(status)
        self.notice.setStyleSheet(
            f"QFrame#Notice {{ background: {bg.name()}; border-radius: 6px; }}"
            f"QFrame#Notice QLabel {{ color: {fg.name()}; }}"
        )

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> WebhookFilter:
        """What the filter widgets (and a link's chips) say now (the time range counted back
        from now)."""
        attempted_from, attempted_to, outcome = self._link_attempts or (None, None, None)
        return WebhookFilter(
            status=self.status_combo.currentData(),
            merchant_id=self.merchant_combo.currentData(),
            event=self.event_combo.currentData(),
            created_from=range_start(self.range_combo.currentIndex(), self.ctx.clock.now()),
            search=self.search.text(),
            failing=self._link_failing,
            attempted_from=attempted_from,
            attempted_to=attempted_to,
            attempt_outcome=outcome,
        )

    def _first_load(self) -> None:
        self.run_query(WebhookFilter(), setup=True)

    def apply_filters(self) -> None:
        """Run the query the filters describe (the search box calls this after a pause)."""
        self._debounce.stop()
        self.run_query(self.current_filter())

    def refresh(self) -> None:
        self.run_query(self.current_filter(), setup=True)

    def apply_link(self, link: object) -> None:
        """Narrow the view from elsewhere: a dashboard ``WebhookLink`` (what the combos cannot
        say shows as removable chips), an ``EndpointLink`` (opens the endpoints dialog), a
        ``WebhookFilter``, or a payment/refund/log id."""
        if isinstance(link, EndpointLink):
            self._open_endpoint_link(link)
            return
        if isinstance(link, WebhookLink):
            f = webhooks.filter_for_link(link)
        elif isinstance(link, WebhookFilter):
            f = link
        else:
            f = WebhookFilter(search=str(link))
        widgets = (self.search, self.status_combo, self.merchant_combo, self.event_combo,
                   self.range_combo)  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        self._debounce.stop()
        self.search.setText(f.search or "")
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(f.status)))
        if f.merchant_id and self.merchant_combo.findData(f.merchant_id) < 0:
            # Names not read yet: keep the id so the query and the combo agree.
            self.merchant_combo.addItem(f.merchant_id, f.merchant_id)
        self.merchant_combo.setCurrentIndex(max(0, self.merchant_combo.findData(f.merchant_id)))
        self.event_combo.setCurrentIndex(max(0, self.event_combo.findData(f.event)))
        self.range_combo.setCurrentIndex(0)
        for w in widgets:
            w.blockSignals(False)
        attempts = (f.attempted_from, f.attempted_to, f.attempt_outcome)
        self._set_link_extras(f.failing, attempts if f.narrows_attempts else None)
        # A link may arrive before the first answer: ask for the setup it would have brought.
        self.run_query(f, setup=self.setup is None)

    def _set_link_extras(
        self,
        failing: bool,
        attempts: tuple[datetime | None, datetime | None, str | None] | None,
    ) -> None:
        self._link_failing = failing
        self._link_attempts = attempts
        self.link_chips.set_chip(
            "failing",
            "Failing now" if failing else None,
            "Failed deliveries and pending ones whose latest attempt failed; remove to show all",
        )
        text = None
        if attempts is not None:
            start, end, outcome = attempts
            word = {"success": "Delivered", "failure": "Attempt failed"}.get(outcome or "")
            when = span_text(start, end) if start or end else "at any time"
            text = f"{word or 'Attempted'} {when}"
        self.link_chips.set_chip("attempts", text, "Remove to show deliveries attempted any time")

    def _link_chip_removed(self, key: str) -> None:
        if key == "failing":
            self._set_link_extras(False, self._link_attempts)
        else:
            self._set_link_extras(self._link_failing, None)
        self.apply_filters()

    def _open_endpoint_link(self, link: EndpointLink) -> None:
        """Open the endpoints dialog on the link's merchant, or (``problems``) on the first
        endpoint that is disabled or failing, in the dashboard's order."""
        if self.setup is None:
            # The first answer brings what the dialog may offer this person; open after it.
            def when_loaded(_rows: int) -> None:
                self.loaded.disconnect(when_loaded)
                self._open_endpoint_link(link)

            self.loaded.connect(when_loaded)
            return
        if link.merchant_id or not link.problems:
            self.open_endpoints(link.merchant_id)
            return
        db = self.db

        def work() -> str | None:
            with db.read() as session:
                problems = [
                    e
                    for e in webhooks.endpoints(session)
                    if e.webhook_url
                    and (not e.webhook_enabled or e.failing_since or e.consecutive_failures)
                ]
            problems.sort(key=lambda e: (e.webhook_enabled, e.name, e.merchant_id))
            return problems[0].merchant_id if problems else None

        self.runner.submit(
            work, self.open_endpoints, lambda exc: self._show_banner(person_message(exc))
        )

    def run_query(self, f: WebhookFilter, *, setup: bool = False) -> None:
        """Replace the table with the first page of ``f``; older results are dropped."""
        try:
            f = f.validated()
        except PaydeskError as exc:
            self.runner.invalidate("webhooks")
            self._show_banner(exc.message)
            return
        self._filter = f
        # A live read in flight belongs to the old generation and will be dropped.
        self._live_running = False
        self._live_pending = None
        db, actor = self.db, self.actor

        def work() -> _FirstPage:
            with db.read() as session:
                rows = webhooks.page(session, f, limit=PAGE_SIZE)
                info = _read_setup(session, actor) if setup else None
            return _FirstPage(f, rows, info)

        self.runner.submit(work, self._on_first_page, self._on_query_error, key="webhooks")

    def _on_first_page(self, result: _FirstPage) -> None:
        self.banner.hide()
        if result.setup is not None:
            self._apply_setup(result.setup)
        elif self.setup is not None and self.setup.refusal:
            self._show_banner(self.setup.refusal)  # still true: it stays in sight
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

    def _show_empty(self, f: WebhookFilter) -> None:
        unfiltered = f == WebhookFilter()
        if unfiltered:
            self.empty_title.setText("No webhook deliveries yet")
            self.empty_text.setText(
                "Deliveries appear here as payments and refunds send events to merchants."
            )
        elif f.status == "failed" and f == WebhookFilter(status="failed"):
            self.empty_title.setText("Nothing has failed")
            self.empty_text.setText("Every delivery so far reached its endpoint or is on its way.")
        else:
            self.empty_title.setText("No deliveries match")
            self.empty_text.setText("Try another search, or clear the filters.")
        self.show_all_button.setVisible(not unfiltered)
        self.pages.setCurrentWidget(self.empty_page)

    def _apply_setup(self, setup: _Setup) -> None:
        self.setup = setup
        # The UI offers only what the role allows; the services refuse the rest anyway.
        self.bulk_button.setVisible(setup.may_retry)
        self.test_button.setVisible(setup.may_test)
        self.detail.set_may_retry(setup.may_retry)
        combos = (self.merchant_combo, self.event_combo)
        for c in combos:
            c.blockSignals(True)
        list_page.refill_combo(
            self.merchant_combo,
            "All merchants",
            sorted(setup.merchants.items(), key=lambda kv: kv[1].lower()),
        )
        list_page.refill_combo(self.event_combo, "All events", [(e, e) for e in setup.events])
        for c in combos:
            c.blockSignals(False)
        self.model.set_merchant_names(setup.merchants)
        if setup.refusal:
            self._show_banner(setup.refusal)

    def _on_query_error(self, exc: BaseException) -> None:
        self.model.fetch_failed()
        if self.pages.currentWidget() is self.loading_page:
            self._show_empty(self._filter)
        self._show_banner(person_message(exc))

    def _fetch_next(self, after: tuple[datetime, str]) -> None:
        f = self._query_filter
        db = self.db

        def work() -> list[WebhookRow]:
            with db.read() as session:
                return webhooks.page(session, f, after=after, limit=PAGE_SIZE)

        self.runner.submit(
            work,
            lambda rows: self.model.append(rows, more=len(rows) == PAGE_SIZE),
            self._on_query_error,
            key="webhooks",
            supersede=False,
        )

    def clear_filters(self) -> None:
        widgets = (self.search, self.status_combo, self.merchant_combo, self.event_combo,
                   self.range_combo)  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        self.search.clear()
        for combo in widgets[1:]:
            combo.setCurrentIndex(0)
        for w in widgets:
            w.blockSignals(False)
        self._set_link_extras(False, None)
        self.apply_filters()

    def _update_counter(self, count: int) -> None:
        self.counter.setText(list_page.counter_text(count, self.model.has_more))

    def _show_banner(self, text: str) -> None:
        self.notice.hide()
        self.banner_text.setText(text)
        self.banner.show()

    def _show_notice(self, text: str, ok: bool | None = True) -> None:
        self.banner.hide()
        self._restyle_notice(ok)
        self.notice_text.setText(text)
        self.notice.show()

    # -- live updates --------------------------------------------------------------------------
    def _on_changed(self, table: str, ids: Any, statuses: Any) -> None:
        if table == "merchants":
            # An endpoint was enabled or disabled: the Retry reason may have changed.
            d = self._detail
            if d is not None and (not ids or d.row.merchant_id in ids):
                self._load_detail(d.row.id)
            return
        if table != "webhook_logs":
            return
        if not self.isVisible():
            # Catch up when shown (a hidden view costs nothing while the dispatcher works).
            if self._deferred is None:
                self._deferred = _Changes(set(), set(), False)
            self._deferred.merge(ids, statuses, not ids)
            return
        self._queue_live(set(ids), set(statuses), everything=not ids)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._deferred is not None:
            pending, self._deferred = self._deferred, None
            self._queue_live(pending.ids, pending.statuses, everything=pending.everything)

    def _queue_live(self, ids: set[str], statuses: set[str], *, everything: bool) -> None:
        if not self.is_loaded:
            return
        if self._live_pending is None:
            self._live_pending = _Changes(set(), set(), False)
        self._live_pending.merge(ids, statuses, everything)
        if not self._live_running:
            self._run_live()

    def _may_gain(self, changes: _Changes) -> bool:
        """Could the first page of the filter on screen now hold rows it did not?"""
        if changes.everything:
            return True
        if not changes.ids - self.model.ids():
            return False
        status = self._query_filter.status
        return not (status and changes.statuses and status not in changes.statuses)

    def _run_live(self) -> None:
        changes, self._live_pending = self._live_pending, None
        if changes is None:
            return
        on_screen = self.model.ids() if changes.everything else changes.ids & self.model.ids()
        gain = self._may_gain(changes)
        if not on_screen and not gain:
            return
        f, db = self._query_filter, self.db
        read = next(self._reads)
        wanted = sorted(on_screen)

        def work() -> _LiveUpdate:
            with db.read() as session:
                changed = _rows_by_id(session, wanted)
                first = webhooks.page(session, f, limit=PAGE_SIZE) if gain else None
            return _LiveUpdate(changed, first)

        def done(update: _LiveUpdate) -> None:
            self._live_running = False
            self._on_live_update(update, read)
            if self._live_pending is not None:
                self._run_live()

        def failed(_exc: BaseException) -> None:
            # A hint was lost; the rows stay the truth and the next notice tries again.
            self._live_running = False

        self._live_running = True
        # Joins the query's generation: a filter change meanwhile drops this update.
        self.runner.submit(work, done, failed, key="webhooks", supersede=False)

    def _on_live_update(self, update: _LiveUpdate, read: int) -> None:
        changed_rows = self.model.update_rows(update.changed, read)
        if update.first_page:
            list_page.merge_first_page(self.table, self.pages, self.model, update.first_page)
        current = self.selected_log()
        if current is not None and self.model.row_of(current.id) in changed_rows:
            self._load_detail(current.id)
        self.liveUpdated.emit()

    # -- selection and detail --------------------------------------------------------------------
    def selected_log(self) -> WebhookRow | None:
        index = self.table.currentIndex()
        if index.isValid() and self.table.selectionModel().isRowSelected(index.row()):
            return self.model.row_at(index.row())
        return None

    def select_log(self, log_id: str) -> bool:
        """Select the row of ``log_id``; False when it is not shown."""
        row = self.model.row_of(log_id)
        if row is None:
            return False
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.table.scrollTo(index)
        return True

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row_at(current.row()) if current.isValid() else None
        if row is None:
            return
        if self.detail.isHidden():
            self.detail.show()
            total = max(1000, self.splitter.width())
            self.splitter.setSizes([total - 460, 460])
        self._load_detail(row.id)

    def _load_detail(self, log_id: str) -> None:
        if self._detail is None or self._detail.row.id != log_id:
            self._detail = None
            self.detail.show_loading(log_id)
        db, clock = self.db, self.ctx.clock
        read = next(self._reads)

        def work() -> tuple[WebhookDetail, datetime]:
            now = clock.now()
            return load_webhook_detail(db, log_id, now), now

        self.runner.submit(
            work,
            lambda result: self._on_detail(result, read),
            lambda exc: self.detail.show_error(person_message(exc)),
            key="webhook-detail",
        )

    def _on_detail(self, result: tuple[WebhookDetail, datetime], read: int) -> None:
        d, now = result
        self._detail = d
        self.model.update_rows([d.row], read)
        self.detail.show_detail(d, now)
        self.detailShown.emit(d.row.id)

    def _close_detail(self) -> None:
        self.runner.invalidate("webhook-detail")
        self._detail = None
        self.detail.hide()
        self.table.selectionModel().clearSelection()

    # -- actions -------------------------------------------------------------------------------
    def retry_selected(self) -> None:
        row = self.selected_log()
        if row is not None and self.detail.retry_button.isEnabled():
            self.retry(row.id)

    def retry(self, log_id: str) -> None:
        """Start a new round for one log (the detail pane's Retry)."""
        ctx, actor, db = self.ctx, self.actor, self.db
        self.detail.set_busy(True)
        read_box: dict[str, int] = {}

        def work() -> list[WebhookRow]:
            webhooks.retry(ctx, actor, [log_id])
            with db.read() as session:
                return _rows_by_id(session, [log_id])

        def done(rows: list[WebhookRow]) -> None:
            self.detail.set_busy(False)
            self.model.update_rows(rows, read_box["read"])
            sentence = f"{log_id} is due now; it is being sent again."
            self._show_notice(sentence, None)
            self.message.emit(sentence)
            self._refresh_detail(log_id)
            self.actionFinished.emit(sentence)

        def failed(exc: BaseException) -> None:
            self.detail.set_busy(False)
            sentence = person_message(exc)
            self._show_banner(sentence)
            self._refresh_detail(log_id)
            self.actionFinished.emit(sentence)

        # Numbered before the retry writes: any read started after it is newer.
        read_box["read"] = next(self._reads)
        self.runner.submit(work, done, failed)

    def _refresh_detail(self, log_id: str) -> None:
        current = self.selected_log()
        if current is not None and current.id == log_id:
            self._load_detail(log_id)

    def open_bulk_retry(self) -> None:
        setup = self.setup
        if setup is None or not setup.may_retry:
            return
        f = self._filter
        initial = replace(f, status=f.status if f.status in webhooks.RETRYABLE else "failed")
        dialog = BulkRetryDialog(
            self.ctx,
            self.runner,
            self.actor,
            setup.merchants,
            setup.events,
            initial,
            self.range_combo.currentIndex(),
            self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.retried.connect(self._bulk_done)
        dialog.finished.connect(lambda _r: setattr(self, "bulk_dialog", None))
        self.bulk_dialog = dialog
        dialog.open()

    def _bulk_done(self, n: int) -> None:
        sentence = f"Retried {n:,} {'delivery' if n == 1 else 'deliveries'}."
        self.message.emit(sentence)
        self.actionFinished.emit(sentence)

    def open_endpoints(self, merchant_id: str | None = None) -> None:
        setup = self.setup
        if setup is None:
            return
        if merchant_id is None:
            current = self.selected_log()
            merchant_id = current.merchant_id if current else self.merchant_combo.currentData()
        dialog = EndpointsDialog(
            self.ctx,
            self.runner,
            self.actor,
            may_manage=setup.may_manage,
            may_test=setup.may_test,
            merchant_id=merchant_id,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.changed.connect(self.message)
        dialog.finished.connect(lambda _r: self._endpoints_closed())
        self.endpoints_dialog = dialog
        dialog.open()

    def _endpoints_closed(self) -> None:
        self.endpoints_dialog = None
        # Names, endpoints that can take a test event, Retry reasons may have changed.
        self.run_query(self._filter, setup=True)

    def _fill_test_menu(self) -> None:
        self.test_menu.clear()
        testable = self.setup.testable if self.setup else []
        if not testable:
            none = self.test_menu.addAction("No merchant has an enabled endpoint")
            none.setEnabled(False)
            return
        for mid, name in testable:
            act = self.test_menu.addAction(f"{name} ({mid})")
            act.triggered.connect(lambda _c=False, m=mid: self.send_test_event(m))

    def send_test_event(self, merchant_id: str) -> None:
        """Send a test.ping to the merchant's endpoint and show what came of it."""
        ctx, actor = self.ctx, self.actor
        name = self.model.merchant_name(merchant_id)
        self._show_notice(f"Sending a test event to {name}…", None)

        def done(result: TestResult) -> None:
            self._show_notice(result.sentence, result.ok)
            self.message.emit(result.sentence)
            self.actionFinished.emit(result.sentence)

        def failed(exc: BaseException) -> None:
            sentence = person_message(exc)
            self._show_banner(sentence)
            self.actionFinished.emit(sentence)

        self.runner.submit(lambda: send_test(ctx, actor, merchant_id), done, failed)

    # -- context menu and clipboard --------------------------------------------------------------
    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if index.isValid():
            self.table.setCurrentIndex(index)
        self.build_context_menu().exec(self.table.viewport().mapToGlobal(pos))

    def build_context_menu(self) -> QMenu:
        menu = QMenu(self)
        row = self.selected_log()
        if not self.detail.retry_button.isHidden():
            retry = menu.addAction(theme.icon("refresh"), "Retry now")
            retry.setEnabled(row is not None and self.detail.retry_button.isEnabled())
            retry.setToolTip(self.detail.retry_button.toolTip())
            retry.triggered.connect(self.retry_selected)
            menu.addSeparator()
        copy_id = menu.addAction(theme.icon("copy"), "Copy log id")
        copy_id.setEnabled(row is not None)
        copy_id.triggered.connect(lambda: row and self._copy(row.id))
        copy_entity = menu.addAction("Copy payment / refund id")
        copy_entity.setEnabled(row is not None and bool(row.entity_id))
        copy_entity.triggered.connect(lambda: row and row.entity_id and self._copy(row.entity_id))
        copy_payload = menu.addAction("Copy payload")
        copy_payload.setEnabled(self._detail is not None and row is not None)
        copy_payload.triggered.connect(self.detail.copy_payload)
        menu.addSeparator()
        endpoint = menu.addAction(theme.icon("endpoint"), "Merchant's endpoint…")
        endpoint.setEnabled(row is not None)
        endpoint.triggered.connect(lambda: row and self.open_endpoints(row.merchant_id))
        return menu

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.message.emit(f"Copied {text}")


def _rows_by_id(session: Session, ids: list[str]) -> list[WebhookRow]:
    found: list[WebhookRow] = []
    for start in range(0, len(ids), _ID_CHUNK):
        found.extend(webhooks.rows_by_id(session, ids[start : start + _ID_CHUNK]).values())
    return found


def _read_setup(session: Session, actor: str) -> _Setup:
    refusal = None
    try:
        roles.require(session, actor, "view")
    except PaydeskError as exc:
        refusal = exc.message
    names = payments.merchant_names(session)
    testable = [
        (e.merchant_id, e.name)
        for e in webhooks.endpoints(session)
        if e.webhook_url and e.webhook_enabled
    ]
    return _Setup(
        may_retry=roles.may(session, actor, "webhook.retry"),
        may_test=roles.may(session, actor, "webhook.test"),
        may_manage=roles.may(session, actor, "endpoint.manage"),
        refusal=refusal,
        merchants=names,
        events=webhooks.events(session),
        testable=testable,
    )
