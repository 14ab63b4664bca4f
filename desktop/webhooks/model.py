"""The Webhooks table model: a ``KeysetTableModel`` of ``core.webhooks.deliveries.WebhookRow`` rows (no
database handle; paging, live updates and the stale-read guard are the base's). Merchant names
are handed in; rows carry no version, so reads are ordered by the number each got as it started.

The "Next retry" column is relative to the injectable clock ("in 4 min"); the view calls
``tick`` on a timer so it moves on its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt

from core.webhooks.deliveries import WebhookRow
from desktop.lists.keyset_model import ROW_ROLE as ROW_ROLE
from desktop.lists.keyset_model import MerchantClockModel
from desktop.refunds.model import short_time
from desktop.shell import theme

COLUMNS: tuple[tuple[str, str], ...] = (
    ("created", "Created"),
    ("id", "Log"),
    ("merchant", "Merchant"),
    ("event", "Event"),
    ("status", "Status"),
    ("attempts", "Attempts"),
    ("next_retry", "Next retry"),
    # Last: it stretches, and an error sentence gets the room there is.
    ("response", "Last response"),
)
COLUMN = {key: i for i, (key, _) in enumerate(COLUMNS)}

STATUS_ROLE = Qt.ItemDataRole.UserRole + 2

STATUS_NAMES = {"pending": "Pending", "success": "Delivered", "failed": "Failed"}

# The time ranges the view and the bulk retry dialog offer: (label, how far back).
TIME_RANGES: tuple[tuple[str, timedelta | None], ...] = (
    ("Any time", None),
    ("Last hour", timedelta(hours=1)),
    ("Last 24 hours", timedelta(days=1)),
    ("Last 7 days", timedelta(days=7)),
    ("Last 30 days", timedelta(days=30)),
)


def range_start(index: int, now: datetime) -> datetime | None:
    """Where time range ``index`` of ``TIME_RANGES`` starts, counted back from ``now``."""
    span = TIME_RANGES[index][1] if 0 <= index < len(TIME_RANGES) else None
    return None if span is None else now - span


_NUMBER_COLUMNS = (COLUMN["attempts"],)


def relative_time(when: datetime, now: datetime) -> str:
    """``in 45 s`` / ``in 4 min`` / ``in 2 h 5 min`` / ``in 3 d`` ahead, ``due now`` otherwise."""
    seconds = int((when - now).total_seconds())
    if seconds <= 0:
        return "due now"
    if seconds < 60:
        return f"in {seconds} s"
    minutes = (seconds + 59) // 60  # "in 1 min" until it is due, never "in 0 min"
    if minutes < 60:
        return f"in {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"
    days, hours = divmod(hours, 24)
    return f"in {days} d {hours} h" if hours else f"in {days} d"


def next_retry_text(row: WebhookRow, now: datetime) -> str:
    """What the Next retry column says: only a pending log has one."""
    if row.status != "pending" or row.next_retry_at is None:
        return "—"
    return relative_time(row.next_retry_at, now)


def response_text(row: WebhookRow) -> str:
    """The last answer: its HTTP code, or the sentence when no answer came (a timeout)."""
    if row.response_code is not None:
        return str(row.response_code)
    if row.last_error:
        return row.last_error
    return "—"


class WebhooksModel(MerchantClockModel[WebhookRow]):
    """Fetched pages of one query, newest first. ``now`` gives the clock's time."""

    COLUMNS = COLUMNS
    RIGHT_ALIGNED = frozenset(_NUMBER_COLUMNS)

    def tick(self) -> None:
        """The clock moved: redraw the Next retry column."""
        self._column_changed(COLUMN["next_retry"])

    def cell(self, row: WebhookRow, col: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self.alignment(col)
        if role == Qt.ItemDataRole.FontRole:
            if col in _NUMBER_COLUMNS:
                return self.number_font
            return self.id_font if col == COLUMN["id"] else None
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(row, col)
        if role == STATUS_ROLE:
            return row.status
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        return None

    def _display(self, row: WebhookRow, col: int) -> str:
        if col == COLUMN["created"]:
            return short_time(row.created_at, self._now())
        if col == COLUMN["id"]:
            return row.id
        if col == COLUMN["merchant"]:
            return self.merchant_name(row.merchant_id)
        if col == COLUMN["event"]:
            return row.event
        if col == COLUMN["status"]:
            return STATUS_NAMES.get(row.status, row.status)
        if col == COLUMN["attempts"]:
            return str(row.attempts)
        if col == COLUMN["response"]:
            return response_text(row)
        return next_retry_text(row, self._now())

    def _foreground(self, row: WebhookRow, col: int) -> Any:
        if col == COLUMN["response"]:
            code = row.response_code
            if code is None and not row.last_error:
                return theme.colour("muted")
            if code is None or not 200 <= code < 300:
                return theme.status_colours("failed")[0]
            return None
        if col == COLUMN["next_retry"] and (row.status != "pending" or row.next_retry_at is None):
            return theme.colour("muted")
        return None

    def _tooltip(self, row: WebhookRow, col: int) -> str | None:
        if col == COLUMN["created"]:
            return row.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        if col == COLUMN["merchant"]:
            name = self.merchant_name(row.merchant_id)
            return f"{name} ({row.merchant_id})" if name != row.merchant_id else name
        if col in (COLUMN["response"], COLUMN["status"]) and row.last_error:
            return row.last_error
        if col == COLUMN["next_retry"] and row.status == "pending" and row.next_retry_at:
            return row.next_retry_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        if col == COLUMN["event"] and row.entity_id:
            return f"About {row.entity_id}"
        return None
