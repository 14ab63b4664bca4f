"""The Jobs view: the embedded scheduler's tasks, their last outcome and next run, and Run now;
below them the copies of Paydesk online and the work each holds under a lease.

Scheduler listeners fire on scheduler threads; they only emit a signal. The view coalesces
bursts on a short timer and re-reads ``Scheduler.states()`` (in memory, no database), and
catches up when it is shown after being hidden. The copies are read in the pool
(``core.jobs.copies``) every ``PRESENCE_MS`` while the view is visible, and when it is shown;
so is each gateway connection's reachability and queue status (``desktop.jobs.gateways``),
under a key of its own so a gateway that does not answer holds up nothing else.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.jobs.copies import CopyRow, copies_online
from desktop.jobs.gateways import GatewaysSection
from desktop.jobs.snapshot_model import RIGHT, SnapshotModel, section_title, snapshot_table
from desktop.jobs.times import duration, every, relative
from desktop.lists.status_badge import StatusBadgeDelegate
from desktop.shell import theme
from desktop.shell.named import named
from desktop.shell.views import AppServices

Index = QModelIndex | QPersistentModelIndex
COALESCE_MS = 100
TICK_MS = 1000  # relative times ("12 s ago") move on their own
PRESENCE_MS = 15_000  # as often as copies beat (core.jobs.presence.HEARTBEAT_INTERVAL)

COLUMNS = ("Task", "Every", "Last run", "Duration", "Outcome", "Message", "Next run")
OUTCOME_COLUMN = 4
OUTCOME_ROLE = Qt.ItemDataRole.UserRole + 2


class JobsModel(QAbstractTableModel):
    """Task states as rows; updates are targeted ``dataChanged`` when the task list is the same."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._states: list[Any] = []
        self._now = datetime.now(UTC)

    def set_states(self, states: list[Any], now: datetime) -> None:
        self._now = now
        if [s.name for s in states] != [s.name for s in self._states]:
            self.beginResetModel()
            self._states = list(states)
            self.endResetModel()
            return
        self._states = list(states)
        if states:
            self.dataChanged.emit(self.index(0, 0), self.index(len(states) - 1, len(COLUMNS) - 1))

    def state_at(self, row: int) -> Any:
        return self._states[row] if 0 <= row < len(self._states) else None

    def row_of(self, name: str) -> int:
        return next((i for i, s in enumerate(self._states) if s.name == name), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._states)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = 0) -> Any:
        s = self._states[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, col)
        if role == OUTCOME_ROLE:
            return self._outcome_key(s)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 5 and s.last_message:
                return s.last_message
            if col in (2, 6):
                when = s.last_run_at if col == 2 else s.next_run_at
                return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else None
            if col == 0:
                return f"{s.name} · {s.runs} runs, {s.errors} errors"
        if role == Qt.ItemDataRole.ForegroundRole and col == 5 and s.last_outcome == "error":
            return theme.status_colours("error")[0]
        return None

    @staticmethod
    def _outcome_key(s: Any) -> str:
        if s.running:
            return "running"
        return s.last_outcome or "cancelled"

    def _display(self, s: Any, col: int) -> str:
        if col == 0:
            return s.title
        if col == 1:
            return every(s.interval)
        if col == 2:
            return relative(s.last_run_at, self._now)
        if col == 3:
            return duration(s.last_duration)
        if col == 4:
            if s.running:
                return "Running"
            return {"ok": "OK", "error": "Error"}.get(s.last_outcome or "", "Not run yet")
        if col == 5:
            return (s.last_message or "").splitlines()[0] if s.last_message else ""
        return relative(s.next_run_at, self._now)


COPY_COLUMNS = ("Host", "User", "Version", "Kind", "Last seen", "Webhooks leased",
                "Refunds leased")  # fmt: skip
_KINDS = {"app": "App", "worker": "Worker"}


