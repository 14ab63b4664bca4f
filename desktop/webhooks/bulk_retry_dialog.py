""" "Retry failed…": pick which deliveries to send again (status, merchant, event, time range),
see how many that is before anything happens, then retry them all in one go and read what
came of it.

The count (``core.webhooks.deliveries.count_matching``) and the retry (``bulk_retry``) run in the pool.
Every change of the filter recounts; a count that arrives for an older filter is dropped. The
retry uses exactly the filter that was counted (its time range fixed when it was counted), so
what the button promised is what it does, give or take deliveries that changed meanwhile.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.context import Context
from core.webhooks import deliveries as webhooks
from core.webhooks.deliveries import WebhookFilter
from core.webhooks.listing import count_matching
from desktop.shell import theme
from desktop.shell.acting_dialog import ActingDialog
from desktop.shell.named import named
from desktop.shell.runner import TaskRunner
from desktop.webhooks.model import TIME_RANGES, range_start

_ids = itertools.count(1)
STATUS_CHOICES = (("failed", "Failed"), ("pending", "Pending"))


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


class BulkRetryDialog(ActingDialog):
    """Emits ``counted(n)`` when a count is on screen and ``retried(n)`` after the retry."""

    counted = Signal(int)
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
        self.count: int | None = None
        self.retried_count: int | None = None
        self._running = False
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
                "round of the retry schedule. Its earlier attempts are kept."
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
        form.addRow("Status", self.status_combo)
        form.addRow("Merchant", self.merchant_combo)
        form.addRow("Event", self.event_combo)
        form.addRow("Created", self.range_combo)
        lay.addLayout(form)
        lay.addSpacing(6)

        self.count_label = QLabel("", self)
        self.count_label.setWordWrap(True)
        self.count_label.setStyleSheet("font-weight: 600;")
        lay.addWidget(self.count_label)
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
        buttons.accepted.connect(self.run)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

        for combo in (self.status_combo, self.merchant_combo, self.event_combo, self.range_combo):
            combo.currentIndexChanged.connect(self.recount)
        self.recount()

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
        self.count = None
        self.counted_filter = None
        self.count_label.setText("Counting…")
        self.count_label.setStyleSheet("font-weight: 600;")
        self._update_button()
        db = self.ctx.db

        def work() -> tuple[WebhookFilter, int]:
            return f, count_matching(db, f)

        self.runner.submit(work, self._on_count, self._on_error, key=self._key)

    def _on_count(self, result: tuple[WebhookFilter, int]) -> None:
        f, n = result
        self.counted_filter, self.count = f, n
        what = "failed" if f.status in (None, "failed") else "pending"
        if n == 0:
            self.count_label.setText(
                f"No {what} deliveries match this filter; retrying would change nothing."
            )
            self.count_label.setStyleSheet(f"color: {theme.colour('muted').name()};")
        else:
            self.count_label.setText(
                f"{plural(n, what + ' delivery', what + ' deliveries')} match."
            )
            self.count_label.setStyleSheet("font-weight: 600;")
        self._update_button()
        self.counted.emit(n)

    def _on_error(self, exc: BaseException) -> None:
        self._running = False
        for combo in (self.status_combo, self.merchant_combo, self.event_combo, self.range_combo):
            combo.setEnabled(True)
        self.count_label.setText(errors.sentence(exc))
        self.count_label.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")
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
        self.retry_button.setText(f"Retry {plural(n, 'delivery', 'deliveries')}" if n else "Retry")
        self.retry_button.setToolTip(
            "Counting…" if n is None else ("Nothing matches." if n == 0 else "")
        )

    # -- running ---------------------------------------------------------------------------
    def run(self) -> None:
        """Retry what was counted (the button is enabled only once a count is shown)."""
        f, n = self.counted_filter, self.count
        if f is None or not n or self._running or self.retried_count is not None:
            return
        self._running = True
        for combo in (self.status_combo, self.merchant_combo, self.event_combo, self.range_combo):
            combo.setEnabled(False)
        self._update_button()
        ctx, actor = self.ctx, self.actor
        # The counted filter names its status explicitly, as bulk_retry reads it.
        f = replace(f, status=f.status or "failed")
        self.runner.submit(
            lambda: webhooks.bulk_retry(ctx, actor, f), self._on_done, self._on_error
        )

    def _on_done(self, retried: int) -> None:
        self._running = False
        self.retried_count = retried
        counted = self.count or 0
        text = f"Retried {plural(retried, 'delivery', 'deliveries')}; they are being sent now."
        if retried != counted:
            text += (
                f" {counted:,} had been counted: the others changed meanwhile"
                " (delivered, or being sent)."
            )
        if retried == 0:
            text = "Nothing was retried: the matching deliveries changed meanwhile."
        self.result_label.setText(text)
        colour = theme.status_colours("success" if retried else "cancelled")[0]
        self.result_label.setStyleSheet(f"color: {colour.name()}; font-weight: 600;")
        self.result_label.show()
        self.count_label.hide()
        self.close_button.setText("Close")
        self._update_button()
        self.retried.emit(retried)

    def reject(self) -> None:
        self.runner.invalidate(self._key)
        super().reject()
