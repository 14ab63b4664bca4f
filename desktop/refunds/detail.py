"""The detail pane beside the Refunds table: why this person cannot approve the refund (when
they cannot), the refund, its payment's summary and what is still refundable, every refund of
that payment, the pro-rata computation behind a pro-rata refund, what Paydesk knows of it at
the gateway (``desktop.refunds.review``), and this refund's audit trail. The refunds of the
payment and the audit trail are lines of the pane itself, so they scroll with it rather than
in boxes of their own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.access.activity import action_title
from core.gateway.needs_check import GatewayReview, read_review
from core.money import format_money
from core.refunds.labels import NEEDS_CHECK_LABEL
from core.refunds.queue import ACTIONS as ACTIONS
from core.refunds.queue import detail_with_rights
from core.refunds.records import RefundDetail, RefundView
from core.store.db import Database
from desktop.lists.detail_pane import DetailPane
from desktop.lists.filter_row import FilterRow
from desktop.payments.model import METHOD_NAMES
from desktop.payments.model import STATUS_NAMES as PAYMENT_STATUS_NAMES
from desktop.refunds.model import KIND_NAMES, STATUS_NAMES, reason_name
from desktop.refunds.review import GatewaySection
from desktop.shell import theme
from desktop.shell.named import named


@dataclass(frozen=True)
class RefundDetailData:
    """Everything the pane and the action buttons need, read in one go in the pool.
    ``why_not`` maps each action to the sentence saying why this person may not take it
    (None: they may)."""

    detail: RefundDetail
    why_not: dict[str, str | None]
    review: GatewayReview | None = None  # a gateway payment's refund: its state there

    @property
    def refund(self) -> RefundView:
        return self.detail.refund


def load_refund_detail(db: Database, refund_id: str, actor: str) -> RefundDetailData:
    """Read one refund's detail and what ``actor`` may do with it (runs in the pool)."""
    found = detail_with_rights(db, refund_id, actor)
    checked = None
    if found.detail.refund.gateway is not None:
        checked = read_review(db, actor, refund_id)
    return RefundDetailData(found.detail, found.why_not, checked)


def show_note(label: QLabel, text: str) -> None:
    """Show why an action is off in ``label`` (an ``ActionNote``), in the current scheme's
    colours of something waiting for the person; nothing hides it."""
    fg, bg = theme.status_colours("pending_approval")
    label.setStyleSheet(
        f"QLabel#ActionNote {{ color: {fg.name()}; background: {bg.name()};"
        " border-radius: 6px; padding: 6px 8px; }"
    )
    label.setText(text)
    label.setVisible(bool(text))


