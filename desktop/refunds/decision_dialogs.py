"""The two dialogs of deciding refunds in the Refunds view: the note a rejection needs, and the
confirmation of a multi-approve, which says what will be approved (how many, the total per
currency) and what is left out and why (``core.refunds.many.ApprovalPlan``)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.refunds.many import ApprovalPlan
from core.refunds.records import RefundView
from desktop.refunds.dialog import error_line, form_style, show_error_line
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


def _refunds(n: int) -> str:
    return f"{n} refund" if n == 1 else f"{n} refunds"


def approval_box(plan: ApprovalPlan, parent: QWidget) -> tuple[QMessageBox, QPushButton | None]:
    """The confirmation of a multi-approve, and its Approve button (None when nothing can be
    approved: the box then only says why)."""
    box = QMessageBox(parent)
    box.setWindowTitle("Approve refunds")
    n = len(plan.approve)
    if plan.refusal or not n:
        box.setIcon(QMessageBox.Icon.Information)
        box.setText(f"<b>None of the {plan.chosen} selected refunds can be approved</b>")
        box.setInformativeText(plan.refusal or plan.left_out_text())
        box.addButton(QMessageBox.StandardButton.Close)
        return box, None
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(f"<b>Approve {_refunds(n)}?</b>")
    parts = ["Total per currency:", *plan.total_lines()]
    if plan.left_out:
        parts += ["", plan.left_out_text()]
    parts += [
        "",
        f"Exactly these {n} are approved, together: if one of them is decided by someone "
        "else first, none is.",
    ]
    box.setInformativeText("\n".join(parts))
    yes = box.addButton(f"Approve {_refunds(n)}", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(yes)
    return box, yes


def approved_text(plan: ApprovalPlan) -> str:
    """What a confirmed multi-approve did, for the status bar."""
    left = f" {len(plan.left_out)} left out." if plan.left_out else ""
    return f"Approved {_refunds(len(plan.approve))}: {', '.join(plan.total_lines())}.{left}"
