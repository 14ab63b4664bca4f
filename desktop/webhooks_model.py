"""The Webhooks table model: a ``KeysetTableModel`` of ``core.webhooks.WebhookRow`` rows (no
database handle; paging and live updates are the base's). Merchant names are handed in; rows
carry no version, so ``update_rows`` orders reads by the number the view gives each one.

The "Next retry" column is relative to the injectable clock ("in 4 min"); the view calls
``tick`` on a timer so it moves on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt

from core.webhooks import WebhookRow
from desktop import theme
from desktop.keyset_model import ROW_ROLE as ROW_ROLE
from desktop.keyset_model import KeysetTableModel
from desktop.refunds_model import short_time

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

SORT_ROLE = Qt.ItemDataRole.UserRole
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


class WebhooksModel(KeysetTableModel[WebhookRow]):
    """Fetched pages of one query, newest first. ``now`` gives the clock's time."""

    COLUMNS = COLUMNS
    RIGHT_ALIGNED = frozenset(_NUMBER_COLUMNS)

    def __init__(self, now: Callable[[], datetime], parent: Any = None) -> None:
        super().__init__(parent)
        self._now = now
        # The read that produced each shown row (see ``update_rows``).
        self._read_of: dict[str, int] = {}
        self._names: dict[str, str] = {}

    def set_merchant_names(self, names: dict[str, str]) -> None:
        self._names = dict(names)
        self._column_changed(COLUMN["merchant"])

    def merchant_name(self, merchant_id: str) -> str:
        return self._names.get(merchant_id, merchant_id)

    def reset(self, rows: list[WebhookRow], *, more: bool) -> None:
        """Replace everything with the first page of a new query."""
        self._read_of = {}
        super().reset(rows, more=more)

    def update_rows(self, rows: Iterable[WebhookRow], read: int = 0) -> list[int]:
        """Replace rows already shown by their newer version, in place; returns the row
        numbers that changed. ``read`` numbers the read the rows come from (increasing in
        the order reads were started): rows from a read older than the one a row was last
        replaced by are ignored, so a slow read cannot put back an older status."""
        newer: list[WebhookRow] = []
        for row in rows:
            if row.id not in self._index or read < self._read_of.get(row.id, 0):
                continue
            self._read_of[row.id] = read
            newer.append(row)
        return super().update_rows(newer)

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
        if role == SORT_ROLE:
            if col == COLUMN["created"]:
                return row.created_at.timestamp()
            if col == COLUMN["attempts"]:
                return row.attempts
            if col == COLUMN["next_retry"]:
                return row.next_retry_at.timestamp() if row.next_retry_at else None
            return self._display(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        return None

    def _display(self, row: WebhookRow, col: int) -> str:
        if col == COLUMN["created"]:
            return short_time(row.created_at, self._now())
        if col == COLUMN["id"]:
            return row.id
        if col == COLUMN["merchant"]:
            return self._names.get(row.merchant_id, row.merchant_id)
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
            return row.merchant_id
        if col in (COLUMN["response"], COLUMN["status"]) and row.last_error:
            return row.last_error
        if col == COLUMN["next_retry"] and row.status == "pending" and row.next_retry_at:
            return row.next_retry_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        if col == COLUMN["event"] and row.entity_id:
            return f"About {row.entity_id}"
        return None
