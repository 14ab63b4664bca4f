"""The Webhooks view: every delivery with its status at a glance, filters and search, a
keyset-paged table, the detail pane (payload, attempt timeline, Retry), "Retry failed…",
"Send test event" and the endpoints dialog.

The page is the one list page (``desktop.lists.list_page.ListPage``) under the runner key
``"webhooks"``; its reads are ``core.webhooks.listing``'s. What this person may do is read
with the first page (``roles.may``); the buttons their role does not allow are not offered,
and the Retry button of a log that cannot be retried shows the service's reason.

Change notices (table ``webhook_logs``) keep the table current while the dispatcher records
attempts; a notice about a merchant re-reads the detail (its endpoint may have been enabled or
disabled, which changes the Retry reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QHeaderView, QMenu, QPushButton, QWidget

from core import errors
from core.overview.links import EndpointLink, WebhookLink
from core.webhooks import deliveries as webhooks
from core.webhooks import listing
from core.webhooks.deliveries import PAGE_SIZE, WebhookDetail, WebhookFilter, WebhookRow
from core.webhooks.listing import LogsChanges, LogsPage, LogsSetup
from desktop.lists import layout_memory, list_page
from desktop.lists.filter_row import FilterRow
from desktop.lists.link_chips import LinkChips, span_text
from desktop.lists.list_page import ListPage, quiet
from desktop.lists.status_badge import StatusBadgeDelegate
from desktop.shell import theme
from desktop.shell.views import AppServices
from desktop.webhooks.bulk_retry_dialog import BulkRetryDialog
from desktop.webhooks.detail import WebhookDetailPane, load_webhook_detail
from desktop.webhooks.endpoints_dialog import EndpointsDialog, TestResult, send_test
from desktop.webhooks.model import (
    COLUMN,
    STATUS_NAMES,
    STATUS_ROLE,
    TIME_RANGES,
    WebhooksModel,
    range_start,
)

# "in 4 min" moves on without a notice; a quarter of a minute keeps it honest.
RELATIVE_TICK_MS = 15_000
_COLUMN_SAMPLES = {
    "created": "17 Jan 05:45",
    "id": "msg_0000000000000000",
    "merchant": "Meridian Books Ltd",
    "event": "payment.captured",
    "status": "Delivered",
    "attempts": "Attempts",
    "next_retry": "in 23 h 59 min",
}

# When the table is narrower than its columns, these keep their width (what a person reads
# a delivery by); the others give way in this order: first elided to no less than their least
# width, then hidden.
KEY_COLUMNS = ("created", "id", "status")
GIVE_WAY = ("attempts", "response", "next_retry", "event", "merchant")
LEAST_WIDTH = 72

# Retry the delivery in the detail pane; on one that cannot be retried, the key says why.
RETRY_KEYS = QKeySequence("Ctrl+Return")

# A log's detail and the time it was read at (its "in 4 min" counts from then).
ShownLog = tuple[WebhookDetail, datetime]


class WebhooksView(ListPage[WebhookRow, WebhookFilter, ShownLog]):
    """Watch and fix webhook deliveries (the signals are every list page's)."""

    KEY = "webhooks"
    DETAIL_KEY = "webhook-detail"
    TABLE = "webhook_logs"
    PAGE_SIZE = PAGE_SIZE
    # The pane's share when it opens: the table keeps room for its key columns at 1024 px.
    DETAIL_WIDTH = (0, 400)

    model: WebhooksModel
    detail: WebhookDetailPane

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(services, WebhooksModel(services.ctx.clock.now), WebhookFilter(), parent)
        self.setup: LogsSetup | None = None
        self.bulk_dialog: BulkRetryDialog | None = None
        self.endpoints_dialog: EndpointsDialog | None = None
        # What a WebhookLink narrowed to that the combos cannot say (shown as chips).
        self._link_failing = False
        self._link_attempts: tuple[datetime | None, datetime | None, str | None] | None = None

        self._ticker = QTimer(self)
        self._ticker.setInterval(RELATIVE_TICK_MS)
        self._ticker.timeout.connect(self.model.tick)
        self._ticker.start()

        self._build()
        self.start()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root, bar_lay, title_row, self.counter = list_page.filter_bar(self, "Webhooks")
        self.test_button = QPushButton(theme.icon("delivery"), "Send test event", self)
        self.test_menu = QMenu(self.test_button)
        self.test_menu.aboutToShow.connect(self._fill_test_menu)
        self.test_button.setMenu(self.test_menu)
        self.test_button.setToolTip("Send a test.ping to a merchant's endpoint")
        self.endpoints_button = QPushButton(theme.icon("endpoint"), "Endpoints…", self)
        self.endpoints_button.setToolTip("Merchants' webhook endpoints: URL, secret, health")
        self.endpoints_button.clicked.connect(self.open_endpoints)
        self.bulk_button = QPushButton(theme.icon("refresh", "#ffffff"), "Retry failed…", self)
        self.bulk_button.setObjectName("Primary")
        self.bulk_button.setToolTip("Retry every failed delivery a filter selects")
        self.bulk_button.clicked.connect(self.open_bulk_retry)
        for w in (self.test_button, self.endpoints_button, self.bulk_button):
            w.setAccessibleName(w.text().rstrip("…"))
            w.setAccessibleDescription(w.toolTip())
            title_row.addWidget(w)
        title_row.addSpacing(4)
        self.refresh_button = list_page.refresh_button(self, self.refresh)
        self.refresh_button.setAccessibleDescription("Read the deliveries again (F5)")
        title_row.addWidget(self.refresh_button)
        self.counter.setAccessibleName("Deliveries shown")

        self.search = list_page.search_box(
            self,
            "Log, payment or refund id",
            180,
            self._debounce,
            self.apply_filters,
        )

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
        list_page.fit_combos(self.merchant_combo, self.event_combo, length=10)
        filters = FilterRow()  # wraps onto a second line in a narrow window
        filters.addWidget(self.search, 3)
        for combo, name, what in (
            (self.status_combo, "Status", "Show the deliveries of one status"),
            (self.merchant_combo, "Merchant", "Show the deliveries to one merchant"),
            (self.event_combo, "Event", "Show the deliveries of one event"),
            (self.range_combo, "Created", "Show the deliveries created in the last hour, day…"),
        ):
            combo.setToolTip(what)
            combo.setAccessibleName(f"{name} filter")
            combo.setAccessibleDescription(what)
            combo.currentIndexChanged.connect(self.apply_filters)
            filters.addWidget(combo, 1)
        # What a link narrowed to that the combos cannot say, as removable chips.
        self.link_chips = LinkChips(self)
        self.link_chips.setAccessibleName("Narrowed by a link")
        self.link_chips.removed.connect(self._link_chip_removed)
        filters.addWidget(self.link_chips)
        self.clear_button = list_page.clear_button(self, self.clear_filters)
        self.clear_button.setAccessibleName("Clear the filters")
        self.clear_button.setAccessibleDescription("Show every delivery again")
        filters.addWidget(self.clear_button)
        bar_lay.addLayout(filters)

        self.build_list(
            root,
            bar_lay,
            icon="webhooks",
            empty="No deliveries",
            show_all="Show all deliveries",
            loading="Loading deliveries…",
        )
        self.show_all_button.setAccessibleDescription("Clear the filters and show every delivery")
        # What an action came to when it went well (a test event's answer, a retry), and why
        # one was refused when its key was pressed.
        self.notice, self.notice_text = list_page.message_bar(self, "Notice")
        self.notice_text.setAccessibleName("Notice")
        bar_lay.addWidget(self.notice)
        self._set_up_table()
        pane = WebhookDetailPane(self)
        pane.retryRequested.connect(self.retry)
        pane.message.connect(self.message)
        pane.retry_button.setShortcut(RETRY_KEYS)
        self.add_detail(pane)
        # The key on a Retry that is off (or not on screen) says why instead of doing nothing.
        self.retry_refused_key = QAction(self)
        self.retry_refused_key.setShortcut(RETRY_KEYS)
        self.retry_refused_key.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.retry_refused_key.triggered.connect(self.explain_retry)
        self.addAction(self.retry_refused_key)
        pane.retryStateChanged.connect(self._retry_state_changed)
        self._retry_state_changed()
        list_page.add_shortcut(self, QKeySequence.StandardKey.Find, lambda: self.search.setFocus())
        self._restyle_notice(True)

    def _set_up_table(self) -> None:
        table = self.table
        table.setAccessibleName("Deliveries")
        table.setAccessibleDescription(
            "Webhook deliveries, newest first; selecting one opens its payload and attempts, "
            "Ctrl+Return retries it"
        )
        self.enable_context_menu()
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        hh = table.horizontalHeader()
        hh.setSectionsMovable(True)
        hh.setSortIndicatorShown(True)
        # The keyset orders by creation, newest first; other columns do not reorder.
        hh.setSortIndicator(COLUMN["created"], Qt.SortOrder.DescendingOrder)
        hh.setSectionsClickable(False)
        hh.setStretchLastSection(True)
        # Cells have 8 px padding a side plus the style's margins; headers a sort arrow.
        list_page.fit_columns(table, self.model, _COLUMN_SAMPLES, COLUMN, mono=("id",),
                              cell_pad=32, header_pad=40, badge="status")  # fmt: skip
        self._natural = {key: table.columnWidth(COLUMN[key]) for key in _COLUMN_SAMPLES}
        self._natural["response"] = max(self._natural.get("response", 0), 140)
        table.setItemDelegateForColumn(COLUMN["status"], StatusBadgeDelegate(STATUS_ROLE, table))
        table.viewport().installEventFilter(self)
        hh.sectionResized.connect(self._column_dragged)

    def _column_dragged(self, section: int, old: int, new: int) -> None:
        # The person's width is the column's own from then on (``layout_memory``).
        if layout_memory.person_resized(self.table, section, old, new):
            key = next((k for k in self._natural if COLUMN[k] == section), None)
            if key is not None:
                self._natural[key] = new
                self.fit_columns_to_width()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.table.viewport():
            self.fit_columns_to_width()
        return super().eventFilter(watched, event)

    def fit_columns_to_width(self) -> None:
        """Fit the columns into the table's width: the key columns keep theirs, the others
        give way (elided, then hidden) so the table never has to be scrolled sideways."""
        with layout_memory.fitting(self.table):
            self._fit_columns_to_width()

    def _fit_columns_to_width(self) -> None:
        table = self.table
        hh = table.horizontalHeader()
        room = table.viewport().width() - sum(self._natural[k] for k in KEY_COLUMNS)
        # Those that stay longest take their room first: merchant, event, next retry, ….
        keep = list(reversed(GIVE_WAY))
        widths: dict[str, int | None] = {}
        for key in keep:
            natural = self._natural[key]
            if room >= natural:
                widths[key] = natural
                room -= natural
            elif room >= LEAST_WIDTH:
                widths[key] = room
                room = 0
            else:
                widths[key] = None
        for key in KEY_COLUMNS:
            table.setColumnHidden(COLUMN[key], False)
            table.setColumnWidth(COLUMN[key], self._natural[key])
        for key, width in widths.items():
            column = COLUMN[key]
            table.setColumnHidden(column, width is None)
            if width is not None and hh.sectionResizeMode(column) != QHeaderView.ResizeMode.Stretch:
                table.setColumnWidth(column, width)
        table.horizontalScrollBar().setValue(0)

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

    def first_load(self) -> None:
        self.run_query(WebhookFilter(), setup=True)

    def read_first(self, f: WebhookFilter, setup: bool) -> Callable[[], LogsPage]:
        db, actor = self.db, self.actor if setup else None
        return lambda: listing.first_page(db, f, setup_for=actor)

    def read_after(self, f: WebhookFilter, after: Any) -> Callable[[], list[WebhookRow]]:
        db = self.db
        return lambda: listing.page_after(db, f, after)

    def read_changes(
        self, ids: list[str], f: WebhookFilter, first_page: bool
    ) -> Callable[[], LogsChanges]:
        db = self.db
        return lambda: listing.changes(db, ids, f, first_page=first_page)

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
        with quiet(*self.filter_widgets()):
            self._debounce.stop()
            self.search.setText(f.search or "")
            self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(f.status)))
            if f.merchant_id and self.merchant_combo.findData(f.merchant_id) < 0:
                # Names not read yet: keep the id so the query and the combo agree.
                self.merchant_combo.addItem(f.merchant_id, f.merchant_id)
            self.merchant_combo.setCurrentIndex(max(0, self.merchant_combo.findData(f.merchant_id)))
            self.event_combo.setCurrentIndex(max(0, self.event_combo.findData(f.event)))
            self.range_combo.setCurrentIndex(0)
        attempts = (f.attempted_from, f.attempted_to, f.attempt_outcome)
        self._set_link_extras(f.failing, attempts if f.narrows_attempts else None)
        self.run_query(f)

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
        self.runner.submit(
            lambda: listing.first_problem_endpoint(db),
            self.open_endpoints,
            lambda exc: self.show_banner(errors.sentence(exc)),
        )

    def filter_widgets(self) -> tuple[QWidget, ...]:
        return (self.search, self.status_combo, self.merchant_combo, self.event_combo,
                self.range_combo)  # fmt: skip

    def clear_more_filters(self) -> None:
        self._set_link_extras(False, None)

    def status_filter(self) -> str | None:
        return self._query_filter.status

    def take_page(self, page: LogsPage) -> None:
        if page.setup is not None:
            self._apply_setup(page.setup)
        elif self.setup is not None and self.setup.refusal:
            self.show_banner(self.setup.refusal)  # still true: it stays in sight

    def empty_texts(self, f: WebhookFilter) -> tuple[str, str, bool]:
        unfiltered = f == WebhookFilter()
        if unfiltered:
            title = "No webhook deliveries yet"
            text = "Deliveries appear here as payments and refunds send events to merchants."
        elif f.status == "failed" and f == WebhookFilter(status="failed"):
            title = "Nothing has failed"
            text = "Every delivery so far reached its endpoint or is on its way."
        else:
            title, text = "No deliveries match", "Try another search, or clear the filters."
        return title, text, not unfiltered

    def _apply_setup(self, setup: LogsSetup) -> None:
        self.setup = setup
        self.has_setup = True
        # The UI offers only what the role allows; the services refuse the rest anyway.
        self.bulk_button.setVisible(setup.may_retry)
        self.test_button.setVisible(setup.may_test)
        self.detail.set_may_retry(setup.may_retry)
        self._retry_state_changed()
        with quiet(self.merchant_combo, self.event_combo):
            list_page.refill_combo(
                self.merchant_combo,
                "All merchants",
                sorted(setup.merchants.items(), key=lambda kv: kv[1].lower()),
            )
            list_page.refill_combo(self.event_combo, "All events", [(e, e) for e in setup.events])
        self.model.set_merchant_names(setup.merchants)
        if setup.refusal:
            self.show_banner(setup.refusal)

    def show_banner(self, text: str) -> None:
        self.notice.hide()
        super().show_banner(text)

    def _show_notice(self, text: str, ok: bool | None = True) -> None:
        self.banner.hide()
        self._restyle_notice(ok)
        self.notice_text.setText(text)
        self.notice.show()

    # -- live updates and detail -----------------------------------------------------------------
    def other_change(self, table: str, ids: Any) -> None:
        d = self._detail
        if table == "merchants" and d is not None and (not ids or d[0].row.merchant_id in ids):
            self.load_detail(d[0].row.id)

    def read_detail(self, row_id: str) -> Callable[[], ShownLog]:
        db, clock = self.db, self.ctx.clock

        def work() -> ShownLog:
            now = clock.now()
            return load_webhook_detail(db, row_id, now), now

        return work

    def detail_row(self, shown: ShownLog) -> WebhookRow:
        return shown[0].row

    def show_detail(self, shown: ShownLog) -> None:
        self.detail.show_detail(*shown)
        self.table.horizontalScrollBar().setValue(0)

    def selected_log(self) -> WebhookRow | None:
        return self.current_row()

    # -- actions -------------------------------------------------------------------------------
    def retry_selected(self) -> None:
        row = self.selected_log()
        if row is not None and self.detail.retry_button.isEnabled():
            self.retry(row.id)

    def retry(self, log_id: str) -> None:
        """Start a new round for one log (the detail pane's Retry)."""
        ctx, actor = self.ctx, self.actor
        self.detail.set_busy(True)
        # Numbered before the retry writes: any read started after it is newer.
        read = self.model.next_read()

        def done(rows: list[WebhookRow]) -> None:
            self.detail.set_busy(False)
            self.model.update_rows(rows, read)
            sentence = f"{log_id} is due now; it is being sent again."
            self._show_notice(sentence, None)
            self.message.emit(sentence)
            self._refresh_detail(log_id)
            self.actionFinished.emit(sentence)

        def failed(exc: BaseException) -> None:
            self.detail.set_busy(False)
            sentence = errors.sentence(exc)
            self.show_banner(sentence)
            self._refresh_detail(log_id)
            self.actionFinished.emit(sentence)

        self.runner.submit(lambda: listing.retry_and_read(ctx, actor, log_id), done, failed)

    def _retry_state_changed(self) -> None:
        """The refusal key is live exactly when the Retry button's own key is not."""
        button = self.detail.retry_button
        works = button.isEnabled() and not button.isHidden() and not self.detail.isHidden()
        self.retry_refused_key.setEnabled(not works)

    def update_actions(self) -> None:
        if self._detail is None and self.detail.isHidden():
            self.detail.clear()
        self._retry_state_changed()

    def retry_refusal(self) -> str:
        """Why Retry cannot be done now, in one sentence."""
        if self.setup is not None and not self.setup.may_retry:
            return "Only support or admin staff can retry webhook deliveries."
        if self._detail is None or self.detail.isHidden():
            return "Select a delivery to retry it."
        return self.detail.retry_button.toolTip() or "Retry is not available now."

    def explain_retry(self) -> None:
        """Retry's key on a delivery that cannot be retried: say why where the person is
        looking (under the Retry button, and in the notice above the table)."""
        why = self.retry_refusal()
        if not self.detail.isHidden():
            self.detail.say_refused(why)
        self._show_notice(why, False)
        self.message.emit(why)

    def _refresh_detail(self, log_id: str) -> None:
        current = self.selected_log()
        if current is not None and current.id == log_id:
            self.load_detail(log_id)

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
            act = self.test_menu.addAction(name)
            act.setToolTip(mid)
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
            sentence = errors.sentence(exc)
            self.show_banner(sentence)
            self.actionFinished.emit(sentence)

        self.runner.submit(lambda: send_test(ctx, actor, merchant_id), done, failed)

    # -- context menu ----------------------------------------------------------------------------
    def build_context_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.setToolTipsVisible(True)  # a disabled Retry says why
        row = self.selected_log()
        if not self.detail.retry_button.isHidden():
            retry = menu.addAction(theme.icon("refresh"), "Retry now")
            retry.setEnabled(row is not None and self.detail.retry_button.isEnabled())
            retry.setToolTip(self.detail.retry_button.toolTip())
            retry.triggered.connect(self.retry_selected)
            menu.addSeparator()
        copy_id = menu.addAction(theme.icon("copy"), "Copy log id")
        copy_id.setEnabled(row is not None)
        if row is not None:
            copy_id.triggered.connect(lambda: self.copy_text(row.id))
        copy_entity = menu.addAction("Copy payment / refund id")
        copy_entity.setEnabled(row is not None and bool(row.entity_id))
        if row is not None and row.entity_id:
            entity_id = row.entity_id
            copy_entity.triggered.connect(lambda: self.copy_text(entity_id))
        copy_payload = menu.addAction("Copy payload")
        copy_payload.setEnabled(self._detail is not None and row is not None)
        copy_payload.triggered.connect(self.detail.copy_payload)
        menu.addSeparator()
        endpoint = menu.addAction(theme.icon("endpoint"), "Merchant's endpoint…")
        endpoint.setEnabled(row is not None)
        if row is not None:
            endpoint.triggered.connect(lambda: self.open_endpoints(row.merchant_id))
        return menu
