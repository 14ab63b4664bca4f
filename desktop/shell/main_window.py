"""The main window: navigation on the left, the views in a stack, a "Reconnecting…" banner
above them while the database is lost, and a status bar that says which database this is,
who is acting and under which role, whether the scheduler runs, whether the database answers
and (shared mode) how many staff machines are online. The menus and window-wide keys are
``desktop.shell.menus``; where the window was left is ``desktop.shell.window_state``.

The window holds one *database session* at a time: the services the views were built with,
the session's own TaskRunner (so switching databases drops every result still in flight for
the old views at once), the change bridge, the notify listener and the DatabaseMonitor.
``take_services`` detaches it for closing off the UI thread; ``close_session`` does the
closing (scheduler, listener, engine).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from core import settings
from desktop.lists import layout_memory
from desktop.lists.elided_label import ElidedLabel
from desktop.shell import shortcuts, theme, views, window_state
from desktop.shell.db_monitor import DatabaseMonitor
from desktop.shell.help_dialogs import DatabaseFacts
from desktop.shell.menus import ShellMenus
from desktop.shell.named import named
from desktop.shell.runner import TaskRunner
from desktop.shell.views import AppServices

log = logging.getLogger(__name__)

PRESENCE_INTERVAL_MS = 15_000
NAV_WIDTH = 188
# Tables whose notices the views follow. After a reconnect every one is announced as "changed,
# rows unknown": notices sent while this copy could not listen are lost, so the views re-read
# what they show, in place (selection and scroll stay).
NOTICE_MS = 20_000  # a transient notice of what a task run did (core.jobs.notices)
LIVE_TABLES = ("payments", "refunds", "webhook_logs", "merchants")
# Views that follow change notices (re-read in place); the others are refreshed after a
# reconnect.
FOLLOWS_CHANGES = frozenset({"dashboard", "refunds", "webhooks", "activity"})


def _zone_now() -> tuple[str, str]:
    """This computer's zone now: its short name and its offset (``IST``, ``UTC+05:30``)."""
    from datetime import datetime

    local = datetime.now().astimezone()
    offset = local.strftime("%z") or "+0000"
    sign, hours, minutes = offset[0], offset[1:3], offset[3:5]
    utc = "UTC" if offset in ("+0000", "-0000") else f"UTC{sign}{hours}:{minutes}"
    return local.tzname() or utc, utc


def zone_text() -> str:
    name, _utc = _zone_now()
    return f"Times: {name}"


def zone_tooltip() -> str:
    name, utc = _zone_now()
    same = "" if name == utc else f" ({utc})"
    return f"Every time Paydesk shows is in {name}{same}, this computer's time zone."


class _SchedulerBridge(QObject):
    changed = Signal()
    ran = Signal(object)  # the TaskState of a finished run, on the UI thread

    def __call__(self, state: Any) -> None:
        with contextlib.suppress(RuntimeError):  # window already gone
            self.changed.emit()
            self.ran.emit(state)


@dataclass
class DetachedSession:
    """What ``take_services`` hands back for closing off the UI thread."""

    services: AppServices
    listener: Any  # core.store.notify.Listener or None


def close_session(detached: DetachedSession) -> None:
    """Let go of the listener, wait for the session's pool, stop the scheduler, close the
    engine. Blocks: call it in the pool (switching) or at quit."""
    from core.store import notify

    services = detached.services

    def stop_scheduler() -> None:
        # Looked at after the runner is done: a scheduler still starting there is set by then.
        if services.scheduler is not None:
            services.scheduler.stop(wait=True)

    steps: list[Callable[[], object]] = []
    if detached.listener is not None:
        steps.append(lambda: notify.release_listener(detached.listener))
    steps += [lambda: services.runner.wait(10_000), stop_scheduler, services.ctx.db.dispose]
    for step in steps:
        # The old database must not keep the next one from opening: log and go on.
        try:
            step()
        except Exception:
            log.exception("Closing the previous database did not finish cleanly")


