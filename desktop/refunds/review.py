"""Needs check in the Refunds view: the detail pane's GATEWAY section (what was sent, when, what
the look-ups found, and Link / Send again with why not when they are off), the dialog asking
for the gateway refund id to link to, and the confirmation of sending again.

The actions are ``core.gateway.refund_review.link`` and ``resend``; the view runs them in the
pool and hands the answer back here (``LinkDialog.show_error``)."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.gateway.needs_check import GatewayReview
from core.refunds.labels import NEEDS_CHECK_LABEL
from core.refunds.records import RefundView
from desktop.lists.detail_pane import field_grid, fill_fields
from desktop.lists.filter_row import FilterRow
from desktop.refunds.dialog import error_line, form_style, show_error_line
from desktop.shell.named import named

LINK_TEXT = "Link to gateway refund…"
RESEND_TEXT = "Send again…"


def breakable(text: str) -> str:
    """``text`` with a break opportunity after each ``/`` (a zero-width space), so a URL or
    a path in the evidence wraps in a narrow pane instead of widening it."""
    return text.replace("/", "/\u200b")


def _when(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S") if dt else "—"


def outcome_text(review: GatewayReview) -> str:
    """What Paydesk knows of the refund at the gateway, in a person's words."""
    s = review.state
    if review.needs_check:
        return f"{NEEDS_CHECK_LABEL}: the answer to the request was lost and the refund was not found"
    if review.looked_for:
        return "Answer lost; Paydesk looks for it at the gateway on each sync"
    if s.outcome == "resend":
        return "To be sent again by the processing task"
    return "Known to the gateway" if s.refund.status != "approved" else "Not sent yet"


class GatewaySection(QWidget):
    """The GATEWAY part of a refund's detail; hidden for Paydesk's own refunds."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.review: GatewayReview | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.title = named(QLabel("GATEWAY"), "SectionTitle")
        lay.addWidget(self.title)
        self.grid: QGridLayout = field_grid()
        lay.addLayout(self.grid)
        self.values: dict[str, QLabel] = {}
        self.evidence_title = named(QLabel("What Paydesk found"), "FieldName")
        lay.addWidget(self.evidence_title)
        # The evidence in full, wrapped: it is what the person decides on.
        self.evidence = named(QLabel(""), "FieldValue")
        self.evidence.setWordWrap(True)
        self.evidence.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.evidence)
        row = FilterRow()  # the two side by side, or one under the other in a narrow pane
        self.link_button = QPushButton(LINK_TEXT, self)
        self.link_button.setAccessibleName("Link to gateway refund")
        self.link_button.setAccessibleDescription(
            "Link this refund to the refund the gateway made for it, by the gateway's refund id"
        )
        self.resend_button = QPushButton(RESEND_TEXT, self)
        self.resend_button.setAccessibleName("Send again")
        self.resend_button.setAccessibleDescription(
            "Have this refund sent to the gateway again, after a confirmation"
        )
        row.addWidget(self.link_button)
        row.addWidget(self.resend_button)
        lay.addLayout(row)
        self.why = named(QLabel(""), "Muted")
        self.why.setWordWrap(True)
        lay.addWidget(self.why)
        self.hide()

    def show_review(self, review: GatewayReview | None) -> None:
        self.review = review
        if review is None:
            self.hide()
            return
        s = review.state
        self.values = fill_fields(
            self.grid,
            [
                ("Gateway", s.gateway or "—"),
                ("Outcome", outcome_text(review)),
                ("Sent", _when(s.sent_at)),
                ("Last looked", _when(s.checked_at)),
            ],
        )
        # One paragraph per entry (each starts with its time).
        entries = (s.evidence or "Nothing recorded yet.").splitlines()
        self.evidence.setText(breakable("\n\n".join(e for e in entries if e.strip())))
        open_case = review.needs_check or review.looked_for
        self.evidence_title.setVisible(bool(s.evidence) or open_case)
        self.evidence.setVisible(bool(s.evidence) or open_case)
        for b in (self.link_button, self.resend_button):
            b.setVisible(open_case)
        self.why.setVisible(open_case)
        self.show()

    def set_busy(self, busy: bool) -> None:
        """Bring the buttons up to date: each on when its action is allowed and nothing runs;
        the line under them says why one is off."""
        review = self.review
        if review is None:
            return
        reasons = []
        for action, button in (("link", self.link_button), ("resend", self.resend_button)):
            why = review.why_not.get(action)
            button.setEnabled(why is None and not busy)
            button.setToolTip(why or button.accessibleDescription())
            if why and why not in reasons:
                reasons.append(why)
        self.why.setText(" ".join(reasons))
        self.why.setVisible(bool(reasons) and not self.link_button.isHidden())

    def value(self, name: str) -> str:
        label = self.values.get(name)
        return label.text() if label is not None else ""


class LinkDialog(QDialog):
    """Asks for the gateway's refund id. ``submitted(id)`` when the person confirms; the view
    closes the dialog or shows the service's sentence with ``show_error``."""

    submitted = Signal(str)

    def __init__(self, refund: RefundView, gateway: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.refund = refund
        self.setWindowTitle(f"Link {refund.id}")
        self.setMinimumWidth(440)
        self.setStyleSheet(form_style())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(8)
        head = named(QLabel(f"Link refund {refund.id} to the gateway's refund"), "DetailTitle")
        head.setStyleSheet("font-size: 12pt; font-weight: 700;")
        head.setWordWrap(True)
        lay.addWidget(head)
        sub = named(
            QLabel(
                f"{refund.amount_text} of payment {refund.payment_id}. Paydesk asks {gateway} "
                "for the refund first: it must be of the same payment and amount."
            ),
            "Muted",
        )
        sub.setWordWrap(True)
        lay.addWidget(sub)
        caption = QLabel("Gateway refund id")
        lay.addWidget(caption)
        self.field = QLineEdit(self)
        self.field.setPlaceholderText("rfnd_…")
        self.field.setAccessibleName("Gateway refund id")
        self.field.setAccessibleDescription("The id of the refund at the gateway, as rfnd_…")
        caption.setBuddy(self.field)
        lay.addWidget(self.field)
        self.error = error_line(self)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(self)
        self.link_button = buttons.addButton("Link", QDialogButtonBox.ButtonRole.AcceptRole)
        self.link_button.setObjectName("Primary")
        self.link_button.setDefault(True)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.field.setFocus()

    def _submit(self) -> None:
        self.set_busy(True)
        self.submitted.emit(self.field.text().strip())

    def set_busy(self, busy: bool) -> None:
        self.link_button.setEnabled(not busy)
        self.link_button.setText("Checking at the gateway…" if busy else "Link")

    def show_error(self, sentence: str) -> None:
        self.set_busy(False)
        show_error_line(self.error, sentence)
        self.field.setFocus()


def resend_box(refund: RefundView, gateway: str, parent: QWidget) -> tuple[QMessageBox, QPushButton]:
    """The confirmation of sending a refund again, Cancel the default (a second refund at a
    gateway that ignores idempotency keys cannot be taken back). Returns it and its Send
    button."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Send refund again")
    box.setText(f"Send refund {refund.id} of {refund.amount_text} to {gateway} again?")
    box.setInformativeText(
        "If the first request did reach the gateway and it ignores idempotency keys, the "
        "customer is refunded twice. Send it again only when the evidence shows the gateway "
        "has no such refund."
    )
    send = box.addButton("Send again", QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    return box, send
