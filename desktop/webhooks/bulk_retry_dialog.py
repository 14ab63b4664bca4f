""" "Retry failed…": pick which deliveries to send again (status, merchant, event, time range),
read what that would do before anything happens, then retry them and read what came of it.

What it would do is ``core.webhooks.deliveries.bulk_plan``: how many are retried, and how many
are left out and why (a merchant without an endpoint, one being delivered at this moment, a
gateway log this copy cannot send). The retry is ``run_bulk_retry``: Paydesk's own deliveries
in one go, then a gateway's logs one request each, a few at a time, with a progress bar; Cancel
then stops the requests not yet sent, and the dialog says how many went.

Both run in the pool. Every change of the filter recounts; a count that arrives for an older
filter is dropped. The retry uses exactly the filter that was counted (its time range fixed
when it was counted), so what the button promised is what it does, give or take deliveries
that changed meanwhile.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.context import Context
from core.webhooks import deliveries as webhooks
from core.webhooks.deliveries import WebhookFilter
from core.webhooks.retry_plan import BulkOutcome, RetryPlan, plural
from desktop.shell import theme
from desktop.shell.acting_dialog import ActingDialog
from desktop.shell.named import named
from desktop.shell.runner import ProgressRelay, TaskRunner
from desktop.webhooks.model import TIME_RANGES, range_start

_ids = itertools.count(1)
STATUS_CHOICES = (("failed", "Failed"), ("pending", "Pending"))


def _describe(widget: QWidget, name: str, description: str) -> None:
    widget.setAccessibleName(name)
    widget.setAccessibleDescription(description)


class BulkRetryDialog(ActingDialog):
    """Emits ``counted(n)`` when a count is on screen (``n``: what would be retried),
    ``progressed(done, total)`` as gateway requests go out and ``retried(n)`` after the
    retry."""

    counted = Signal(int)
    progressed = Signal(int, int)
    retried = Signal(int)

    def __init__(
        self,
        ctx: Context,
        runner: TaskRunner,
        actor: str,
        merchants: dict[str, str],
        events: list[str],
        initial: WebhookFilter | None = None,
        range_index: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(ctx, runner, actor, parent)
        self._key = f"bulk-retry-count-{next(_ids)}"
        self.counted_filter: WebhookFilter | None = None
        self.plan: RetryPlan | None = None
        self.outcome: BulkOutcome | None = None
        self.retried_count: int | None = None
        self._running = False
        self._cancel: threading.Event | None = None
        self._relay = ProgressRelay(self)
        self._relay.changed.connect(self._on_progress)
        self.setWindowTitle("Retry deliveries")
        self.setMinimumWidth(500)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(8)
        head = QLabel("Retry deliveries", self)
        head.setStyleSheet("font-size: 12pt; font-weight: 700;")
        lay.addWidget(head)
        sub = named(
            QLabel(
                "Each matching delivery becomes pending and is sent again at once, with a new "
                "round of the retry schedule. Its earlier attempts are kept. A gateway's "
                "deliveries are asked of the gateway, one request each."
            ),
            "Muted",
        )
        sub.setWordWrap(True)
        lay.addWidget(sub)
        lay.addSpacing(6)

        form = QFormLayout()
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        initial = initial or WebhookFilter()
        self.status_combo = QComboBox(self)
        for key, label in STATUS_CHOICES:
            self.status_combo.addItem(label, key)
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(initial.status)))
        self.merchant_combo = QComboBox(self)
        self.merchant_combo.addItem("All merchants", None)
        for mid, name in sorted(merchants.items(), key=lambda kv: kv[1].lower()):
            self.merchant_combo.addItem(name, mid)
        self.merchant_combo.setCurrentIndex(
            max(0, self.merchant_combo.findData(initial.merchant_id))
        )
        self.event_combo = QComboBox(self)
        self.event_combo.addItem("All events", None)
        for name in events:
            self.event_combo.addItem(name, name)
        self.event_combo.setCurrentIndex(max(0, self.event_combo.findData(initial.event)))
        self.range_combo = QComboBox(self)
        for i, (label, _span) in enumerate(TIME_RANGES):
            self.range_combo.addItem(label, i)
        self.range_combo.setCurrentIndex(range_index)
        for combo, label, description in (
            (self.status_combo, "Status", "Retry the failed deliveries, or the pending ones"),
            (self.merchant_combo, "Merchant", "Retry the deliveries of one merchant"),
            (self.event_combo, "Event", "Retry the deliveries of one event"),
            (self.range_combo, "Created", "Retry the deliveries created in this time"),
        ):
            _describe(combo, f"{label} to retry", description)
            form.addRow(label, combo)
        lay.addLayout(form)
        lay.addSpacing(6)

        self.count_label = QLabel("", self)
        self.count_label.setWordWrap(True)
        self.count_label.setStyleSheet("font-weight: 600;")
        lay.addWidget(self.count_label)
        # What is left out and why, what goes to a gateway, what waits: before anything runs.
        self.plan_label = QLabel("", self)
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plan_label.hide()
        lay.addWidget(self.plan_label)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        _describe(self.progress, "Gateway requests sent", "How many gateway retries have gone")
        self.progress.hide()
        lay.addWidget(self.progress)
        self.result_label = QLabel("", self)
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.hide()
        lay.addWidget(self.result_label)
        lay.addStretch(1)

        buttons = QDialogButtonBox(self)
        # Named before it is shown, so the shared style sheet's Primary look applies.
        self.retry_button = QPushButton(theme.icon("refresh", "#ffffff"), "Retry", self)
        self.retry_button.setObjectName("Primary")
        buttons.addButton(self.retry_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button: QPushButton = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        _describe(self.retry_button, "Retry", "Retry what the count above says")
        _describe(self.close_button, "Cancel", "Close without retrying; while sending, stop")
        buttons.accepted.connect(self.run)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

        for combo in self._combos():
            combo.currentIndexChanged.connect(self.recount)
        self.recount()

    def _combos(self) -> tuple[QComboBox, ...]:
        return (self.status_combo, self.merchant_combo, self.event_combo, self.range_combo)

    @property
    def count(self) -> int | None:
        """How many the plan on screen retries (None while counting)."""
        return self.plan.count if self.plan is not None else None

    # -- counting --------------------------------------------------------------------------
    def current_filter(self) -> WebhookFilter:
        """The filter as the form says it, the time range fixed at this moment."""
        return WebhookFilter(
            status=self.status_combo.currentData(),
            merchant_id=self.merchant_combo.currentData(),
            event=self.event_combo.currentData(),
            created_from=range_start(self.range_combo.currentIndex(), self.ctx.clock.now()),
        )

    def recount(self) -> None:
        if self._running or self.retried_count is not None:
            return
        f = self.current_filter()
        self.plan = None
        self.counted_filter = None
        self.count_label.setText("Counting…")
        self.count_label.setStyleSheet("font-weight: 600;")
        self.plan_label.hide()
        self._update_button()
        ctx = self.ctx

        def work() -> tuple[WebhookFilter, RetryPlan]:
            return f, webhooks.read_bulk_plan(ctx, f)

        self.runner.submit(work, self._on_count, self._on_error, key=self._key)

    def _on_count(self, result: tuple[WebhookFilter, RetryPlan]) -> None:
        f, plan = result
        self.counted_filter, self.plan = f, plan
        what = "failed" if f.status in (None, "failed") else "pending"
        if plan.matched == 0:
            self.count_label.setText(
                f"No {what} deliveries match this filter; retrying would change nothing."
            )
            self.count_label.setStyleSheet(f"color: {theme.colour('muted').name()};")
            self.plan_label.hide()
        else:
            first, *rest = plan.lines(what)
            self.count_label.setText(first)
            self.count_label.setStyleSheet("font-weight: 600;")
            self.plan_label.setText("\n".join(rest))
            self.plan_label.setVisible(bool(rest))
        # Room for what it says now (the lines arrive after the dialog was laid out).
        self.adjustSize()
        self._update_button()
        self.counted.emit(plan.count)

    def _on_error(self, exc: BaseException) -> None:
        self._running = False
        for combo in self._combos():
            combo.setEnabled(True)
        self.progress.hide()
        self.close_button.setEnabled(True)
        self.close_button.setText("Cancel")
        self.count_label.setText(errors.sentence(exc))
        self.count_label.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")
        self.count_label.show()
        self._update_button()

    def _update_button(self) -> None:
        n = self.count
        if self.retried_count is not None:
            self.retry_button.hide()
            return
        if self._running:
            self.retry_button.setEnabled(False)
            self.retry_button.setText("Retrying…")
            return
        self.retry_button.setEnabled(bool(n))
        self.retry_button.setText(f"Retry {plural(n)}" if n else "Retry")
        why = "Counting…" if n is None else ("Nothing here can be retried." if n == 0 else "")
        self.retry_button.setToolTip(why)
        self.retry_button.setAccessibleDescription(why or "Retry what the count above says")

    # -- running ---------------------------------------------------------------------------
    def run(self) -> None:
        """Retry what was counted (the button is enabled only once a count is shown)."""
        f, plan = self.counted_filter, self.plan
        if f is None or plan is None or not plan.count:
            return
        if self._running or self.retried_count is not None:
            return
        self._running = True
        for combo in self._combos():
            combo.setEnabled(False)
        self._update_button()
        cancel = self._cancel = threading.Event()
        if plan.gateway:
            self.progress.setRange(0, len(plan.gateway))
            self.progress.setValue(0)
            self.progress.setFormat(f"Sending to the gateway: %v of {len(plan.gateway):,}")
            self.progress.show()
            self.close_button.setText("Stop sending")
            self.close_button.setToolTip("Stop sending the gateway requests not sent yet")
        ctx, actor, report = self.ctx, self.actor, self._relay.report
        # The counted filter names its status explicitly, as the retry reads it.
        f = replace(f, status=f.status or "failed")
        self.runner.submit(
            lambda: webhooks.run_bulk_retry(ctx, actor, f, progress=report, cancel=cancel),
            self._on_done,
            self._on_error,
        )

    def _on_progress(self, values: object) -> None:
        if not isinstance(values, tuple) or not self._running:
            return
        done, total = values
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        self.progressed.emit(done, total)

    def stop(self) -> None:
        """Send no further gateway request (those on the wire finish); what was sent stays."""
        if self._cancel is not None and self._running:
            self._cancel.set()
            self.close_button.setEnabled(False)
            self.close_button.setText("Stopping…")

    def _on_done(self, outcome: BulkOutcome) -> None:
        self._running = False
        self.outcome = outcome
        self.retried_count = retried = outcome.retried
        counted = self.count or 0
        text = outcome.sentence()
        if retried != counted and not outcome.cancelled and not outcome.forwarded.errors:
            text += (
                f" {counted:,} had been counted: the others changed meanwhile"
                " (delivered, or being sent)."
            )
        self.result_label.setText(text)
        ok = retried and not outcome.cancelled and not outcome.forwarded.errors
        colour = theme.status_colours("success" if ok else "cancelled")[0]
        self.result_label.setStyleSheet(f"color: {colour.name()}; font-weight: 600;")
        self.result_label.show()
        self.count_label.hide()
        self.plan_label.hide()
        self.adjustSize()
        self.close_button.setEnabled(True)
        self.close_button.setText("Close")
        self.close_button.setToolTip("")
        self.close_button.setAccessibleName("Close")
        self.close_button.setAccessibleDescription("Close the dialog")
        self._update_button()
        self.retried.emit(retried)

    def reject(self) -> None:
        if self._running:
            # While it runs, Cancel (and Escape) stop the sending; the dialog stays to say
            # what went.
            self.stop()
            return
        self.runner.invalidate(self._key)
        super().reject()