class CopiesModel(SnapshotModel[CopyRow]):
    """The copies online; ``own_id`` marks this copy's row."""

    columns = COPY_COLUMNS
    numeric = frozenset({5, 6})
    key = "client_id"

    def __init__(self, own_id: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.own_id = own_id

    def data(self, index: Index, role: int = 0) -> Any:
        r = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return f"{r.host} (this copy)" if r.client_id == self.own_id else r.host
            if col == 1:
                return r.user
            if col == 2:
                return r.version
            if col == 3:
                return _KINDS.get(r.kind, r.kind)
            if col == 4:
                return relative(r.last_seen, self._now) if r.last_seen else "Offline"
            return str(r.webhooks if col == 5 else r.refunds)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in self.numeric:
            return RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return r.client_id
            if col == 4 and r.last_seen:
                return r.last_seen.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if role == Qt.ItemDataRole.ForegroundRole and r.last_seen is None:
            return theme.colour("muted")
        return None


class _ListenerBridge(QObject):
    """Turns scheduler-thread callbacks into a queued signal on the UI thread."""

    changed = Signal()

    def __call__(self, _state: Any) -> None:
        # RuntimeError: the view is gone; the listener is being removed.
        with contextlib.suppress(RuntimeError):
            self.changed.emit()


class JobsView(QWidget):
    """Scheduled tasks and their outcomes. Emits ``loaded`` after the first refresh."""

    loaded = Signal(int)
    refreshed = Signal()
    copiesLoaded = Signal(int)  # after each read of the copies online: how many rows
    gatewaysLoaded = Signal(int)  # after each read of the gateway connections' status

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.services = services
        self.scheduler: Any = None
        self.model = JobsModel(self)
        self.copies_model = CopiesModel(services.ctx.client_id, self)
        self.is_loaded = False

        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        bar = named(QFrame(self), "FilterBar")
        bar_lay = QHBoxLayout(bar)
        bar_lay.setContentsMargins(16, 12, 16, 12)
        bar_lay.addWidget(named(QLabel("Jobs"), "PageTitle"))
        self.summary = named(QLabel(""), "Counter")
        bar_lay.addWidget(self.summary)
        bar_lay.addStretch(1)
        self.pause_button = QPushButton(theme.icon("pause"), "Pause all", self)
        self.pause_button.clicked.connect(self.toggle_pause)
        bar_lay.addWidget(self.pause_button)
        self.run_button = QPushButton(theme.icon("run", "#ffffff"), "Run now", self)
        self.run_button.setObjectName("Primary")
        self.run_button.setEnabled(False)
        self.run_button.clicked.connect(self.run_selected)
        bar_lay.addWidget(self.run_button)
        root.addWidget(bar)

        self.table = snapshot_table(
            self,
            self.model,
            "Scheduled tasks",
            "Every task, its schedule and last run; Run now runs the selected one",
            (200, 70, 90, 80, 110, 0, 90),
            stretch=5,
        )
        self.table.setItemDelegateForColumn(
            OUTCOME_COLUMN, StatusBadgeDelegate(OUTCOME_ROLE, self.table)
        )
        self.table.selectionModel().currentRowChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.run_selected())
        root.addWidget(self.table, 3)

        self.note = named(QLabel(""), "Muted")
        self.note.setContentsMargins(16, 8, 16, 10)
        self.note.setWordWrap(True)
        root.addWidget(self.note)

        copies_head = QHBoxLayout()
        copies_head.setContentsMargins(16, 8, 16, 6)
        copies_head.setSpacing(12)
        copies_head.addWidget(section_title("COPIES ONLINE"))
        self.copies_summary = named(QLabel(""), "Muted")
        copies_head.addWidget(self.copies_summary)
        copies_head.addStretch(1)
        root.addLayout(copies_head)
        self.copies_table = snapshot_table(
            self,
            self.copies_model,
            "Copies online",
            "The copies of Paydesk using this database",
            (0, 120, 80, 80, 100, 150, 140),
            stretch=0,
        )
        root.addWidget(self.copies_table, 2)

        self.gateways = GatewaysSection(services, self)
        self.gateways.loaded.connect(self.gatewaysLoaded)
        root.addWidget(self.gateways)

        self._presence = QTimer(self)
        self._presence.setInterval(PRESENCE_MS)
        self._presence.timeout.connect(self._refresh_copies_if_visible)
        self._presence.start()

        self._coalesce = QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(COALESCE_MS)
        self._coalesce.timeout.connect(self.refresh)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._refresh_if_visible)
        self._bridge = _ListenerBridge(self)
        self._bridge.changed.connect(self._schedule_refresh)
        if services.scheduler is not None:
            self.attach_scheduler(services.scheduler)
        self._tick.start()
        self.refresh()

    def _fit_task_column(self, states: list[Any]) -> None:
        """The task column as wide as its longest title, so no task name is cut off."""
        metrics = self.table.fontMetrics()
        widest = max((metrics.horizontalAdvance(st.title) for st in states), default=0)
        width = max(200, widest + 32)  # the item padding and some air
        if self.table.columnWidth(0) < width:
            self.table.setColumnWidth(0, width)

    def attach_scheduler(self, scheduler: Any) -> None:
        """Show ``scheduler``'s tasks (it may start after the view is built)."""
        if scheduler is self.scheduler:
            return
        self.scheduler = scheduler
        bridge = self._bridge
        scheduler.add_listener(bridge)
        # Captured values, not methods: when ``destroyed`` fires the view's Python side may
        # already be gone.
        self.destroyed.connect(lambda *_: scheduler.remove_listener(bridge))
        if self.is_loaded:
            self.refresh()

    def _schedule_refresh(self) -> None:
        if not self._coalesce.isActive():
            self._coalesce.start()

    def _refresh_if_visible(self) -> None:
        if self.isVisible():
            self.refresh()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # light/dark: icons in the new tint
            self.run_button.setIcon(theme.icon("run", "#ffffff"))
            paused = bool(getattr(self.scheduler, "paused", False))
            self.pause_button.setIcon(theme.icon("run" if paused else "pause"))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()  # catch up on what happened while hidden
        self.refresh_copies()
        self.gateways.refresh()

    # -- copies online -------------------------------------------------------------------------
    def _refresh_copies_if_visible(self) -> None:
        if self.isVisible():
            self.refresh_copies()
            self.gateways.refresh()

    def refresh_copies(self) -> None:
        """Read the copies online and their leases in the pool."""
        ctx = self.services.ctx
        db, now = ctx.db, ctx.clock.now()
        self.services.runner.submit(
            lambda: copies_online(db, now),
            lambda rows: self._on_copies(rows, now),
            self._on_copies_error,
            key=f"copies-{id(self)}",
        )

    def _on_copies(self, rows: list[CopyRow], now: datetime) -> None:
        self.copies_model.set_rows(rows, now)
        online = sum(1 for r in rows if r.last_seen is not None)
        webhooks = sum(r.webhooks for r in rows)
        refunds = sum(r.refunds for r in rows)
        if not rows:
            self.copies_summary.setText("No copy has checked in during the last minute.")
        else:
            deliveries = "delivery" if webhooks == 1 else "deliveries"
            refund_word = "refund" if refunds == 1 else "refunds"
            self.copies_summary.setText(
                f"{online} online · {webhooks:,} {deliveries} and {refunds:,} {refund_word} leased"
            )
        self.copiesLoaded.emit(len(rows))

    def _on_copies_error(self, exc: BaseException) -> None:
        self.copies_summary.setText(errors.sentence(exc))
        self.copiesLoaded.emit(-1)

    # -- links ---------------------------------------------------------------------------------
    def apply_link(self, link: object) -> None:
        """Select the task a ``core.overview.dashboard.JobsLink`` names (an unknown task selects none)."""
        task = getattr(link, "task", None)
        if getattr(link, "view", None) != "jobs":
            return
        self.refresh()
        if task is None:
            return
        row = self.model.row_of(task)
        if row < 0:  # a task this copy does not run (the Overview sees every copy's)
            self.table.setCurrentIndex(QModelIndex())
            self.table.clearSelection()
            self._selection_changed()
            return
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))

    def refresh(self) -> None:
        s = self.scheduler
        if s is None:
            self.model.set_states([], datetime.now(UTC))
            self.summary.setText("")
            self.note.setText("The scheduler is not running, so no background jobs run here.")
            self.pause_button.setEnabled(False)
        else:
            states = s.states()
            self.model.set_states(states, datetime.now(UTC))
            self._fit_task_column(states)
            failing = sum(1 for st in states if st.last_outcome == "error")
            paused = bool(getattr(s, "paused", False))
            state = "Paused" if paused else ("Running" if s.running else "Stopped")
            tail = f" · {failing} failing" if failing else ""
            self.summary.setText(f"{state} · {len(states)} tasks{tail}")
            self.pause_button.setText("Resume all" if paused else "Pause all")
            self.pause_button.setIcon(theme.icon("run" if paused else "pause"))
            self.pause_button.setEnabled(s.running)
            self.note.setText(
                "Tasks run in the background while Paydesk is open. Times are this "
                "computer's clock; double-click a task or use Run now to run it at once."
            )
        self._selection_changed()
        self.refreshed.emit()
        if not self.is_loaded:
            self.is_loaded = True
            self.loaded.emit(self.model.rowCount())

    def selected_name(self) -> str | None:
        index = self.table.currentIndex()
        state = self.model.state_at(index.row()) if index.isValid() else None
        return state.name if state is not None else None

    def select(self, name: str) -> None:
        row = self.model.row_of(name)
        if row >= 0:
            self.table.selectRow(row)

    def _selection_changed(self, *_: object) -> None:
        running = self.scheduler is not None and self.scheduler.running
        self.run_button.setEnabled(running and self.selected_name() is not None)

    def run_selected(self) -> None:
        name = self.selected_name()
        if name is None or self.scheduler is None:
            return
        self.scheduler.run_now(name)
        self._schedule_refresh()

    def toggle_pause(self) -> None:
        if self.scheduler is None:
            return
        if getattr(self.scheduler, "paused", False):
            self.scheduler.resume()
        else:
            self.scheduler.pause()
        self.refresh()
