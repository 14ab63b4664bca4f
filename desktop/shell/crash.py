"""An exception hook that logs the traceback and shows a dialog instead of dying silently.

Repeats of the same error (same type, same place) are logged but shown once, so a failing
timer does not bury the person under dialogs. Exceptions in other threads are forwarded to
the UI thread.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger("paydesk.crash")


class CrashReporter(QObject):
    _raised = Signal(object, object, object)

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._seen: set[tuple[str, str]] = set()
        self._showing = False
        self._raised.connect(self._show)

    def install(self) -> None:
        sys.excepthook = self._hook
        threading.excepthook = lambda a: self._hook(a.exc_type, a.exc_value, a.exc_traceback)

    def _hook(
        self,
        exc_type: type[BaseException],
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        # Only threading's hook may pass no value, and it runs inside the thread's ``except``,
        # where ``exc_info=True`` finds the same exception.
        log.error("Unhandled error", exc_info=(exc_type, exc, tb) if exc is not None else True)
        # Emitting is thread-safe; the dialog opens on the UI thread.
        self._raised.emit(exc_type, exc, tb)

    @Slot(object, object, object)
    def _show(
        self,
        exc_type: type[BaseException],
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        frames = traceback.extract_tb(tb) if tb is not None else []
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        key = (exc_type.__name__, where)
        if key in self._seen or self._showing:
            return
        self._seen.add(key)
        self._showing = True
        try:
            box = QMessageBox(QApplication.activeWindow())
            box.setIcon(QMessageBox.Icon.Critical)
            box.setWindowTitle("Paydesk")
            box.setText(
                "Something went wrong. Paydesk keeps running, but the last action may not have finished."
            )
            box.setInformativeText(f"{exc_type.__name__}: {exc}")
            box.setDetailedText("".join(traceback.format_exception(exc_type, exc, tb)))
            box.exec()
        finally:
            self._showing = False
