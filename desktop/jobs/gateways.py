"""The Jobs view's Gateways section: each gateway connection's reachability, last sync and the
gateway's queue status, read with ``core.gateway.status`` in the pool.

The read makes a short network call per gateway, so it runs under its own runner key, apart
from the tasks and the copies: a gateway that does not answer holds up only this table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.gateway.status import QUEUE_KEYS, REACHABLE, UNREACHABLE, GatewayStatus
from core.gateway.status import gateway_statuses as read_statuses
from desktop.jobs.snapshot_model import RIGHT, Index, SnapshotModel, section_title, snapshot_table
from desktop.jobs.times import relative
from desktop.lists.status_badge import StatusBadgeDelegate
from desktop.shell import theme
from desktop.shell.named import named

GATEWAY_COLUMNS = ("Connection", "Reachability", "Last sync", "Sync outcome", "Pending",
                   "Processing", "Completed", "Failed", "Worker")  # fmt: skip
REACH_COLUMN = 1
OUTCOME_COLUMN = 3
BADGE_ROLE = Qt.ItemDataRole.UserRole + 3
_REACH_TEXT = {REACHABLE: "Reachable", UNREACHABLE: "Unreachable"}
_REACH_BADGE = {REACHABLE: "success", UNREACHABLE: "failed"}
_OUTCOME_TEXT = {"ok": "OK", "partial": "Partial", "error": "Error"}
_OUTCOME_BADGE = {"ok": "ok", "partial": "pending", "error": "error"}


def reach_text(s: GatewayStatus) -> str:
    return _REACH_TEXT.get(s.reachability, "Unknown")


def outcome_text(s: GatewayStatus) -> str:
    return _OUTCOME_TEXT.get(s.last_sync_outcome or "", "Not synced yet")


class GatewaysModel(SnapshotModel[GatewayStatus]):
    columns = GATEWAY_COLUMNS
    numeric = frozenset(range(4, 8))
    key = "name"

    def data(self, index: Index, role: int = 0) -> Any:
        s = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return s.name
            if col == REACH_COLUMN:
                return reach_text(s)
            if col == 2:
                return relative(s.last_sync_at, self._now) if s.last_sync_at else "Never"
            if col == OUTCOME_COLUMN:
                return outcome_text(s)
            if col == 8:
                if not s.queue_offered:
                    return "Not offered"
                return str((s.queue or {}).get("worker_status") or "—")
            if not s.queue_offered:
                return "—"
            value = (s.queue or {}).get(QUEUE_KEYS[col - 4])
            return f"{value:,}" if isinstance(value, int) else "—"
        if role == BADGE_ROLE:
            if col == REACH_COLUMN:
                return _REACH_BADGE.get(s.reachability, "cancelled")
            if col == OUTCOME_COLUMN:
                return _OUTCOME_BADGE.get(s.last_sync_outcome or "", "cancelled")
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in self.numeric:
            return RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return s.url
            if col == REACH_COLUMN:
                return f"{s.detail} (checked: {s.checked})"
            if col == 2 and s.last_sync_at:
                return s.last_sync_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            if col == OUTCOME_COLUMN and s.last_error:
                return s.last_error
            if 4 <= col <= 8 and s.queue_offered:
                when = "read just now" if s.queue_live else "as the last sync read it"
                return f"{s.queue_text()} ({when}; counts are indicative)"
            if 4 <= col <= 8:
                return "This gateway offers no queue status route."
        if role == Qt.ItemDataRole.ForegroundRole and 4 <= col <= 8 and not s.queue_live:
            return theme.colour("muted")
        return None


class GatewaysSection(QWidget):
    """Title, a one-line summary and the table; ``loaded(rows)`` after each read (-1: error)."""

    loaded = Signal(int)

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.model = GatewaysModel(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        head = QHBoxLayout()
        head.setContentsMargins(16, 8, 16, 6)
        head.setSpacing(12)
        head.addWidget(section_title("GATEWAYS"))
        self.summary = named(QLabel("Reading the gateway connections…"), "Muted")
        self.summary.setWordWrap(True)
        head.addWidget(self.summary, 1)
        lay.addLayout(head)
        self.table = snapshot_table(
            self,
            self.model,
            "Gateway connections",
            "Each gateway connection: reachable or not, its last sync and the gateway's queue",
            (0, 120, 90, 120, 80, 90, 95, 70, 100),
            stretch=0,
        )
        for col in (REACH_COLUMN, OUTCOME_COLUMN):
            self.table.setItemDelegateForColumn(col, StatusBadgeDelegate(BADGE_ROLE, self.table))
        self.table.hide()  # until a read finds a connection
        lay.addWidget(self.table)

    def refresh(self) -> None:
        """Read the connections' status in the pool (a short call to each gateway)."""
        ctx = self.services.ctx
        db, now = ctx.db, ctx.clock.now()
        self.services.runner.submit(
            lambda: read_statuses(db, now=now),
            lambda rows: self._on_rows(rows, now),
            self._on_error,
            key=f"gateway-status-{id(self)}",
            owner=self,
        )

    def _on_rows(self, rows: list[GatewayStatus], now: datetime) -> None:
        self.model.set_rows(rows, now)
        self.table.setVisible(bool(rows))
        if rows:
            # As tall as its rows, so the section does not take the tasks' room.
            height = self.table.horizontalHeader().height() + 2
            height += sum(self.table.rowHeight(r) for r in range(len(rows)))
            self.table.setFixedHeight(min(height, 6 * self.table.rowHeight(0) + 40))
        self.summary.setText(summary_text(rows))
        self.loaded.emit(len(rows))

    def _on_error(self, exc: BaseException) -> None:
        self.summary.setText(errors.sentence(exc))
        self.loaded.emit(-1)


def summary_text(rows: list[GatewayStatus]) -> str:
    if not rows:
        return "No gateway connections. Database → Gateways… adds one."
    down = [r.name for r in rows if r.reachability == UNREACHABLE]
    up = sum(1 for r in rows if r.reachability == REACHABLE)
    text = f"{up} of {len(rows)} reachable"
    if down:
        text += " · not answering: " + ", ".join(down)
    stale = [r.name for r in rows if r.stale and r.last_sync_at is not None]
    if stale:
        text += " · not synced for 5 intervals: " + ", ".join(stale)
    return text
