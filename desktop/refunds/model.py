"""The Refunds table model: a ``KeysetTableModel`` of ``RefundView`` rows (no database handle;
paging, live updates and the stale-read guard are the base's). Merchant names are handed in;
rows carry a version, so a row read later never replaces a newer version on screen."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt

from core.money import format_money
from core.refunds.labels import STATUS_LABELS
from core.refunds.records import RefundView
from desktop.lists.keyset_model import ROW_ROLE as ROW_ROLE
from desktop.lists.keyset_model import MerchantClockModel
from desktop.lists.table_look import local_time

COLUMNS: tuple[tuple[str, str], ...] = (
    ("requested", "Requested"),
    ("id", "Refund"),
    ("payment", "Payment"),
    ("merchant", "Merchant"),
    ("amount", "Amount"),
    ("kind", "Kind"),
    ("reason", "Reason"),
    ("requested_by", "Requested by"),
    ("age", "Age"),
    ("status", "Status"),
)
COLUMN = {key: i for i, (key, _) in enumerate(COLUMNS)}

STATUS_ROLE = Qt.ItemDataRole.UserRole + 2

# The refund vocabulary's labels ("Awaiting approval", ...): one wording per status.
STATUS_NAMES = STATUS_LABELS
KIND_NAMES = {"full": "Full", "partial": "Partial", "pro_rata": "Pro rata"}
REASON_NAMES = {
    "requested_by_customer": "Customer asked",
    "duplicate": "Duplicate",
    "fraudulent": "Fraudulent",
    "pro_rata": "Pro rata",
    "other": "Other",
}

_ID_COLUMNS = (COLUMN["id"], COLUMN["payment"])


def reason_name(code: str) -> str:
    """The short name of a refund reason: the default reasons' own, and for a code an admin
    added to the policy's list its words ("late_delivery" → "Late delivery")."""
    return REASON_NAMES.get(code) or code.replace("_", " ").capitalize()


def age_text(age: timedelta) -> str:
    """``just now`` / ``12 min`` / ``5 h`` / ``3 d 4 h``: what a queue needs at a glance."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    days, rest = divmod(seconds, 86400)
    hours = rest // 3600
    return f"{days} d {hours} h" if hours and days < 10 else f"{days} d"


def short_time(when: datetime, now: datetime) -> str:
    """``17 Jan 05:45`` this year, ``17 Jan 2025`` before (the tooltip has the full time)."""
    local = when.astimezone()
    if local.year == now.astimezone().year:
        return local.strftime("%d %b %H:%M")
    return local.strftime("%d %b %Y")


class RefundsModel(MerchantClockModel[RefundView]):
    """Fetched pages of one query, newest first. ``now`` gives the clock's time for the Age
    column; the view calls ``tick`` now and then so ages move on their own."""

    COLUMNS = COLUMNS
    RIGHT_ALIGNED = frozenset({COLUMN["amount"]})

    def version(self, row: RefundView) -> int:
        # Every change bumps the version: an older read arriving late must not win.
        return row.version

    def tick(self) -> None:
        """The clock moved: redraw the Age column."""
        self._column_changed(COLUMN["age"])

    def cell(self, row: RefundView, col: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self.alignment(col)
        if role == Qt.ItemDataRole.FontRole:
            if col == COLUMN["amount"]:
                return self.number_font
            return self.id_font if col in _ID_COLUMNS else None
        if role == STATUS_ROLE:
            return row.status
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        return None

    def _display(self, row: RefundView, col: int) -> str:
        if col == COLUMN["requested"]:
            return short_time(row.created_at, self._now())
        if col == COLUMN["id"]:
            return row.id
        if col == COLUMN["payment"]:
            return row.payment_id
        if col == COLUMN["merchant"]:
            return self.merchant_name(row.merchant_id)
        if col == COLUMN["amount"]:
            return format_money(row.amount, row.currency)
        if col == COLUMN["kind"]:
            return KIND_NAMES.get(row.kind, row.kind)
        if col == COLUMN["reason"]:
            return reason_name(row.reason)
        if col == COLUMN["requested_by"]:
            return row.requested_by
        if col == COLUMN["age"]:
            return age_text(row.age(self._now()))
        return STATUS_NAMES.get(row.status, row.status)

    def _tooltip(self, row: RefundView, col: int) -> str | None:
        # Ids are elided in the middle when the table is narrow: the tooltip has them whole.
        if col == COLUMN["id"]:
            return row.id
        if col == COLUMN["payment"]:
            return row.payment_id
        if col == COLUMN["requested"]:
            return row.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        if col == COLUMN["age"]:
            return f"Requested {local_time(row.created_at)}"
        if col == COLUMN["merchant"]:
            return row.merchant_id
        if col == COLUMN["reason"] and row.note:
            return row.note
        if col == COLUMN["status"]:
            if row.status == "failed" and row.failure_reason:
                return row.failure_reason
            if row.decided_by:
                when = local_time(row.decided_at) if row.decided_at else ""
                note = f"\n{row.decision_note}" if row.decision_note else ""
                return f"Decided by {row.decided_by} {when}".rstrip() + note
        return None
