"""The Activity view: the audit log, newest first, filtered by who, what and when.

The page is the one list page (``desktop.lists.list_page.ListPage``) under the runner key
``"activity"``; its reads are ``core.access.activity``'s. Events are append-only, so live
updates only ever add rows at the top: on any change notice (every audited action sends one)
the first page is re-read, at most once a second, and the events newer than the top row are
inserted above it, leaving the selection and the scroll where they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QComboBox, QWidget

from core.access import activity
from core.access.activity import PAGE_SIZE, ActivityFilter, ActivityRow, LogPage
from desktop.lists import list_page
from desktop.lists.filter_buttons import DateRangeButton
from desktop.lists.filter_row import FilterRow
from desktop.lists.keyset_model import KeysetTableModel
from desktop.lists.list_page import EVERY_TABLE, ListPage, Notice, quiet
from desktop.shell import theme
from desktop.shell.views import AppServices

CATCH_UP_INTERVAL_MS = 1000

COLUMNS: tuple[tuple[str, str], ...] = (
    ("at", "Time"),
    ("actor", "Actor"),
    ("action", "Action"),
    ("about", "About"),
    ("client", "Client"),
    ("details", "Details"),
)
COLUMN = {key: i for i, (key, _) in enumerate(COLUMNS)}
# The widest text each column usually holds; widths follow the font in use.
_COLUMN_SAMPLES = {
    "at": "2026-12-31 23:59:59",
    "actor": "paydesk-worker",
    "action": "Refund auto-approved",
    "about": "refund rfnd_00000000000000",
    "client": "host-0123abcd",
}

# When the window is narrow these go first, in this order; the details keep at least this.
_DROP_ORDER = ("client", "actor")
_DETAILS_LEAST = 80

# (label, how far back) for the quick time choices.
PERIODS: tuple[tuple[str, timedelta | None], ...] = (
    ("Any time", None),
    ("Last hour", timedelta(hours=1)),
    ("Last 24 hours", timedelta(days=1)),
    ("Last 7 days", timedelta(days=7)),
    ("Last 30 days", timedelta(days=30)),
)


def _local_midnight(day: date) -> datetime:
    # Midnight where the person is; the query compares in UTC.
    return datetime.combine(day, time()).astimezone()


def _local(dt: datetime) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def details_text(row: ActivityRow) -> str:
    """Every detail on its own line, for the tooltip."""
    lines = [f"{row.title} · {row.action}", f"{_local(row.at)} by {row.actor}"]
    if row.client:
        lines.append(f"client {row.client}")
    for key, value in sorted(row.details.items()):
        shown = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
        lines.append(f"{key}: {shown}")
    return "\n".join(lines)


class ActivityModel(KeysetTableModel[ActivityRow]):
    """Loaded pages of the audit log, newest first; database-free like the other models."""

    COLUMNS = COLUMNS

    def prepend_newer(self, rows: list[ActivityRow]) -> int:
        """Insert the events of a fresh first page that are newer than the top row."""
        top = self._rows[0].cursor() if self._rows else None
        fresh = [r for r in rows if r.id not in self._index and (top is None or r.cursor() > top)]
        if not fresh:
            return 0
        self._insert_block(0, fresh)
        self.rowsLoaded.emit(len(self._rows))
        return len(fresh)

    def cell(self, row: ActivityRow, col: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COLUMN["at"]:
                return _local(row.at)
            if col == COLUMN["actor"]:
                return row.actor
            if col == COLUMN["action"]:
                return row.title
            if col == COLUMN["about"]:
                return f"{row.entity_type.replace('_', ' ')} {row.entity_id or ''}".strip()
            if col == COLUMN["details"]:
                return row.summary()
            return row.client or "—"
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COLUMN["action"]:
                return row.action
            return details_text(row)
        if role == Qt.ItemDataRole.FontRole and col == COLUMN["at"]:
            return self.number_font
        if role == Qt.ItemDataRole.FontRole and col == COLUMN["about"]:
            return self.id_font
        if role == Qt.ItemDataRole.ForegroundRole and col == COLUMN["client"]:
            return theme.colour("muted")
        return None


class ActivityView(ListPage[ActivityRow, ActivityFilter, None]):
    """Read the audit log. Emits ``loaded`` when a query's first page is on screen and
    ``liveUpdated`` with how many new events were merged in."""

    liveUpdated = Signal(int)

    KEY = "activity"
    TABLE = EVERY_TABLE
    PAGE_SIZE = PAGE_SIZE
    SEARCH_DEBOUNCE_MS = 200
    SHOWS_LOADING = False

    model: ActivityModel

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(services, ActivityModel(), ActivityFilter(), parent)
        self.clock = services.ctx.clock
        # Webhook dispatch sends notices many times a second; the log is re-read at most
        # once per interval, and once more at its end if notices kept coming.
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(CATCH_UP_INTERVAL_MS)
        self._throttle.timeout.connect(self._throttle_ended)
        self._again = False

        self._build()
        self.start()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root, bar_lay, title_row, self.counter = list_page.filter_bar(self, "Activity")
        self.refresh_button = list_page.refresh_button(self, self.refresh)
        title_row.addWidget(self.refresh_button)

        filters = FilterRow()  # wraps onto a second line in a narrow window
        self.search = list_page.search_box(
            self, "Refund, payment or merchant id", 200, self._debounce, self.apply_filters
        )
        filters.addWidget(self.search, 2)
        self.actor_combo = QComboBox(self)
        self.actor_combo.addItem("Anyone", None)
        self.actor_combo.setToolTip("Who acted")
        self.action_combo = QComboBox(self)
        self.action_combo.addItem("All actions", None)
        self.action_combo.setToolTip("What they did")
        self.period_combo = QComboBox(self)
        for label, _span in PERIODS:
            self.period_combo.addItem(label)
        self.period_combo.setToolTip("When")
        list_page.fit_combos(self.actor_combo, self.action_combo, length=14)
        for combo, name in (
            (self.actor_combo, "Actor"),
            (self.action_combo, "Action"),
            (self.period_combo, "Period"),
        ):
            combo.setAccessibleName(f"{name} filter")
            combo.setAccessibleDescription(combo.toolTip())
            combo.currentIndexChanged.connect(self.apply_filters)
            filters.addWidget(combo, 1)
        # The days behind one button, as in the Payments view (desktop.lists.filter_buttons).
        self.dates = DateRangeButton("Days", self)
        self.dates.setAccessibleName("Days")
        self.dates.setAccessibleDescription("Show the events from one day to another")
        self.dates.rangeChanged.connect(self.apply_filters)
        filters.addWidget(self.dates)
        self.clear_button = list_page.clear_button(self, self.clear_filters)
        filters.addWidget(self.clear_button)
        bar_lay.addLayout(filters)

        self.build_list(
            root, bar_lay, icon="activity", empty="No activity", show_all="", loading=""
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName("Activity")
        self.table.setAccessibleDescription("The audit log, newest event first")
        self.show_all_button.setAccessibleName("Clear the filters")
        list_page.fit_columns(self.table, self.model, _COLUMN_SAMPLES, COLUMN, mono=("about",))
        self._natural = {COLUMN[k]: self.table.columnWidth(COLUMN[k]) for k in _COLUMN_SAMPLES}

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # The table's own size follows once the layout has run: fit on the next turn (a timer
        # owned by the view, so it never fires for a view already gone).
        QTimer.singleShot(0, self, self._fit_to_width)

    @Slot()
    def _fit_to_width(self) -> None:
        """Hide the columns one can do without (client, then actor) rather than scroll
        sideways when the window is narrow (they come back as it widens)."""
        room = self.table.viewport().width()
        # The stretched last column does not shrink below the header's default section size.
        least = max(_DETAILS_LEAST, self.table.horizontalHeader().defaultSectionSize())
        needed = sum(self._natural.values()) + least
        for key in _DROP_ORDER:
            col = COLUMN[key]
            hide = needed > room
            if self.table.isColumnHidden(col) != hide:
                self.table.setColumnHidden(col, hide)
            if hide:
                needed -= self._natural[col]

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> ActivityFilter:
        since: datetime | None = None
        until: datetime | None = None
        span = PERIODS[max(0, self.period_combo.currentIndex())][1]
        if span is not None:
            since = self.clock.now() - span
        first, last = self.dates.range()
        if (d := first) is not None:
            start = _local_midnight(cast(date, d.toPython()))
            since = start if since is None else max(since, start)
        if (d := last) is not None:
            # "To" is inclusive for a person.
            until = _local_midnight(cast(date, d.toPython())) + timedelta(days=1)
        search = self.search.text().strip()
        return ActivityFilter(
            actor=self.actor_combo.currentData(),
            action=self.action_combo.currentData(),
            since=since,
            until=until,
            entity_id=search or None,
        )

    def read_first(self, f: ActivityFilter, setup: bool) -> Callable[[], LogPage]:
        db = self.db
        return lambda: activity.first_page(db, f, choices=setup)

    def read_after(self, f: ActivityFilter, after: Any) -> Callable[[], list[ActivityRow]]:
        db = self.db
        return lambda: activity.page_after(db, f, after)

    def take_page(self, page: LogPage) -> None:
        if page.actors is not None and page.actions is not None:
            self._fill_lists(page.actors, page.actions)

    def empty_texts(self, f: ActivityFilter) -> tuple[str, str, bool]:
        if f == ActivityFilter():
            return "No activity yet", "Every action a person takes is recorded here.", False
        return "No events match", "Try another person, action or time.", False

    def _fill_lists(self, actors: list[str], actions: list[str]) -> None:
        self.has_setup = True
        with quiet(self.actor_combo, self.action_combo):
            list_page.refill_combo(self.actor_combo, "Anyone", [(n, n) for n in actors])
            current_action = self.action_combo.currentData()
            self.action_combo.clear()
            self.action_combo.addItem("All actions", None)
            groups: dict[str, list[str]] = {}
            for name in actions:
                groups.setdefault(name.split(".", 1)[0], []).append(name)
            for group, names in groups.items():
                title = activity.GROUP_TITLES.get(group, group.capitalize())
                self.action_combo.addItem(f"{title}: all", f"{group}.")
                for name in names:
                    self.action_combo.addItem(f"    {activity.action_title(name)}", name)
            self.action_combo.setCurrentIndex(max(0, self.action_combo.findData(current_action)))

    def filter_widgets(self) -> tuple[QWidget, ...]:
        return (self.search, self.actor_combo, self.action_combo, self.period_combo,
                self.dates)  # fmt: skip

    def clear_more_filters(self) -> None:
        self.dates.clear_range()

    def set_actor(self, actor: str | None) -> None:
        """Show one person's events (or everyone's)."""
        index = self.actor_combo.findData(actor) if actor else 0
        if actor and index < 0:
            self.actor_combo.addItem(actor, actor)
            index = self.actor_combo.count() - 1
        self.actor_combo.setCurrentIndex(index)

    # -- live updates --------------------------------------------------------------------------
    def take_notice(self, notice: Notice) -> None:
        # Every audited action also sends a change notice, so any notice may mean new events.
        if not self.is_loaded:
            return
        if self._throttle.isActive():
            self._again = True
            return
        self._throttle.start()
        self._read_newer()

    def _throttle_ended(self) -> None:
        if self._again:
            self._again = False
            self.take_notice(Notice())

    def _read_newer(self) -> None:
        f, db = self._query_filter, self.db
        if f.until is not None and f.until <= self.clock.now():
            return  # a range that ended cannot gain events
        self.runner.submit(
            lambda: activity.first_page(db, f, choices=False),
            self._on_newer,
            lambda _exc: None,
            key=self.KEY,
            supersede=False,
            owner=self,
        )

    def _on_newer(self, page: LogPage) -> None:
        bar = self.table.verticalScrollBar()
        offset = bar.value()
        added = self.model.prepend_newer(page.rows)
        if added:
            if offset > 0:
                bar.setValue(offset + added * self.table.verticalHeader().defaultSectionSize())
            if self.pages.currentWidget() is not self.table:
                self.pages.setCurrentWidget(self.table)
        self.liveUpdated.emit(added)
