"""The detail pane beside the Payments table: every field of one payment, what can still be
refunded, its refunds and its webhook deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QSizePolicy,
    QWidget,
)

from core.money import format_money
from core.payments.listing import payment_detail
from core.store.db import Database
from desktop.lists.detail_pane import DetailPane, field_grid, fill_fields
from desktop.payments.model import METHOD_NAMES, STATUS_NAMES
from desktop.shell import theme
from desktop.shell.named import named


@dataclass(frozen=True)
class DetailData:
    """Plain values copied out of the session in the worker (ORM objects do not cross threads)."""

    id: str
    status: str
    title: str  # the amount, formatted
    fields: list[tuple[str, str]]
    refunds: list[tuple[str, str]]  # (text, status)
    webhooks: list[tuple[str, str]]


def _when(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S") if dt else "—"


def load_detail(db: Database, payment_id: str) -> DetailData:
    """Read one payment's detail (runs in the pool)."""
    d = payment_detail(db, payment_id)
    p = d.payment
    cur = p.currency
    fields = [
        ("Payment", p.id),
        ("Status", STATUS_NAMES.get(p.status, p.status)),
        ("Amount", format_money(p.amount, cur)),
        ("Refunded", format_money(d.processed_refunds, cur)),
        (
            "Requested",
            f"{format_money(d.pending_refunds, cur)}, not processed yet"
            if d.pending_refunds
            else "—",
        ),
        ("Refundable", format_money(d.refundable, cur)),
        ("Captured", "Yes" if p.captured else "No"),
        ("Method", METHOD_NAMES.get(p.method, p.method)),
        ("Merchant", f"{d.merchant_name} ({p.merchant_id})"),
        ("Order", p.order_id),
        ("Customer email", p.customer_email or "—"),
        ("Customer VPA", p.customer_vpa or "—"),
        ("Card", f"•••• {p.card_last4}" if p.card_last4 else "—"),
        ("Error code", p.error_code or "—"),
        ("Error", p.error_description or "—"),
        ("Created", _when(p.created_at)),
        ("Updated", _when(p.updated_at)),
    ]
    refunds = [
        (
            f"{r.id} · {format_money(r.amount, r.currency)} · {r.status.replace('_', ' ')}"
            f" · {_when(r.created_at)}",
            r.status,
        )
        for r in d.refunds
    ]
    webhooks = [
        (
            f"{w.event} · {w.status} · {w.attempts} attempt{'s' if w.attempts != 1 else ''}"
            + (f" · HTTP {w.response_code}" if w.response_code else "")
            + f" · {_when(w.created_at)}",
            w.status,
        )
        for w in d.webhooks
    ]
    return DetailData(p.id, p.status, format_money(p.amount, cur), fields, refunds, webhooks)


class PaymentDetailPane(DetailPane):
    """Shows a ``DetailData``; ``closed`` when the person hides the pane."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, min_width=300)
        self.data: DetailData | None = None

        lay = self.body_layout

        lay.addWidget(named(QLabel("PAYMENT"), "SectionTitle"))
        self.grid = field_grid()
        lay.addLayout(self.grid)

        self.refunds_title = named(QLabel("REFUNDS"), "SectionTitle")
        lay.addWidget(self.refunds_title)
        self.refunds = self._small_list()
        lay.addWidget(self.refunds)
        self.webhooks_title = named(QLabel("WEBHOOKS"), "SectionTitle")
        lay.addWidget(self.webhooks_title)
        self.webhooks = self._small_list()
        lay.addWidget(self.webhooks)
        lay.addStretch(1)

    def _small_list(self) -> QListWidget:
        w = QListWidget(self)
        w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        w.setMaximumHeight(110)
        w.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        w.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        return w

    def show_loading(self, payment_id: str) -> None:
        self.subtitle.setText(f"{payment_id} · loading…")

    def show_error(self, message: str) -> None:
        self.subtitle.setText(message)

    def show_detail(self, data: DetailData) -> None:
        self.data = data
        self.title.setText(data.title)
        self.badge.set_status(data.status, STATUS_NAMES.get(data.status, data.status))
        self.subtitle.setText(data.id)
        self.values = fill_fields(self.grid, data.fields)
        self._fill(self.refunds, self.refunds_title, "REFUNDS", data.refunds, "No refunds")
        self._fill(self.webhooks, self.webhooks_title, "WEBHOOKS", data.webhooks, "No webhooks")

    def _fill(
        self,
        widget: QListWidget,
        title: QLabel,
        name: str,
        items: list[tuple[str, str]],
        none: str,
    ) -> None:
        widget.clear()
        title.setText(f"{name} ({len(items)})")
        if not items:
            widget.addItem(none)
            widget.item(0).setForeground(theme.colour("muted"))
        for text, status in items:
            widget.addItem(text)
            widget.item(widget.count() - 1).setForeground(theme.status_colours(status)[0])
        rows = max(1, widget.count())
        widget.setFixedHeight(min(110, 8 + rows * (widget.fontMetrics().height() + 6)))

    def value(self, name: str) -> str:
        """The shown value of field ``name`` (``"Order"``, ``"Refundable"``, ...)."""
        label = self.values.get(name)
        return label.text() if label is not None else ""