class ViewStack(QStackedWidget):
    """The views, sized by the one on screen: a wide view opened earlier does not keep the
    window from narrowing while another is shown (a stack is as wide as its widest page)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.currentChanged.connect(lambda _i: self.updateGeometry())

    def minimumSizeHint(self) -> QSize:
        page = self.currentWidget()
        if page is None:
            return super().minimumSizeHint()
        return page.minimumSizeHint().expandedTo(page.minimumSize())

    def sizeHint(self) -> QSize:
        page = self.currentWidget()
        return page.sizeHint() if page is not None else super().sizeHint()


class StartupPage(QWidget):
    """Shown until the database is open: progress, or the one sentence that went wrong with
    "Try again" and "Connection…"."""

    retry = Signal()
    connection = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        lay = QVBoxLayout(self)
        lay.addStretch(2)
        pic = QLabel(self)
        pic.setPixmap(theme.icon("database").pixmap(56, 56))
        pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(pic)
        self.title = named(QLabel("Opening database…"), "EmptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.title)
        self.text = named(QLabel(""), "EmptyText")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.text)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.setFixedWidth(280)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.progress)
        row.addStretch(1)
        lay.addLayout(row)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.retry_button = QPushButton("Try again", self)
        self.retry_button.clicked.connect(self.retry)
        self.connection_button = named(QPushButton("Connection…", self), "Primary")
        self.connection_button.clicked.connect(self.connection)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.connection_button)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        self.retry_button.hide()
        self.connection_button.hide()
        lay.addStretch(3)

    def show_progress(self, title: str, text: str = "", done: int = 0, total: int = 0) -> None:
        self.title.setText(title)
        self.text.setText(text)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.show()
        self.retry_button.hide()
        self.connection_button.hide()

    def show_error(self, sentence: str) -> None:
        self.title.setText("Paydesk cannot open the database")
        self.text.setText(sentence)
        self.progress.hide()
        self.retry_button.show()
        self.connection_button.show()


class ReconnectBanner(QFrame):
    """ "Reconnecting…" and why, across the top of the views while the database is lost."""

    retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ReconnectBanner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 8, 10, 8)
        self.icon = QLabel(self)
        lay.addWidget(self.icon)
        self.title = QLabel("Reconnecting…", self)
        self.title.setObjectName("ReconnectTitle")
        lay.addWidget(self.title)
        self.text = QLabel("", self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.text, 1)
        self.retry_button = QPushButton("Try now", self)
        self.retry_button.clicked.connect(self.retry)
        lay.addWidget(self.retry_button)
        self._restyle()
        watcher = getattr(QApplication.instance(), "_paydesk_theme", None)
        if watcher is not None:
            watcher.changed.connect(self._restyle)
        self.hide()

    def show_reason(self, sentence: str) -> None:
        self.text.setText(
            f"{sentence} Actions are paused; what is on screen stays as it was and "
            "Paydesk carries on by itself when the database answers."
        )
        self.setToolTip(sentence)
        self.show()

    def _restyle(self, *_: Any) -> None:
        fg, bg = theme.status_colours("pending")
        border = theme.colour("border_strong").name()
        self.icon.setPixmap(theme.icon("database", fg.name()).pixmap(18, 18))
        self.setStyleSheet(
            f"QFrame#ReconnectBanner {{ background: {bg.name()}; border: none;"
            f" border-bottom: 1px solid {border}; }}"
            f" QFrame#ReconnectBanner QLabel {{ color: {fg.name()}; }}"
            " QLabel#ReconnectTitle { font-weight: 700; }"
        )


class MainWindow(QMainWindow):
    """Views are built from ``desktop.shell.views.VIEWS`` when first opened."""

    viewBuilt = Signal(str, QWidget)
    # A database to open instead of the current one (the Connection dialog saved it, or the
    # person asked to try again); desktop.shell.app's Launcher does the switching.
    switchRequested = Signal(str)
    # The database was lost (reason) / answers again: for tests and the status bar.
    databaseLost = Signal(str)
    databaseRestored = Signal()

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Paydesk")
        self.setWindowIcon(theme.app_icon())
        self.runner = runner
        self.services: AppServices | None = None
        self.monitor: DatabaseMonitor | None = None
        self.current_url: str | None = None  # what is open (or being opened)
        self._listener: Any = None
        self._views: dict[str, QWidget] = {}
        self._pending_view = views.VIEWS[0].key
        self.connection_dialog: QWidget | None = None

        central = QWidget(self)
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        left = QVBoxLayout()
        left.setSpacing(0)
        brand = named(QLabel("Paydesk"), "Brand")
        brand.setFixedWidth(NAV_WIDTH)
        left.addWidget(brand)
        self.nav = QListWidget(self)
        self.nav.setObjectName("Navigation")
        self.nav.setFixedWidth(NAV_WIDTH)
        self.nav.setIconSize(QSize(18, 18))
        # Reached with Tab; the arrow keys move between views.
        self.nav.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.nav.setAccessibleName("Views")
        self.nav.setAccessibleDescription(
            "The views of Paydesk; the arrow keys open the one above or below."
        )
        for i, spec in enumerate(views.VIEWS):
            item = QListWidgetItem(theme.icon(spec.icon), spec.title)
            item.setData(Qt.ItemDataRole.UserRole, spec.key)
            item.setToolTip(shortcuts.navigation_tip(i, spec.title))
            self.nav.addItem(item)
        self.nav.setEnabled(False)
        self.nav.currentItemChanged.connect(self._nav_changed)
        left.addWidget(self.nav, 1)
        lay.addLayout(left)
        right = QVBoxLayout()
        right.setSpacing(0)
        self.banner = ReconnectBanner(self)
        self.banner.retry.connect(self._ping_now)
        right.addWidget(self.banner)
        self.stack = ViewStack(self)
        self.startup = StartupPage(self.stack)
        self.startup.retry.connect(self._retry_open)
        self.startup.connection.connect(lambda: self.open_connection_dialog())
        self.stack.addWidget(self.startup)
        right.addWidget(self.stack, 1)
        lay.addLayout(right, 1)
        self.setCentralWidget(central)
        # Set by the app for a person's window: its place is written down when it closes.
        self.remembers_place = False

        status = QStatusBar(self)
        self.setStatusBar(status)
        self.menus = ShellMenus(self, self)
        self.connection_action = self.menus.connection_action
        self.mode_label = ElidedLabel("Opening database…")
        self.identity_label = QLabel("")
        self.identity_label.setAccessibleName("Acting as")
        self.presence_label = QLabel("")
        self.presence_label.hide()
        self.scheduler_label = QLabel("")
        self.db_label = QLabel("")
        # The zone every time on screen is in, said once here instead of beside each time.
        self.zone_label = QLabel(zone_text())
        self.zone_label.setAccessibleName("Time zone")
        self.zone_label.setToolTip(zone_tooltip())
        self.zone_label.setAccessibleDescription(zone_tooltip())
        status.addPermanentWidget(self.zone_label)
        status.addPermanentWidget(self.identity_label)
        status.addPermanentWidget(self.presence_label)
        status.addPermanentWidget(self.scheduler_label)
        status.addPermanentWidget(self.db_label)
        status.addWidget(self.mode_label)

        self._presence_timer = QTimer(self)
        self._presence_timer.setInterval(PRESENCE_INTERVAL_MS)
        self._presence_timer.timeout.connect(self.refresh_presence)
        # Scheduler runs arrive in bursts; the label is redrawn at most every 200 ms.
        self._scheduler_coalesce = QTimer(self)
        self._scheduler_coalesce.setSingleShot(True)
        self._scheduler_coalesce.setInterval(200)
        self._scheduler_coalesce.timeout.connect(self._update_scheduler_label)
        self._scheduler_bridge = _SchedulerBridge(self)
        self._scheduler_starting = False  # the open database's scheduler is on its way
        self._lost = False  # the open database does not answer
        self._scheduler_bridge.changed.connect(self._scheduler_coalesce.start)
        self._scheduler_bridge.ran.connect(self._notice_of_run)

    # -- startup -----------------------------------------------------------------------------
    def show_startup_progress(
        self, title: str, text: str = "", done: int = 0, total: int = 0
    ) -> None:
        self.startup.show_progress(title, text, done, total)
        self.stack.setCurrentWidget(self.startup)

    def show_startup_error(self, sentence: str) -> None:
        self.startup.show_error(sentence)
        self.stack.setCurrentWidget(self.startup)
        self.mode_label.setText(sentence)

    def _retry_open(self) -> None:
        if self.current_url:
            self.switchRequested.emit(self.current_url)

    def set_services(
        self, services: AppServices, view: str | None = None, *, listener: Any = None
    ) -> None:
        """The database is open: enable navigation, watch the database, open ``view``."""
        self.services = services
        self._listener = listener
        db = services.ctx.db
        self.mode_label.setText(db.describe())
        self.mode_label.setToolTip(db.target.masked())
        if services.scheduler is not None:
            services.scheduler.add_listener(self._scheduler_bridge)
        self._update_scheduler_label()
        self.nav.setEnabled(True)
        self.banner.hide()
        self.stack.setEnabled(True)
        self.stack.setToolTip("")
        self.open_view(view or self._pending_view)
        self.refresh_identity()
        self.monitor = DatabaseMonitor(services.runner, db, self)
        self.monitor.lost.connect(self._on_lost)
        self.monitor.restored.connect(self._on_restored)
        self.monitor.pinged.connect(self._show_round_trip)
        self.monitor.start()
        if db.is_postgres:
            self.presence_label.setText("")
            self.presence_label.show()
            self.refresh_presence()
            self._presence_timer.start()
        else:
            self.presence_label.hide()

    @property
    def listener(self) -> Any:
        """The notify Listener this window's database session holds (shared mode), or None."""
        return self._listener

    def take_services(self) -> DetachedSession | None:
        """Detach the open database from the window (to switch or quit): timers stop, the
        views go, results still in flight for them are dropped. The caller closes what comes
        back with ``close_session`` (it blocks; do it off the UI thread when switching)."""
        if self.services is not None and self.isVisible():
            self.remember_place()  # the database going may be of the other kind
        services, self.services = self.services, None
        if services is None:
            return None
        self._scheduler_starting = False
        self._lost = False
        self._presence_timer.stop()
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor.deleteLater()
            self.monitor = None
        if services.scheduler is not None:
            services.scheduler.remove_listener(self._scheduler_bridge)
        # Nothing the old views asked for may reach them once they are gone (the app gives
        # each database its own runner; one shared with the window cannot be silenced).
        if services.runner is not self.runner:
            services.runner.blockSignals(True)
        if services.changes is not None:
            services.changes.close()
        for widget in self._views.values():
            self.stack.removeWidget(widget)
            widget.deleteLater()
        self._views.clear()
        self.banner.hide()
        self.stack.setEnabled(True)
        self.stack.setToolTip("")
        self.nav.setEnabled(False)
        self.menus.update_for(None)
        self.presence_label.hide()
        self.identity_label.setText("")
        self.identity_label.setToolTip("")
        self.db_label.setText("")
        self.scheduler_label.setText("")
        listener, self._listener = self._listener, None
        return DetachedSession(services, listener)

    def open_view(self, key: str) -> QWidget | None:
        """Switch to view ``key``, building it on first use. Returns the view."""
        spec = views.find(key)
        if spec is None:
            return None
        self._pending_view = key
        if self.services is None:
            return None
        widget = self._views.get(key)
        if widget is None:
            widget = spec.build(self.services)
            self._views[key] = widget
            self.stack.addWidget(widget)
            layout_memory.attach(widget, window_state.saved_layout(self.current_url, key))
            message = getattr(widget, "message", None)
            if message is not None:
                message.connect(lambda text: self.statusBar().showMessage(text, 6000))
            self.viewBuilt.emit(key, widget)
        self.stack.setCurrentWidget(widget)
        row = views.view_keys().index(key)
        if self.nav.currentRow() != row:
            self.nav.blockSignals(True)
            self.nav.setCurrentRow(row)
            self.nav.blockSignals(False)
        self.menus.update_for(widget)
        return widget

    def view(self, key: str) -> QWidget | None:
        return self._views.get(key)

    def current_key(self) -> str | None:
        """The key of the view on screen (or to be opened once the database is)."""
        return self._pending_view

    def current_view(self) -> QWidget | None:
        """The view on screen, None while no database is open."""
        widget = self.stack.currentWidget()
        return widget if widget is not self.startup and self.services is not None else None

    def set_pending_view(self, key: str) -> None:
        """The view to open when the database is open (a remembered one)."""
        if views.find(key) is not None:
            self._pending_view = key

    def view_layouts(self) -> dict[str, settings.ViewLayout]:
        """What the person set in each view built (``desktop.lists.layout_memory``)."""
        memories = {key: layout_memory.memory_of(w) for key, w in self._views.items()}
        return {key: m.layout() for key, m in memories.items() if m is not None}

    def about_database(self) -> DatabaseFacts | None:
        if self.services is None:
            return None
        db = self.services.ctx.db
        return DatabaseFacts(db.target.masked(), db.describe().split(" · ", 1)[0])

    # -- where the window was left -----------------------------------------------------------
    def remember_place(self) -> bool:
        """Write down the window's place for the open database's kind (a person's window
        only)."""
        if not self.remembers_place or not self.current_url:
            return False
        kind = settings.database_kind(self.current_url)
        return window_state.remember(self, self, kind)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.remember_place()
        super().closeEvent(event)

    def _nav_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        if current is not None:
            self.open_view(current.data(Qt.ItemDataRole.UserRole))

    # -- connection ------------------------------------------------------------------------------
    def open_connection_dialog(
        self,
        *,
        first_run: bool = False,
        on_cancel: Callable[[], None] | None = None,
        message: str | None = None,
    ) -> QWidget:
        """The Connection dialog (window-modal), showing ``message`` (why it opened) if given.
        Saving a different database asks the app to switch to it."""
        from desktop.connection.dialog import ConnectionDialog, same_database

        if self.connection_dialog is not None:
            self.connection_dialog.raise_()
            return self.connection_dialog
        dialog = ConnectionDialog(self.runner, self.current_url, self, first_run=first_run)

        def finished(result: int) -> None:
            self.connection_dialog = None
            dialog.deleteLater()
            chosen = dialog.chosen_url
            if not result or not chosen:
                if on_cancel is not None:
                    on_cancel()
                return
            # Reopen only when something changed (or nothing is open yet).
            if (
                self.services is None
                or dialog.password_changed
                or not same_database(chosen, self.current_url)
            ):
                self.switchRequested.emit(chosen)

        dialog.finished.connect(finished)
        self.connection_dialog = dialog
        dialog.open()
        if message:
            dialog.show_message(message)
        return dialog

    # -- losing the database ---------------------------------------------------------------------
    def _ping_now(self) -> None:
        if self.monitor is not None:
            self.monitor.ping_now()

    def _on_lost(self, sentence: str) -> None:
        self._lost = True
        self.banner.show_reason(sentence)
        # What is on screen stays visible; nothing on it can be used until the database is back.
        self.stack.setEnabled(False)
        self.stack.setToolTip(f"Reconnecting to the database: {sentence}")
        scheduler = self.services.scheduler if self.services else None
        if scheduler is not None:
            scheduler.pause()
        self._update_scheduler_label()
        bad = theme.status_colours("failed")[0].name()
        self.db_label.setText(f"<span style='color:{bad}'>●</span> Database unreachable")
        self.db_label.setToolTip(sentence)
        self.databaseLost.emit(sentence)

    def _on_restored(self) -> None:
        self._lost = False
        self.banner.hide()
        self.stack.setEnabled(True)
        self.stack.setToolTip("")
        services = self.services
        if services is None:
            return
        if services.scheduler is not None:
            services.scheduler.resume()
        self._update_scheduler_label()
        self._catch_up(services)
        self.refresh_identity()
        if services.ctx.db.is_postgres:
            self.refresh_presence()
        self.statusBar().showMessage("The database answers again.", 6000)
        self.databaseRestored.emit()

    def _catch_up(self, services: AppServices) -> None:
        """Re-read what the views show: changes made while this copy was cut off sent
        notices nobody here heard."""
        if services.changes is not None:
            for table in LIVE_TABLES:
                services.changes.changed.emit(table, (), ())
        for key, widget in self._views.items():
            if key in FOLLOWS_CHANGES and services.changes is not None:
                continue
            again = getattr(widget, "refresh", None) or getattr(widget, "reload", None)
            if again is not None:
                again()

    # -- status bar ----------------------------------------------------------------------------
    def scheduler_starting(self) -> None:
        """The scheduler of the open database is being started (off the UI thread)."""
        self._scheduler_starting = True
        self._update_scheduler_label()

    def attach_scheduler(self, scheduler: Any) -> None:
        """The scheduler of the open database runs: show it, and hand it to the views."""
        services = self.services
        if services is None:
            return
        services.scheduler = scheduler
        self._scheduler_starting = False
        scheduler.add_listener(self._scheduler_bridge)
        if self._lost:
            scheduler.pause()  # as _on_lost would have done had it been running then
        for widget in self._views.values():
            attach = getattr(widget, "attach_scheduler", None)
            if attach is not None:
                attach(scheduler)
        self._update_scheduler_label()

    def _notice_of_run(self, state: Any) -> None:
        """A run that changed figures on screen by itself says so (core.jobs.notices)."""
        from core.jobs.notices import notice_for

        text = notice_for(state)
        if text:
            self.statusBar().showMessage(text, NOTICE_MS)

    def scheduler_failed(self, sentence: str) -> None:
        self._scheduler_starting = False
        self._update_scheduler_label()
        self.statusBar().showMessage(f"The scheduler did not start: {sentence}", 15_000)

    def _update_scheduler_label(self) -> None:
        s = self.services.scheduler if self.services else None
        if s is None:
            starting = self._scheduler_starting and self.services is not None
            self.scheduler_label.setText("Scheduler: starting…" if starting else "Scheduler: off")
            return
        states = s.states()
        failing = [st for st in states if st.last_outcome == "error"]
        if not s.running:
            text = "Scheduler: stopped"
        elif getattr(s, "paused", False):
            text = f"Scheduler: paused · {len(states)} tasks"
        else:
            text = f"Scheduler: running · {len(states)} tasks"
        if failing:
            text += f" · {len(failing)} failing"
            self.scheduler_label.setToolTip(
                "\n".join(f"{st.title}: {st.last_message}" for st in failing)
            )
        else:
            self.scheduler_label.setToolTip("")
        self.scheduler_label.setText(text)

    def _show_round_trip(self, seconds: float) -> None:
        ok = theme.status_colours("success")[0].name()
        self.db_label.setText(
            f"<span style='color:{ok}'>●</span> Database: {seconds * 1000:.0f} ms"
        )
        self.db_label.setToolTip("The database answered the last check (every 2 s).")

    def refresh_identity(self) -> None:
        """Who is acting and under which role ("bob · finance"), read off the UI thread."""
        services = self.services
        if services is None:
            return
        ctx = services.ctx
        actor = ctx.default_actor()

        def work() -> Any:
            from core.access.acting import acting

            return acting(ctx.db, actor)

        services.runner.submit(work, self._show_identity, lambda _exc: None, key="identity")

    def _show_identity(self, who: Any) -> None:
        if self.services is None:
            return
        role = who.role or "no role"
        self.identity_label.setText(f"{who.actor} · {role}")
        held = ", ".join(who.roles) or "no role"
        tip = f"You act as {who.actor}: {held} (from the {who.source})."
        if who.refusal:
            tip += f"\n{who.refusal}"
        self.identity_label.setToolTip(tip)
        self.identity_label.setAccessibleDescription(tip)

    def refresh_presence(self) -> None:
        """Count the staff machines online (shared mode), off the UI thread."""
        services = self.services
        if services is None or not services.ctx.db.is_postgres:
            return
        ctx = services.ctx

        def work() -> list[tuple[str, str, str, str]]:
            from core.jobs.copies import clients_online

            rows = clients_online(ctx.db, ctx.clock.now())
            return [(c.id, c.kind, c.host, c.user) for c in rows]

        services.runner.submit(work, self._show_presence, lambda _exc: None, key="presence")

    def _show_presence(self, clients: list[tuple[str, str, str, str]]) -> None:
        services = self.services
        apps = {cid for cid, kind, _h, _u in clients if kind == "app"}
        if services is not None and services.scheduler is not None:
            # This copy is online even before its first heartbeat has landed.
            apps.add(services.ctx.client_id)
        workers = sum(1 for _id, kind, _h, _u in clients if kind != "app")
        n = len(apps)
        text = f"{n} staff machine{'' if n == 1 else 's'} online"
        if workers:
            text += f" · {workers} worker{'' if workers == 1 else 's'}"
        self.presence_label.setText(text)
        self.presence_label.setToolTip(
            "\n".join(
                f"{user} on {host}" + ("" if kind == "app" else " (worker)")
                for _id, kind, host, user in clients
            )
        )

    # -- shutdown ----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and the scheduler, let pool work finish, close the database."""
        detached = self.take_services()
        self.runner.wait(5000)
        if detached is not None:
            close_session(detached)
            if detached.services.runner is not self.runner:
                detached.services.runner.deleteLater()
