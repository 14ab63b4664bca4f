"""The Activity view: the audit log, newest first, filtered by who, what and when.

Pages come from ``core.activity.page`` through the TaskRunner under the key ``"activity"``
(a filter change drops pages of the old filter). Events are append-only, so live updates only
ever add rows at the top: on a change notice the first page is re-read and the events newer
than the top row are inserted above it, leaving the selection and the scroll where they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import activity
from core.activity import PAGE_SIZE, ActivityFilter, ActivityRow
from core.errors import PaydeskError
from desktop import list_page, theme
from desktop.filter_buttons import DateRangeButton
from desktop.keyset_model import ROW_ROLE as ROW_ROLE
from desktop.keyset_model import KeysetTableModel
from desktop.payments_view import person_message
from desktop.views import AppServices

SEARCH_DEBOUNCE_MS = 200
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


@dataclass
class _FirstPage:
    filter: ActivityFilter
    rows: list[ActivityRow]
    actors: list[str] | None
    actions: list[str] | None


class ActivityView(QWidget):
    """Read the audit log. Emits ``loaded`` when a query's first page is on screen and
    ``liveUpdated`` after new events were merged in."""

    loaded = Signal(int)
    liveUpdated = Signal(int)
    message = Signal(str)

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.services = services
        self.db = services.ctx.db
        self.clock = services.ctx.clock
        self.runner = services.runner
        self.is_loaded = False
        self._query_filter = ActivityFilter()
        self._stale = False  # a change arrived while hidden
        self._lists_loaded = False

        self.model = ActivityModel(self)
        self.model.set_fetcher(self._fetch_next)
        self.model.rowsLoaded.connect(self._update_counter)
        self._debounce = list_page.debounce_timer(self, SEARCH_DEBOUNCE_MS, self.apply_filters)
        # Webhook dispatch sends notices many times a second; the log is re-read at most
        # once per interval, and once more at its end if notices kept coming.
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(CATCH_UP_INTERVAL_MS)
        self._throttle.timeout.connect(self._throttle_ended)
        self._again = False

        self._build()
        if services.changes is not None:
            services.changes.changed.connect(self._on_changed)
        self.refresh()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root, bar_lay, title_row, self.counter = list_page.filter_bar(self, "Activity")
        self.refresh_button = list_page.refresh_button(self, self.refresh)
        title_row.addWidget(self.refresh_button)

        filters = QHBoxLayout()
        filters.setSpacing(8)
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
        for combo in (self.actor_combo, self.action_combo, self.period_combo):
            combo.currentIndexChanged.connect(self.apply_filters)
            filters.addWidget(combo, 1)
        # The days behind one button, as in the Payments view (desktop.filter_buttons).
        self.dates = DateRangeButton("Days", self)
        self.dates.rangeChanged.connect(self.apply_filters)
        filters.addWidget(self.dates)
        self.clear_button = list_page.clear_button(self, self.clear_filters)
        filters.addWidget(self.clear_button)
        bar_lay.addLayout(filters)

        self.banner = QFrame(self, objectName="Banner")
        banner_lay = QHBoxLayout(self.banner)
        banner_lay.setContentsMargins(10, 6, 6, 6)
        self.banner_text = QLabel("")
        self.banner_text.setWordWrap(True)
        dismiss = QToolButton(self.banner)
        dismiss.setIcon(theme.icon("clear"))
        dismiss.setAutoRaise(True)
        dismiss.clicked.connect(self.banner.hide)
        banner_lay.addWidget(self.banner_text, 1)
        banner_lay.addWidget(dismiss)
        self.banner.hide()
        bar_lay.addWidget(self.banner)

        self.pages = QStackedWidget(self)
        self.table = list_page.list_table(
            self, self.model, QAbstractItemView.SelectionMode.SingleSelection
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        fm = self.table.fontMetrics()
        mono = QFontMetrics(self.model.id_font)
        for key, sample in _COLUMN_SAMPLES.items():
            metrics = mono if key == "about" else fm
            self.table.setColumnWidth(COLUMN[key], metrics.horizontalAdvance(sample) + 24)
        self.pages.addWidget(self.table)

        self.empty_page = QWidget(self, objectName="Page")
        lay = QVBoxLayout(self.empty_page)
        lay.addStretch(2)
        pic = QLabel(self.empty_page)
        pic.setPixmap(theme.icon("activity").pixmap(56, 56))
        pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(pic)
        self.empty_title = QLabel("No activity", objectName="EmptyTitle")
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.empty_title)
        self.empty_text = QLabel("", objectName="EmptyText")
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.empty_text)
        lay.addStretch(3)
        self.pages.addWidget(self.empty_page)
        root.addWidget(self.pages, 1)

        list_page.add_shortcut(self, QKeySequence.StandardKey.Refresh, self.refresh)

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> ActivityFilter:
        since: datetime | None = None
        until: datetime | None = None
        span = PERIODS[max(0, self.period_combo.currentIndex())][1]
        if span is not None:
            since = self.clock.now() - span
        first, last = self.dates.range()
        if (d := first) is not None:
            start = _local_midnight(d.toPython())
            since = start if since is None else max(since, start)
        if (d := last) is not None:
            until = _local_midnight(d.toPython()) + timedelta(
                days=1
            )  # "To" is inclusive for a person
        search = self.search.text().strip()
        return ActivityFilter(
            actor=self.actor_combo.currentData(),
            action=self.action_combo.currentData(),
            since=since,
            until=until,
            entity_id=search or None,
        )

    def apply_filters(self) -> None:
        self._debounce.stop()
        self.run_query(self.current_filter())

    def refresh(self) -> None:
        self._lists_loaded = False
        self.run_query(self.current_filter())

    def run_query(self, f: ActivityFilter) -> None:
        try:
            f = f.validated()
        except PaydeskError as exc:
            self.runner.invalidate("activity")
            self.banner_text.setText(exc.message)
            self.banner.show()
            return
        db = self.db
        lists = not self._lists_loaded

        def work() -> _FirstPage:
            with db.read() as session:
                rows = activity.page(session, f)
                actors = activity.actors(session) if lists else None
                actions = activity.actions(session) if lists else None
            return _FirstPage(f, rows, actors, actions)

        self.runner.submit(work, self._on_first_page, self._on_error, key="activity")

    def _on_first_page(self, result: _FirstPage) -> None:
        self.banner.hide()
        if result.actors is not None and result.actions is not None:
            self._fill_lists(result.actors, result.actions)
        self._query_filter = result.filter
        self.model.reset(result.rows, more=len(result.rows) == PAGE_SIZE)
        if result.rows:
            self.pages.setCurrentWidget(self.table)
            self.table.scrollToTop()
        else:
            unfiltered = result.filter == ActivityFilter()
            self.empty_title.setText("No activity yet" if unfiltered else "No events match")
            self.empty_text.setText(
                "Every action a person takes is recorded here."
                if unfiltered
                else "Try another person, action or time."
            )
            self.pages.setCurrentWidget(self.empty_page)
        self.is_loaded = True
        self.loaded.emit(len(result.rows))

    def _fill_lists(self, actors: list[str], actions: list[str]) -> None:
        self._lists_loaded = True
        for combo in (self.actor_combo, self.action_combo):
            combo.blockSignals(True)
        current_actor = self.actor_combo.currentData()
        self.actor_combo.clear()
        self.actor_combo.addItem("Anyone", None)
        for name in actors:
            self.actor_combo.addItem(name, name)
        self.actor_combo.setCurrentIndex(max(0, self.actor_combo.findData(current_actor)))

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
        for combo in (self.actor_combo, self.action_combo):
            combo.blockSignals(False)

    def _on_error(self, exc: BaseException) -> None:
        self.model.fetch_failed()
        self.banner_text.setText(person_message(exc))
        self.banner.show()

    def _fetch_next(self, after: tuple[datetime, int]) -> None:
        f, db = self._query_filter, self.db

        def work() -> list[ActivityRow]:
            with db.read() as session:
                return activity.page(session, f, after=after)

        self.runner.submit(
            work,
            lambda rows: self.model.append(rows, more=len(rows) == PAGE_SIZE),
            self._on_error,
            key="activity",
            supersede=False,
        )

    def clear_filters(self) -> None:
        widgets = (self.search, self.actor_combo, self.action_combo, self.period_combo,
                   self.dates)  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        self.search.clear()
        for combo in (self.actor_combo, self.action_combo, self.period_combo):
            combo.setCurrentIndex(0)
        self.dates.clear_range()
        for w in widgets:
            w.blockSignals(False)
        self.apply_filters()

    def set_actor(self, actor: str | None) -> None:
        """Show one person's events (or everyone's)."""
        index = self.actor_combo.findData(actor) if actor else 0
        if index < 0:
            self.actor_combo.addItem(actor, actor)
            index = self.actor_combo.count() - 1
        self.actor_combo.setCurrentIndex(index)

    def _update_counter(self, count: int) -> None:
        self.counter.setText(list_page.counter_text(count, self.model.has_more))

    # -- live updates --------------------------------------------------------------------------
    def _on_changed(self, _table: str, _ids: Any, _statuses: Any) -> None:
        # Every audited action also sends a change notice, so any notice may mean new events.
        if not self.is_loaded:
            return
        if not self.isVisible():
            self._stale = True
            return
        self._catch_up()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self._catch_up()

    def _catch_up(self) -> None:
        if self._throttle.isActive():
            self._again = True
            return
        self._throttle.start()
        self._read_newer()

    def _throttle_ended(self) -> None:
        if self._again:
            self._again = False
            self._catch_up()

    def _read_newer(self) -> None:
        f, db = self._query_filter, self.db
        if f.until is not None and f.until <= self.clock.now():
            return  # a range that ended cannot gain events

        def work() -> list[ActivityRow]:
            with db.read() as session:
                return activity.page(session, f)

        self.runner.submit(work, self._on_newer, lambda _exc: None, key="activity", supersede=False)

    def _on_newer(self, rows: list[ActivityRow]) -> None:
        bar = self.table.verticalScrollBar()
        offset = bar.value()
        added = self.model.prepend_newer(rows)
        if added:
            if offset > 0:
                bar.setValue(offset + added * self.table.verticalHeader().defaultSectionSize())
            if self.pages.currentWidget() is not self.table:
                self.pages.setCurrentWidget(self.table)
        self.liveUpdated.emit(added)
