"""The two dialogs of deciding refunds in the Refunds view: the note a rejection needs, and the
report of a multi-approve (which went through and, for the rest, why not)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QFontMetrics, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.refunds.records import DecisionResult, RefundView
from desktop.refunds.dialog import error_line, form_style, show_error_line
from desktop.shell import theme
from desktop.shell.named import named


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
        head = named(QLabel(f"Reject the refund of {refund.amount_text}?"), "DetailTitle")
        head.setStyleSheet("font-size: 12pt; font-weight: 700;")
        lay.addWidget(head)
        sub = named(
            QLabel(
                f"{refund.id} on payment {refund.payment_id}, requested by {refund.requested_by}."
            ),
            "Muted",
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
        self.error = error_line(self)
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
        show_error_line(self.error, sentence)
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
        sub = named(
            QLabel(
                f"{failed} could not be approved; the reason is beside each."
                if failed
                else "Every selected refund was approved."
            ),
            "Muted",
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
        amount_head = self.table.horizontalHeaderItem(1)
        if amount_head is not None:
            amount_head.setTextAlignment(
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
            f"{self._text(row, 0)} · {self._text(row, 2)}" for row in range(self.table.rowCount())
        ]

    def _text(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text() if item is not None else ""
