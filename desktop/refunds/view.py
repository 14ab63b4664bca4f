"""The Refunds view: the approval queue, its filters, a keyset-paged table, the detail pane,
and Approve / Reject / Cancel / Retry.

The page is the one list page (``desktop.lists.list_page.ListPage``) under the runner key
``"refunds"``; its reads are ``core.refunds.queue``'s. Whether this person may act on a refund
is asked of ``core.refunds.service.why_not`` in the pool when the refund is selected (with its
detail); the buttons show its sentence as their tooltip when they are disabled.

Change notices (table ``refunds``) keep the table current without a refresh; a notice about a
payment re-reads the detail of a refund of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QMenu,
    QMessageBox,
    QPushButton,
    QWidget,
)

from core import errors
from core.access import roles
from core.money import format_money
from core.overview.links import RefundLink
from core.refunds import queue
from core.refunds import service as rf
from core.refunds.many import approve_many
from core.refunds.queries import PAGE_SIZE
from core.refunds.queue import QueueChanges, QueuePage, QueueSetup
from core.refunds.records import DecisionResult, RefundFilter, RefundView, filter_for_link
from core.refunds.states import KINDS, STATUSES
from desktop.lists import list_page
from desktop.lists.link_chips import span_text
from desktop.lists.list_page import ListPage, quiet
from desktop.lists.status_badge import StatusBadgeDelegate
from desktop.refunds.decision_dialogs import ApprovalReportDialog, RejectDialog
from desktop.refunds.detail import RefundDetailData, RefundDetailPane, load_refund_detail
from desktop.refunds.model import COLUMN, KIND_NAMES, STATUS_NAMES, STATUS_ROLE, RefundsModel
from desktop.shell import theme
from desktop.shell.views import AppServices

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


class RefundsView(ListPage[RefundView, RefundFilter, RefundDetailData]):
    """Work the refund queue. Emits ``actionsUpdated`` when the buttons were brought up to
    date (the rest as every list page)."""

    actionsUpdated = Signal()

    KEY = "refunds"
    DETAIL_KEY = "refund-detail"
    TABLE = "refunds"
    PAGE_SIZE = PAGE_SIZE
    SELECTION = QAbstractItemView.SelectionMode.ExtendedSelection
    DETAIL_WIDTH = (900, 340)

    model: RefundsModel
    detail: RefundDetailPane

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(services, RefundsModel(services.ctx.clock.now), RefundFilter(), parent)
        self.role: str | None = None
        self._busy = False
        self.reject_dialog: RejectDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.report_dialog: ApprovalReportDialog | None = None
        # What a RefundLink narrowed to that the combos cannot say (shown as chips): the
        # filter's currency, created_* and processed_* fields.
        self._link_extras: dict[str, Any] = {}

        self._ages = QTimer(self)
        self._ages.setInterval(AGE_TICK_MS)
        self._ages.timeout.connect(self.model.tick)
        self._ages.start()

        self._build()
        self.update_actions()
        self.start()

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

        self.search = list_page.search_box(
            self, "Refund id or payment id", 220, self._debounce, self.apply_filters
        )

        self.status_combo = QComboBox(self)
        self.status_combo.addItem("All statuses", None)
        for key in STATUSES:
            self.status_combo.addItem(STATUS_NAMES[key], key)
        self.merchant_combo = QComboBox(self)
        self.merchant_combo.addItem("All merchants", None)
        self.requester_combo = QComboBox(self)
        self.requester_combo.addItem("Anyone", None)
        self.requester_combo.setToolTip("Requested by")
        self.kind_combo = QComboBox(self)
        self.kind_combo.addItem("All kinds", None)
        for kind in KINDS:
            self.kind_combo.addItem(KIND_NAMES[kind], kind)
        self.age_combo = QComboBox(self)
        for i, (label, _lo, _hi) in enumerate(AGES):
            self.age_combo.addItem(label, i)
        self.age_combo.setToolTip("Age of the request")
        list_page.fit_combos(self.merchant_combo, self.requester_combo)
        self.add_filter_row(bar_lay, self.search, self._combos(), self._link_chip_removed)

        self.build_list(
            root,
            bar_lay,
            icon="refunds",
            empty="No refunds",
            show_all="Show all refunds",
            loading="Loading refunds…",
        )
        self._set_up_table()
        self.add_detail(RefundDetailPane(self))
        list_page.add_shortcut(self, QKeySequence.StandardKey.Find, lambda: self.search.setFocus())

    def _combos(self) -> tuple[QComboBox, ...]:
        return (self.status_combo, self.merchant_combo, self.requester_combo, self.kind_combo,
                self.age_combo)  # fmt: skip

    def _set_up_table(self) -> None:
        table = self.table
        self.enable_context_menu()
        hh = table.horizontalHeader()
        hh.setSectionsClickable(True)
        hh.setSectionsMovable(True)  # a person may bring Status or Age further left
        hh.setSortIndicatorShown(True)
        hh.setSortIndicator(COLUMN["requested"], Qt.SortOrder.DescendingOrder)
        hh.setStretchLastSection(True)
        hh.sectionClicked.connect(self._header_clicked)
        # Header labels are bold and carry the sort arrow; cells have their own padding.
        list_page.fit_columns(table, self.model, _COLUMN_SAMPLES, COLUMN, mono=("id", "payment"),
                              cell_pad=24, header_pad=34, badge="status")  # fmt: skip
        table.setItemDelegateForColumn(COLUMN["status"], StatusBadgeDelegate(STATUS_ROLE, table))
        table.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> RefundFilter:
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

    def first_load(self) -> None:
        """Who is acting decides the default: finance and admin staff start on the refunds
        awaiting approval, everyone else on all refunds."""
        db, actor, clock = self.db, self.actor, self.ctx.clock
        self.submit_first(lambda: queue.opening_page(db, actor, clock.now()))

    def read_first(self, f: RefundFilter, setup: bool) -> Callable[[], QueuePage]:
        db, clock, actor = self.db, self.ctx.clock, self.actor if setup else None
        return lambda: queue.first_page(db, f, clock.now(), setup_for=actor)

    def read_after(self, f: RefundFilter, after: Any) -> Callable[[], list[RefundView]]:
        db, clock = self.db, self.ctx.clock
        return lambda: queue.page_after(db, f, after, clock.now())

    def read_changes(
        self, ids: list[str], f: RefundFilter, first_page: bool
    ) -> Callable[[], QueueChanges]:
        db, clock = self.db, self.ctx.clock
        return lambda: queue.changes(db, ids, f, clock.now(), first_page=first_page)

    def apply_link(self, link: object) -> None:
        """Narrow to a dashboard ``RefundLink``: the status combo shows its status, the
        order its ``oldest_first``; its currency and time ranges show as removable chips."""
        if not isinstance(link, RefundLink):
            return
        f = filter_for_link(link)
        with quiet(*self.filter_widgets()):
            self._debounce.stop()
            self.reset_filter_widgets()
            self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(f.status)))
        self._set_link_extras(
            currency=f.currency,
            created_from=f.created_from,
            created_to=f.created_to,
            processed_from=f.processed_from,
            processed_to=f.processed_to,
        )
        order = Qt.SortOrder.DescendingOrder if f.descending else Qt.SortOrder.AscendingOrder
        self.table.horizontalHeader().setSortIndicator(COLUMN["requested"], order)
        self.run_query(f)

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

    def filter_widgets(self) -> tuple[QWidget, ...]:
        return (self.search, *self._combos())

    def clear_more_filters(self) -> None:
        self._set_link_extras()

    def status_filter(self) -> str | None:
        return self._query_filter.status

    def take_page(self, page: QueuePage) -> None:
        if page.setup is not None:
            self._apply_setup(page.setup, page.filter)

    def empty_texts(self, f: RefundFilter) -> tuple[str, str, bool]:
        unfiltered = f == RefundFilter()
        if f == RefundFilter(status="pending_approval"):
            title = "Nothing awaits approval"
            text = "New refund requests that need a second person appear here."
        elif unfiltered:
            title = "No refunds yet"
            text = "Refunds appear here once someone requests one from Payments."
        else:
            title, text = "No refunds match", "Try another search, or clear the filters."
        return title, text, not unfiltered

    def _apply_setup(self, setup: QueueSetup, f: RefundFilter) -> None:
        self.has_setup = True
        self.role = setup.role
        # The UI offers only what the role allows; the service refuses the rest anyway.
        for b in (self.approve_button, self.reject_button, self.retry_button):
            b.setVisible(setup.deciding)
        with quiet(self.status_combo, self.merchant_combo, self.requester_combo):
            self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(f.status)))
            list_page.refill_combo(
                self.merchant_combo,
                "All merchants",
                sorted(setup.merchants.items(), key=lambda kv: kv[1].lower()),
            )
            people = [(self.actor, f"Me ({self.actor})")]
            people += [(u, u) for u in setup.staff if u != self.actor]
            list_page.refill_combo(self.requester_combo, "Anyone", people)
        self.model.set_merchant_names(setup.merchants)
        if setup.refusal:
            self.show_banner(setup.refusal)
        self.update_actions()

    def _header_clicked(self, section: int) -> None:
        # Only the request time orders the keyset: newest first, or oldest first (the queue).
        header = self.table.horizontalHeader()
        if section in (COLUMN["requested"], COLUMN["age"]):
            self._filter = replace(self._filter, descending=not self._filter.descending)
            self.run_query(replace(self.current_filter(), descending=self._filter.descending))
        ascending = not self._filter.descending
        order = Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder
        header.setSortIndicator(COLUMN["requested"], order)

    # -- live updates and detail ---------------------------------------------------------------
    def other_change(self, table: str, ids: Any) -> None:
        d = self._detail
        if table == "payments" and d is not None and (not ids or d.detail.payment.id in ids):
            self.load_detail(d.refund.id)

    def detail_outdated(self, row: RefundView) -> bool:
        return self._detail is not None and self._detail.refund.version != row.version

    def read_detail(self, row_id: str) -> Callable[[], RefundDetailData]:
        db, actor = self.db, self.actor
        return lambda: load_refund_detail(db, row_id, actor)

    def detail_row(self, shown: RefundDetailData) -> RefundView:
        return shown.refund

    def show_detail(self, shown: RefundDetailData) -> None:
        self.detail.show_detail(shown)

    # -- selection and what this person may do ----------------------------------------------
    def selected_refunds(self) -> list[RefundView]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [r for r in (self.model.row_at(i) for i in rows) if r is not None]

    def selected_refund(self) -> RefundView | None:
        """The refund the detail pane is about: the only one selected, or the current row."""
        chosen = self.selected_refunds()
        return chosen[0] if len(chosen) == 1 else self.current_row()

    def shown_row(self) -> RefundView | None:
        return self.selected_refund()

    def update_actions(self) -> None:
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
            read = self.model.next_read()

            def done(view: RefundView) -> None:
                self.model.update_rows([view], read)
                self._after_action(f"Rejected refund {view.id}.")
                dialog.accept()

            self.runner.submit(
                lambda: rf.reject(ctx, actor, r.id, note, expected_version=r.version),
                done,
                lambda exc: dialog.show_error(errors.sentence(exc)),
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
        self.update_actions()
        read = self.model.next_read()

        def done(view: RefundView) -> None:
            self._busy = False
            self.model.update_rows([view], read)
            self._after_action(said(view))

        def failed(exc: BaseException) -> None:
            self._busy = False
            sentence = errors.sentence(exc)
            self.show_banner(sentence)
            self._refresh_selection()
            self.update_actions()
            self.actionFinished.emit(sentence)

        self.runner.submit(work, done, failed)

    def _after_action(self, sentence: str) -> None:
        self.banner.hide()
        self.message.emit(sentence)
        self._refresh_selection()
        self.update_actions()
        self.actionFinished.emit(sentence)

    def _refresh_selection(self) -> None:
        """Re-read what is selected: an action (ours or someone else's) changed it."""
        chosen = self.selected_refunds()
        if chosen:
            ids, db, read = [r.id for r in chosen], self.db, self.model.next_read()

            def done(rows: list[RefundView]) -> None:
                self.model.update_rows(rows, read)

            self.runner.submit(lambda: queue.refunds_by_id(db, ids), done, lambda _e: None)
        current = self.selected_refund()
        if current is not None:
            self.load_detail(current.id)

    def _confirm_many(self, ids: list[str]) -> None:
        db = self.db
        self.runner.submit(
            lambda: queue.totals_by_currency(db, ids),
            lambda totals: self._ask_many(ids, totals),
            lambda exc: self.show_banner(errors.sentence(exc)),
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

        def finished(_result: int) -> None:
            self.confirm_box = None
            if box.clickedButton() is yes:
                self._approve_many(ids)

        box.finished.connect(finished)
        self.confirm_box = box
        box.open()

    def _approve_many(self, ids: list[str]) -> None:
        self._busy = True
        self.update_actions()
        ctx, actor, db, read = self.ctx, self.actor, self.db, self.model.next_read()
        amounts = {r.id: r.amount_text for r in self.model.rows() if r.id in set(ids)}

        def work() -> tuple[list[DecisionResult], list[RefundView]]:
            results = approve_many(ctx, actor, ids)
            return results, queue.refunds_by_id(db, ids)

        def done(outcome: tuple[list[DecisionResult], list[RefundView]]) -> None:
            results, fresh = outcome
            self._busy = False
            self.model.update_rows(fresh, read)
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
            self.show_banner(errors.sentence(exc))
            self.update_actions()

        self.runner.submit(work, done, failed)

    # -- context menu ----------------------------------------------------------------------------
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
        copy_payment = menu.addAction("Copy payment id")
        copy_payment.setEnabled(r is not None)
        if r is not None:
            copy_id.triggered.connect(lambda: self.copy_text(r.id))
            copy_payment.triggered.connect(lambda: self.copy_text(r.payment_id))
        return menu
