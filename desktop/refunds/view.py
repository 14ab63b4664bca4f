"""The Refunds view: the approval queue, its filters (with the gateway's Needs check), a
keyset-paged table, the detail pane, and Approve / Reject / Cancel / Retry, and for a refund in
Needs check Link / Send again.

The page is the one list page (``desktop.lists.list_page.ListPage``) under the runner key
``"refunds"``; its reads are ``core.refunds.queue``'s (through ``core.gateway.needs_check``,
which adds the Needs-check list). Whether this person may act on a refund is asked of
``core.refunds.service.why_not`` in the pool when the refund is selected (with its detail);
a refused action says why in the detail pane, in its button's tooltip, and under the actions
when its key is pressed. A multi-approve shows what it will approve (``ApprovalPlan``) and
approves exactly that.

Change notices (table ``refunds``) keep the table current without a refresh; a notice about a
payment re-reads the detail of a refund of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolButton,
    QWidget,
)

from core import errors
from core.access import roles
from core.gateway import needs_check as nc
from core.gateway import refund_review
from core.overview.links import RefundLink
from core.refunds import queue
from core.refunds import service as rf
from core.refunds.many import ApprovalPlan, approval_plan, approve_planned, plan_approval
from core.refunds.queries import PAGE_SIZE
from core.refunds.queue import QueueChanges, QueuePage, QueueSetup
from core.refunds.records import RefundFilter, RefundView, filter_for_link
from desktop.lists import list_page
from desktop.lists.elided_label import ElidedLabel
from desktop.lists.list_page import ListPage, quiet
from desktop.lists.status_badge import StatusBadgeDelegate
from desktop.refunds.columns import ColumnFit
from desktop.refunds.decision_dialogs import RejectDialog, approval_box, approved_text
from desktop.refunds.detail import (
    RefundDetailData,
    RefundDetailPane,
    load_refund_detail,
    show_note,
)
from desktop.refunds.filters import QueueFilters
from desktop.refunds.model import COLUMN, STATUS_NAMES, STATUS_ROLE, RefundsModel
from desktop.refunds.review import LinkDialog, resend_box
from desktop.shell import theme
from desktop.shell.named import named
from desktop.shell.views import AppServices

AGE_TICK_MS = 30_000
APPROVE_KEYS = QKeySequence("Ctrl+Return")
REJECT_KEYS = QKeySequence("Ctrl+Backspace")

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


class RefundsView(ListPage[RefundView, nc.QueueFilter, RefundDetailData]):
    """Work the refund queue. Emits ``actionsUpdated`` when the buttons were brought up to
    date (the rest as every list page)."""

    actionsUpdated = Signal()

    KEY = "refunds"
    DETAIL_KEY = "refund-detail"
    TABLE = "refunds"
    PAGE_SIZE = PAGE_SIZE
    SELECTION = QAbstractItemView.SelectionMode.ExtendedSelection
    # A narrow pane: beside it, in a 1024 px window, the key columns keep the refund id whole.
    DETAIL_WIDTH = (900, 300)

    model: RefundsModel
    detail: RefundDetailPane

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(
            services, RefundsModel(services.ctx.clock.now), nc.QueueFilter(), parent
        )
        self.role: str | None = None
        self._busy = False
        self.reject_dialog: RejectDialog | None = None
        self.link_dialog: LinkDialog | None = None
        self.confirm_box: QMessageBox | None = None
        # Why each action is off now (None: it is on), for the keys pressed on an off one.
        self._refusals: dict[str, str | None] = {}

        self._ages = QTimer(self)
        self._ages.setInterval(AGE_TICK_MS)
        self._ages.timeout.connect(self.model.tick)
        self._ages.start()

        self._build()
        self.update_actions()
        self.start()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root, bar_lay, title_row, first_counter = list_page.filter_bar(self, "Refunds")
        # The counter gives up width before the window must ("200 shown · scroll for more").
        self.counter = named(ElidedLabel(""), "Counter")
        title_row.replaceWidget(first_counter, self.counter)
        first_counter.deleteLater()
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
        for b, name, what in (
            (self.cancel_button, "Cancel request", "Withdraw your own request that awaits approval"),
            (self.retry_button, "Retry", "Have a failed refund processed again"),
            (self.reject_button, "Reject", "Reject the selected refund, with a note saying why"),
            (self.approve_button, "Approve", "Approve the selected refunds"),
        ):
            b.setAccessibleName(name)
            b.setAccessibleDescription(what)
            title_row.addWidget(b)
        title_row.addSpacing(4)
        self.refresh_button = list_page.refresh_button(self, self.refresh)
        self.refresh_button.setAccessibleDescription("Read the refunds again (F5)")
        title_row.addWidget(self.refresh_button)
        # Keys pressed on an action that is off say why (a disabled button takes no keys).
        self._refusal_keys = {
            "approve": self._refusal_key(APPROVE_KEYS, "approve"),
            "reject": self._refusal_key(REJECT_KEYS, "reject"),
        }
        # Where that is said: under the actions, until the selection changes.
        self.action_note = named(QLabel(""), "ActionNote")
        self.action_note.setWordWrap(True)
        self.action_note.setAccessibleName("Why the action is unavailable")
        self.action_note.hide()
        bar_lay.addWidget(self.action_note)

        self.filters = QueueFilters(
            self, self._debounce, self.apply_filters, self.clear_filters, self._link_chip_removed
        )
        f = self.filters
        self.search, self.status_combo, self.merchant_combo = f.search, f.status, f.merchant
        self.requester_combo, self.kind_combo, self.age_combo = f.requester, f.kind, f.age
        self.link_chips, self.clear_button = f.link_chips, f.clear_button
        bar_lay.addLayout(f.row)

        self.build_list(
            root,
            bar_lay,
            icon="refunds",
            empty="No refunds",
            show_all="Show all refunds",
            loading="Loading refunds…",
        )
        self.show_all_button.setAccessibleDescription("Clear every filter")
        dismiss = self.banner.findChild(QToolButton)
        if dismiss is not None:
            dismiss.setAccessibleDescription("Hide this message")
        self._set_up_table()
        pane = RefundDetailPane(self)
        pane.gateway.link_button.clicked.connect(self.link_selected)
        pane.gateway.resend_button.clicked.connect(self.resend_selected)
        self.add_detail(pane)
        list_page.add_shortcut(self, QKeySequence.StandardKey.Find, lambda: self.search.setFocus())

    def _refusal_key(self, keys: QKeySequence, action: str) -> QAction:
        key = QAction(self)
        key.setShortcut(keys)
        key.setShortcutContext(Qt.ShortcutContext.WindowShortcut)  # as the button's own
        key.triggered.connect(lambda: self.explain(action))
        self.addAction(key)
        return key

    def _set_up_table(self) -> None:
        table = self.table
        table.setAccessibleName("Refunds")
        table.setAccessibleDescription(
            "The refunds the filters select; Enter opens one, Ctrl+Return approves"
        )
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
        # Narrow: the columns a person can do without go first, the table never scrolls sideways.
        self.columns = ColumnFit(table)
        table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())

    def _selection_changed(self) -> None:
        self.action_note.hide()
        self.update_actions()

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> nc.QueueFilter:
        return self.filters.current(self._filter.descending)

    def first_load(self) -> None:
        """Who is acting decides the default: finance and admin staff start on the refunds
        awaiting approval, everyone else on all refunds."""
        db, actor, clock = self.db, self.actor, self.ctx.clock
        self.submit_first(lambda: nc.opening_page(db, actor, clock.now()))

    def read_first(self, f: nc.QueueFilter, setup: bool) -> Callable[[], QueuePage]:
        db, clock, actor = self.db, self.ctx.clock, self.actor if setup else None
        return lambda: nc.first_page(db, f, clock.now(), setup_for=actor)

    def read_after(self, f: nc.QueueFilter, after: Any) -> Callable[[], list[RefundView]]:
        db, clock = self.db, self.ctx.clock
        return lambda: nc.page_after(db, f, after, clock.now())

    def read_changes(
        self, ids: list[str], f: nc.QueueFilter, first_page: bool
    ) -> Callable[[], QueueChanges]:
        db, clock = self.db, self.ctx.clock
        return lambda: nc.changes(db, ids, f, clock.now(), first_page=first_page)

    def apply_link(self, link: object) -> None:
        """Narrow to a dashboard ``RefundLink``: the status combo shows its status, the
        order its ``oldest_first``; its currency and time ranges show as removable chips."""
        if not isinstance(link, RefundLink):
            return
        f = nc.as_queue_filter(filter_for_link(link))
        with quiet(*self.filter_widgets()):
            self._debounce.stop()
            self.reset_filter_widgets()
            self.filters.show_status(f)
        self.filters.set_link_extras(
            currency=f.currency,
            created_from=f.created_from,
            created_to=f.created_to,
            processed_from=f.processed_from,
            processed_to=f.processed_to,
        )
        order = Qt.SortOrder.DescendingOrder if f.descending else Qt.SortOrder.AscendingOrder
        self.table.horizontalHeader().setSortIndicator(COLUMN["requested"], order)
        self.run_query(f)

    def _link_chip_removed(self, key: str) -> None:
        self.filters.drop_link_extra(key)
        self.apply_filters()

    def filter_widgets(self) -> tuple[QWidget, ...]:
        return (self.search, *self.filters.combos())

    def clear_more_filters(self) -> None:
        self.filters.set_link_extras()

    def status_filter(self) -> str | None:
        # The Needs-check list holds processing refunds.
        return "processing" if self._query_filter.needs_check else self._query_filter.status

    def take_page(self, page: QueuePage) -> None:
        if page.setup is not None:
            self._apply_setup(page.setup, page.filter)

    def empty_texts(self, f: nc.QueueFilter) -> tuple[str, str, bool]:
        unfiltered = f == nc.QueueFilter()
        if f == nc.QueueFilter(status="pending_approval"):
            title = "Nothing is awaiting approval"
            text = "New refund requests that need a second person appear here."
        elif f == nc.QueueFilter(needs_check=True):
            title = "No refund needs a check"
            text = (
                "A gateway refund whose answer was lost and that Paydesk could not find at "
                "the gateway in time appears here."
            )
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
        self.filters.take_setup(setup, f, self.actor)
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
        a disabled button's tooltip says why, and so does the detail pane for Approve."""
        chosen = self.selected_refunds()
        buttons: dict[str, tuple[QPushButton, str, QKeySequence | None]] = {
            "approve": (self.approve_button, "Approve", APPROVE_KEYS),
            "reject": (self.reject_button, "Reject", REJECT_KEYS),
            "cancel": (self.cancel_button, "Cancel your request", None),
            "retry": (self.retry_button, "Retry processing", None),
        }
        plan = plan_approval(self.actor, chosen) if len(chosen) > 1 else None
        for action, (button, verb, keys) in buttons.items():
            enabled, tip = self._may(action, chosen, verb, plan)
            if self._busy:
                enabled, tip = False, "Working…"
            button.setEnabled(enabled)
            keys_text = f" ({shortcut_text(keys)})" if keys is not None else ""
            button.setToolTip(tip + (keys_text if enabled else ""))
            if button.isHidden() and action in ("approve", "reject"):
                tip = "Only finance or admin staff can approve or reject refunds."
            self._refusals[action] = None if enabled and not button.isHidden() else tip
        for action, key in self._refusal_keys.items():
            key.setEnabled(self._refusals[action] is not None)
        n = len(plan.approve) if plan is not None else 0
        self.approve_button.setText(f"Approve {n}" if plan is not None and n else "Approve")
        self._update_pane_note(chosen, plan)
        self.actionsUpdated.emit()

    def _update_pane_note(self, chosen: list[RefundView], plan: ApprovalPlan | None) -> None:
        d = self._detail
        if self.detail.isHidden():
            return
        note = ""
        if not self.approve_button.isHidden() and not self._busy:
            if plan is not None:
                note = plan.left_out_text() or ""
                if not plan.approve:
                    note = self._refusals["approve"] or ""
            elif len(chosen) == 1 and d is not None and d.refund.id == chosen[0].id:
                # A refund waiting at the gateway: what is to be decided is its check.
                waiting = d.review is not None and (d.review.needs_check or d.review.looked_for)
                note = "" if waiting else d.why_not.get("approve") or ""
        self.detail.set_note(note)
        self.detail.gateway.set_busy(self._busy)

    def _may(
        self, action: str, chosen: list[RefundView], verb: str, plan: ApprovalPlan | None
    ) -> tuple[bool, str]:
        if not chosen:
            return False, "Select a refund first."
        if len(chosen) > 1:
            if action != "approve":
                return False, f"Select one refund to {verb.lower()} it."
            if not roles.allowed(self.role, "refund.decide"):
                return False, "Only finance or admin staff can approve or reject refunds."
            assert plan is not None
            if not plan.approve:
                why = ", ".join(f"{n} {what}" for what, n in plan.left_out_counts())
                return False, f"None of the {plan.chosen} selected refunds can be approved: {why}."
            left = f"; {plan.left_out_text()}" if plan.left_out else ""
            return True, f"Approve {len(plan.approve)} of the {plan.chosen} selected refunds{left}"
        r = chosen[0]
        d = self._detail
        # Only an answer about the row as shown now counts (versions move on every change).
        if d is None or d.refund.id != r.id or d.refund.version != r.version:
            return False, "Checking…"
        if action == "retry" and r.status != "failed":
            # The service's sentence writes the status as stored; this is the view's word.
            name = STATUS_NAMES.get(r.status, r.status)
            return False, f"Only a failed refund can be retried; this one is {name.lower()}."
        reason = d.why_not.get(action)
        if reason:
            return False, reason
        return True, f"{verb} refund {r.id}"

    def explain(self, action: str) -> None:
        """The key of an action that is off was pressed: say why, under the actions."""
        why = self._refusals.get(action)
        if not why:
            return
        show_note(self.action_note, why)
        self.message.emit(why)

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

    # -- Needs check ---------------------------------------------------------------------------
    def _review_target(self, action: str) -> RefundDetailData | None:
        """The shown refund when ``action`` ("link", "resend") may be taken on it; otherwise
        says why under the actions and returns None."""
        d = self._detail
        if self._busy or d is None or d.review is None:
            return None
        why = d.review.why_not.get(action)
        if why:
            self._refusals[action] = why
            self.explain(action)
            return None
        return d

    def link_selected(self) -> None:
        """Ask for the gateway's refund id, then link the refund to it (checked there)."""
        d = self._review_target("link")
        if d is None or d.review is None:
            return
        r, gateway = d.refund, d.review.state.gateway or "the gateway"
        dialog = LinkDialog(r, gateway, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        ctx, actor = self.ctx, self.actor

        def submit(gateway_refund_id: str) -> None:
            read = self.model.next_read()

            def done(view: RefundView) -> None:
                self.model.update_rows([view], read)
                self._after_action(
                    f"Refund {view.id} is linked to the gateway's refund {gateway_refund_id}."
                )
                dialog.accept()

            self.runner.submit(
                lambda: refund_review.link(ctx, actor, r.id, gateway_refund_id),
                done,
                lambda exc: dialog.show_error(errors.sentence(exc)),
            )

        dialog.submitted.connect(submit)
        dialog.finished.connect(lambda _r: setattr(self, "link_dialog", None))
        self.link_dialog = dialog
        dialog.open()

    def resend_selected(self) -> None:
        """After a confirmation, have the refund sent to the gateway again."""
        d = self._review_target("resend")
        if d is None or d.review is None:
            return
        r, gateway = d.refund, d.review.state.gateway or "the gateway"
        box, send = resend_box(r, gateway, self)
        ctx, actor = self.ctx, self.actor

        def finished(_result: int) -> None:
            self.confirm_box = None
            if box.clickedButton() is send:
                self._run_action(
                    lambda: refund_review.resend(ctx, actor, r.id),
                    lambda v: f"Refund {v.id} will be sent to {gateway} again.",
                )

        box.finished.connect(finished)
        self.confirm_box = box
        box.open()

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

    def _refresh_selection(self, ids: list[str] | None = None) -> None:
        """Re-read what is selected (and ``ids``): an action (ours or someone else's)
        changed it."""
        wanted = sorted({*(r.id for r in self.selected_refunds()), *(ids or ())})
        if wanted:
            db, read = self.db, self.model.next_read()

            def done(rows: list[RefundView]) -> None:
                self.model.update_rows(rows, read)
                self.update_actions()

            self.runner.submit(lambda: queue.refunds_by_id(db, wanted), done, lambda _e: None)
        current = self.selected_refund()
        if current is not None:
            self.load_detail(current.id)

    # -- several at once -------------------------------------------------------------------------
    def _confirm_many(self, ids: list[str]) -> None:
        """Work out what approving ``ids`` does now (in the pool), then ask."""
        db, actor = self.db, self.actor
        self.runner.submit(
            lambda: approval_plan(db, actor, ids),
            self._ask_many,
            lambda exc: self.show_banner(errors.sentence(exc)),
        )

    def _ask_many(self, plan: ApprovalPlan) -> None:
        box, yes = approval_box(plan, self)

        def finished(_result: int) -> None:
            self.confirm_box = None
            if yes is not None and box.clickedButton() is yes:
                self._approve_planned(plan)

        box.finished.connect(finished)
        self.confirm_box = box
        box.open()

    def _approve_planned(self, plan: ApprovalPlan) -> None:
        """Approve exactly what the person confirmed, all or none."""
        self._busy = True
        self.update_actions()
        ctx, actor = self.ctx, self.actor
        every = [*plan.ids, *plan.left_out]

        def done(_results: object) -> None:
            self._busy = False
            self.banner.hide()
            sentence = approved_text(plan)
            self.message.emit(sentence)
            self._refresh_selection(every)
            self.update_actions()
            self.actionFinished.emit(sentence)

        def failed(exc: BaseException) -> None:
            self._busy = False
            sentence = errors.sentence(exc)
            self.show_banner(sentence)
            self._refresh_selection(every)
            self.update_actions()
            self.actionFinished.emit(sentence)

        self.runner.submit(lambda: approve_planned(ctx, actor, plan), done, failed)

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
