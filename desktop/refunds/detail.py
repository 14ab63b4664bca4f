"""The detail pane beside the Refunds table: the refund, its payment's summary and what is
still refundable, every refund of that payment, the pro-rata computation behind a pro-rata
refund, and this refund's audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QWidget,
)

from core.access.activity import action_title
from core.money import format_money
from core.refunds.queue import ACTIONS as ACTIONS
from core.refunds.queue import detail_with_rights
from core.refunds.records import RefundDetail, RefundView
from core.store.db import Database
from desktop.lists.detail_pane import DetailPane
from desktop.payments.model import METHOD_NAMES
from desktop.payments.model import STATUS_NAMES as PAYMENT_STATUS_NAMES
from desktop.refunds.model import KIND_NAMES, REASON_NAMES, STATUS_NAMES
from desktop.shell import theme
from desktop.shell.named import named

# The actions the view offers on a refund, as ``core.refunds.service.why_not`` names them.
_LIST_MAX_HEIGHT = 150


@dataclass(frozen=True)
class RefundDetailData:
    """Everything the pane and the action buttons need, read in one go in the pool.
    ``why_not`` maps each action to the sentence saying why this person may not take it
    (None: they may)."""

    detail: RefundDetail
    why_not: dict[str, str | None]

    @property
    def refund(self) -> RefundView:
        return self.detail.refund


def load_refund_detail(db: Database, refund_id: str, actor: str) -> RefundDetailData:
    """Read one refund's detail and what ``actor`` may do with it (runs in the pool)."""
    found = detail_with_rights(db, refund_id, actor)
    return RefundDetailData(found.detail, found.why_not)


def _when(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S") if dt else "—"


def _short_when(dt: datetime) -> str:
    return dt.astimezone().strftime("%d %b %H:%M")


def refund_fields(r: RefundView) -> list[tuple[str, str]]:
    fields = [
        ("Refund", r.id),
        ("Kind", KIND_NAMES.get(r.kind, r.kind)),
        ("Reason", REASON_NAMES.get(r.reason, r.reason)),
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


class RefundDetailPane(DetailPane):
    """Shows a ``RefundDetailData``; ``closed`` when the person hides the pane."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, min_width=320)
        self.data: RefundDetailData | None = None

        lay = self.body_layout

        lay.addWidget(named(QLabel("REFUND"), "SectionTitle"))
        self.refund_grid = self._grid()
        lay.addLayout(self.refund_grid)

        lay.addWidget(named(QLabel("PAYMENT"), "SectionTitle"))
        self.payment_grid = self._grid()
        lay.addLayout(self.payment_grid)

        self.siblings_title = named(QLabel("REFUNDS OF THIS PAYMENT"), "SectionTitle")
        lay.addWidget(self.siblings_title)
        self.siblings = self._small_list()
        lay.addWidget(self.siblings)

        self.pro_rata_title = named(QLabel("PRO-RATA COMPUTATION"), "SectionTitle")
        lay.addWidget(self.pro_rata_title)
        self.pro_rata = named(QLabel(""), "FieldValue")
        self.pro_rata.setWordWrap(True)
        self.pro_rata.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.pro_rata)

        self.audit_title = named(QLabel("AUDIT TRAIL"), "SectionTitle")
        lay.addWidget(self.audit_title)
        self.audit = self._small_list()
        lay.addWidget(self.audit)
        lay.addStretch(1)

    @staticmethod
    def _grid() -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(5)
        grid.setColumnStretch(1, 1)
        return grid

    def _small_list(self) -> QListWidget:
        w = QListWidget(self)
        w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        w.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        w.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        w.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        w.setTextElideMode(Qt.TextElideMode.ElideRight)
        w.setSpacing(2)
        return w

    def show_loading(self, refund_id: str) -> None:
        self.subtitle.setText(f"{refund_id} · loading…")

    def show_error(self, message: str) -> None:
        self.subtitle.setText(message)

    def show_detail(self, data: RefundDetailData) -> None:
        self.data = data
        d = data.detail
        r = d.refund
        self.title.setText(r.amount_text)
        self.badge.set_status(r.status, STATUS_NAMES.get(r.status, r.status))
        self.subtitle.setText(f"{r.id} · {KIND_NAMES.get(r.kind, r.kind)} refund of {d.payment.id}")
        self.values = {}
        self._fill_grid(self.refund_grid, refund_fields(r))
        self._fill_grid(self.payment_grid, payment_fields(d))
        refundable = self.values.get("Refundable")
        if refundable is not None:
            font = QFont(refundable.font())
            font.setWeight(QFont.Weight.DemiBold)
            refundable.setFont(font)

        self.siblings.clear()
        self.siblings_title.setText(f"REFUNDS OF THIS PAYMENT ({len(d.refunds)})")
        for s in d.refunds:
            marker = "▸ " if s.id == r.id else ""
            item = QListWidgetItem(
                f"{marker}{s.amount_text} · {STATUS_NAMES.get(s.status, s.status)}\n"
                f"{s.id} · {KIND_NAMES.get(s.kind, s.kind)} · {s.requested_by}"
                f" · {_short_when(s.created_at)}"
            )
            item.setForeground(theme.status_colours(s.status)[0])
            item.setToolTip(s.id)
            if s.id == r.id:
                font = QFont(item.font())
                font.setWeight(QFont.Weight.DemiBold)
                item.setFont(font)
            self.siblings.addItem(item)
        self._fit(self.siblings)

        lines = pro_rata_lines(d)
        self.pro_rata_title.setVisible(bool(lines))
        self.pro_rata.setVisible(bool(lines))
        self.pro_rata.setText("\n".join(lines))

        self.audit.clear()
        self.audit_title.setText(f"AUDIT TRAIL ({len(d.audit)})")
        for e in d.audit:
            extra = (
                e.details.get("note")
                or e.details.get("failure_reason")
                or e.details.get("approval")
            )
            text = f"{_short_when(e.at)} · {e.actor} · {action_title(e.action)}"
            item = QListWidgetItem(text + (f"\n    {extra}" if extra else ""))
            item.setToolTip(
                f"{_when(e.at)} · {e.actor} · {e.action}"
                + (f" · client {e.client}" if e.client else "")
                + (f"\n{extra}" if extra else "")
            )
            self.audit.addItem(item)
        if not d.audit:
            item = QListWidgetItem("No audit events")
            item.setForeground(theme.colour("muted"))
            self.audit.addItem(item)
        self._fit(self.audit)

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

    @staticmethod
    def _fit(widget: QListWidget) -> None:
        height = 8
        for i in range(widget.count()):
            height += widget.sizeHintForRow(i)
        widget.setFixedHeight(min(_LIST_MAX_HEIGHT, max(28, height)))

    def value(self, name: str) -> str:
        """The shown value of field ``name`` (``"Refundable"``, ``"Decided by"``, ...)."""
        label = self.values.get(name)
        return label.text() if label is not None else ""

    def audit_lines(self) -> list[str]:
        return [self.audit.item(i).text() for i in range(self.audit.count())]

    def sibling_lines(self) -> list[str]:
        return [self.siblings.item(i).text() for i in range(self.siblings.count())]
