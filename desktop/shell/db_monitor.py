"""Is the database there? A ping every ``interval_ms`` off the UI thread, and at once when any
pooled operation fails with a connection error.

``DatabaseMonitor`` turns pings into two states: reachable, and lost (with the sentence that
says why). A lost database is declared on the first failed ping, or when a ping has not
answered within ``patience_ms`` (a black-holed network makes connects hang rather than fail).
It is reachable again on the first ping that answers. The window shows the banner, pauses the
scheduler and disables the views on ``lost``; it undoes all that on ``restored``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal, Slot

from desktop.shell.runner import TaskRunner

if TYPE_CHECKING:  # SQLAlchemy loads in the pool at startup, not before the window shows
    from sqlalchemy.engine import ExceptionContext

    from core.store.db import Database

log = logging.getLogger(__name__)

PING_INTERVAL_MS = 2_000
# A ping still out after this long counts as "the database does not answer": loss is shown
# within interval + patience (under 5 s) even when connects hang instead of failing.
PATIENCE_MS = 2_500
PING_KEY = "db-monitor-ping"


class DatabaseMonitor(QObject):
    """Watches one open database; lives on the UI thread."""

    lost = Signal(str)  # the sentence saying why
    restored = Signal()
    pinged = Signal(float)  # round trip in seconds, after every answered ping
    # Emitted from whichever thread saw a connection error; queued to the UI thread.
    _suspect = Signal()

    def __init__(
        self,
        runner: TaskRunner,
        db: Database,
        parent: QObject | None = None,
        *,
        interval_ms: int = PING_INTERVAL_MS,
        patience_ms: int = PATIENCE_MS,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.db = db
        self.reachable = True
        self.reason = ""
        self._in_flight = False
        self._since = QElapsedTimer()
        self._overdue = QTimer(self)
        self._overdue.setSingleShot(True)
        self._overdue.setInterval(patience_ms)
        self._overdue.timeout.connect(self._ping_overdue)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._suspect.connect(self.ping_now)
        self._watching = False

    def start(self) -> None:
        """Ping now and every interval; hear connection errors of every pooled operation."""
        from sqlalchemy import event

        if not self._watching:
            event.listen(self.db.engine, "handle_error", self._on_engine_error)
            self._watching = True
        self._timer.start()
        self.ping_now()

    def stop(self) -> None:
        self._timer.stop()
        self._overdue.stop()
        self.runner.invalidate(PING_KEY)
        self._in_flight = False
        if self._watching:
            from sqlalchemy import event

            event.remove(self.db.engine, "handle_error", self._on_engine_error)
            self._watching = False

    @Slot()
    def ping_now(self) -> None:
        """Ask the database at once (unless a ping is already out)."""
        if self._in_flight or not self._timer.isActive():
            return
        self._in_flight = True
        self._since.start()
        self._overdue.start()
        self.runner.submit(self.db.ping, self._answered, self._failed, key=PING_KEY)

    def _tick(self) -> None:
        if not self._in_flight:
            self.ping_now()

    def _ping_overdue(self) -> None:
        if self._in_flight and self.reachable:
            seconds = self._since.elapsed() / 1000
            self._go_lost(f"The database has not answered for {seconds:.0f} s.")

    def _answered(self, seconds: float) -> None:
        self._in_flight = False
        self._overdue.stop()
        self.pinged.emit(seconds)
        if not self.reachable:
            self.reachable = True
            self.reason = ""
            log.info("The database answers again")
            self.restored.emit()

    def _failed(self, exc: BaseException) -> None:
        self._in_flight = False
        self._overdue.stop()
        sentence = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        self._go_lost(sentence)

    def _go_lost(self, sentence: str) -> None:
        changed = self.reachable or sentence != self.reason
        self.reason = sentence
        if self.reachable:
            log.warning("Lost the database: %s", sentence)
        self.reachable = False
        if changed:
            self.lost.emit(sentence)

    def _on_engine_error(self, context: ExceptionContext) -> Any:
        # Any thread (a view's query, a scheduler task). Only hint: the ping decides.
        from sqlalchemy.exc import DBAPIError

        original = context.original_exception
        if context.is_disconnect or (
            isinstance(context.sqlalchemy_exception, DBAPIError)
            and type(original).__name__ == "OperationalError"
        ):
            # RuntimeError: the monitor is gone and the engine outlived it.
            with contextlib.suppress(RuntimeError):
                self._suspect.emit()
        return None