def _when(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S") if dt else "—"


def _short_when(dt: datetime) -> str:
    return dt.astimezone().strftime("%d %b %H:%M")


def refund_fields(r: RefundView) -> list[tuple[str, str]]:
    fields = [
        ("Refund", r.id),
        ("Kind", KIND_NAMES.get(r.kind, r.kind)),
        ("Reason", reason_name(r.reason)),
        ("Note", r.note or "—"),
        ("Requested by", r.requested_by),
        ("Requested", _when(r.created_at)),
    ]
    if r.decided_by:
        fields.append(("Decided by", f"{r.decided_by} · {_when(r.decided_at)}"))
    if r.decision_note:
        fields.append(("Decision note", r.decision_note))
    if r.processed_at:
        fields.append(("Processed", _when(r.processed_at)))
    if r.failure_reason:
        fields.append(("Failure", r.failure_reason))
    return fields


def payment_fields(d: RefundDetail) -> list[tuple[str, str]]:
    p = d.payment
    cur = p.currency
    return [
        ("Payment", p.id),
        ("Merchant", f"{p.merchant_name} ({p.merchant_id})"),
        ("Order", p.order_id),
        ("Amount", format_money(p.amount, cur)),
        ("Refunded", format_money(p.refunded_amount, cur)),
        ("Refundable", format_money(d.refundable, cur)),
        ("Method", METHOD_NAMES.get(p.method, p.method)),
        (
            "Status",
            PAYMENT_STATUS_NAMES.get(p.status, p.status) + ("" if p.captured else ", not captured"),
        ),
        ("Created", _when(p.created_at)),
    ]


def pro_rata_lines(d: RefundDetail) -> list[str]:
    q = d.pro_rata
    if q is None or q.subscription_id is None:
        return []
    lines = [q.explain()]
    if q.period_start and q.period_end:
        lines.append(
            f"Subscription {q.subscription_id}: period {_when(q.period_start)} to {_when(q.period_end)}"
        )
    if q.used_until and q.used_until != q.at:
        lines.append(f"Use stopped at the cancellation on {_when(q.used_until)}.")
    if q.window_ends_at:
        lines.append(f"Refund window closes {_when(q.window_ends_at)}.")
    return lines


# A line of the pane's lists: its text, tooltip, font (None: the pane's) and colour (None: the
# text's).
_Line = tuple[str, str, QFont | None, str | None]


class RefundDetailPane(DetailPane):
    """Shows a ``RefundDetailData``; ``closed`` when the person hides the pane."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, min_width=300)
        self.data: RefundDetailData | None = None

        for button in self.findChildren(QToolButton):  # the frame's close button
            button.setAccessibleDescription("Hide the refund's detail")
        self._wrap_head()
        lay = self.body_layout
        # Why the action a person came for is off (Approve on their own request, ...), where
        # they are looking rather than only in a tooltip.
        self.note = named(QLabel(""), "ActionNote")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.setAccessibleName("Why an action is unavailable")
        self.note.hide()
        lay.addWidget(self.note)

        lay.addWidget(named(QLabel("REFUND"), "SectionTitle"))
        self.refund_grid = self._grid()
        lay.addLayout(self.refund_grid)

        lay.addWidget(named(QLabel("PAYMENT"), "SectionTitle"))
        self.payment_grid = self._grid()
        lay.addLayout(self.payment_grid)

        self.siblings_title = named(QLabel("REFUNDS OF THIS PAYMENT"), "SectionTitle")
        lay.addWidget(self.siblings_title)
        self.siblings = self._lines_box()
        lay.addWidget(self.siblings)

        self.pro_rata_title = named(QLabel("PRO-RATA COMPUTATION"), "SectionTitle")
        lay.addWidget(self.pro_rata_title)
        self.pro_rata = named(QLabel(""), "FieldValue")
        self.pro_rata.setWordWrap(True)
        self.pro_rata.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.pro_rata)

        self.gateway = GatewaySection(self)
        lay.addWidget(self.gateway)

        self.audit_title = named(QLabel("AUDIT TRAIL"), "SectionTitle")
        lay.addWidget(self.audit_title)
        self.audit = self._lines_box()
        lay.addWidget(self.audit)
        lay.addStretch(1)
        self._sibling_lines: list[str] = []
        self._audit_lines: list[str] = []

    @staticmethod
    def _grid() -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(5)
        grid.setColumnStretch(1, 1)
        return grid

    def _wrap_head(self) -> None:
        """The frame's title row holds the amount, the badge and the close button side by
        side, wider than a narrow pane for a long amount: here the badge goes under the
        amount when they do not fit beside each other (the close button stays at the right)."""
        item = self.body_layout.itemAt(0)
        head = item.layout() if item is not None else None
        if not isinstance(head, QHBoxLayout) or head.indexOf(self.title) < 0:
            return  # laid out otherwise: left as it is
        at = head.indexOf(self.title)
        for w in (self.title, self.badge):
            head.removeWidget(w)
        words = FilterRow()
        words.addWidget(self.title)
        words.addWidget(self.badge)
        head.insertLayout(at, words, 1)

    def _lines_box(self) -> QWidget:
        box = QWidget(self)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 2, 0, 4)
        lay.setSpacing(6)
        return box

    @staticmethod
    def _fill_lines(box: QWidget, lines: Sequence[_Line]) -> None:
        """Replace ``box``'s lines by (text, tooltip, font, colour) each."""
        lay = box.layout()
        assert lay is not None
        while lay.count():
            item = lay.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for text, tip, font, colour in lines:
            label = named(QLabel(text), "FieldValue")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setToolTip(tip)
            if font is not None:
                label.setFont(font)
            if colour is not None:
                label.setStyleSheet(f"color: {colour};")
            lay.addWidget(label)

    def set_note(self, text: str) -> None:
        """Show ``text`` at the top of the pane (nothing: hide the note)."""
        show_note(self.note, text)

    def show_loading(self, refund_id: str) -> None:
        self.subtitle.setText(f"{refund_id} · loading…")

    def show_error(self, message: str) -> None:
        self.subtitle.setText(message)

    def show_detail(self, data: RefundDetailData) -> None:
        self.data = data
        d = data.detail
        r = d.refund
        self.title.setText(r.amount_text)
        if data.review is not None and data.review.needs_check:
            self.badge.set_status("failed", NEEDS_CHECK_LABEL)
        else:
            self.badge.set_status(r.status, STATUS_NAMES.get(r.status, r.status))
        self.subtitle.setText(f"{r.id} · {KIND_NAMES.get(r.kind, r.kind)} refund of {d.payment.id}")
        self.values = {}
        self._fill_grid(self.refund_grid, refund_fields(r))
        self._fill_grid(self.payment_grid, payment_fields(d))
        refundable = self.values.get("Refundable")
        if refundable is not None:
            bold = QFont(refundable.font())
            bold.setWeight(QFont.Weight.DemiBold)
            refundable.setFont(bold)

        self.siblings_title.setText(f"REFUNDS OF THIS PAYMENT ({len(d.refunds)})")
        siblings: list[_Line] = []
        for s in d.refunds:
            marker = "▸ " if s.id == r.id else ""
            text = (
                f"{marker}{s.amount_text} · {STATUS_NAMES.get(s.status, s.status)}\n"
                f"{s.id} · {KIND_NAMES.get(s.kind, s.kind)} · {s.requested_by}"
                f" · {_short_when(s.created_at)}"
            )
            font: QFont | None = None
            if s.id == r.id:
                font = QFont(self.font())
                font.setWeight(QFont.Weight.DemiBold)
            siblings.append((text, s.id, font, theme.status_colours(s.status)[0].name()))
        self._sibling_lines = [line[0] for line in siblings]
        self._fill_lines(self.siblings, siblings)

        lines = pro_rata_lines(d)
        self.pro_rata_title.setVisible(bool(lines))
        self.pro_rata.setVisible(bool(lines))
        self.pro_rata.setText("\n".join(lines))
        self.gateway.show_review(data.review)

        self.audit_title.setText(f"AUDIT TRAIL ({len(d.audit)})")
        audit: list[_Line] = []
        for e in d.audit:
            extra = (
                e.details.get("note")
                or e.details.get("failure_reason")
                or e.details.get("approval")
            )
            text = f"{_short_when(e.at)} · {e.actor} · {action_title(e.action)}"
            tip = (
                f"{_when(e.at)} · {e.actor} · {e.action}"
                + (f" · client {e.client}" if e.client else "")
                + (f"\n{extra}" if extra else "")
            )
            audit.append((text + (f"\n    {extra}" if extra else ""), tip, None, None))
        if not d.audit:
            audit.append(("No audit events", "", None, theme.colour("muted").name()))
        self._audit_lines = [line[0] for line in audit]
        self._fill_lines(self.audit, audit)

    def _fill_grid(self, grid: QGridLayout, fields: list[tuple[str, str]]) -> None:
        while grid.count():
            item = grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for row, (name, value) in enumerate(fields):
            key = named(QLabel(name), "FieldName")
            val = named(QLabel(value), "FieldValue")
            val.setWordWrap(True)
            val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(key, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(val, row, 1)
            self.values[name] = val

    def value(self, name: str) -> str:
        """The shown value of field ``name`` (``"Refundable"``, ``"Decided by"``, ...)."""
        label = self.values.get(name)
        return label.text() if label is not None else ""

    def audit_lines(self) -> list[str]:
        return list(self._audit_lines)

    def sibling_lines(self) -> list[str]:
        return list(self._sibling_lines)
