"""Export CSV… of the Payments view: the payments the filters on screen select, written to a
file in the pool, with what has been written and Cancel shown beside the title meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from core import errors
from core.payments.queries import PaymentFilter
from core.store.db import Database
from desktop.payments.filter_bar import PaymentFilterBar
from desktop.shell.named import named
from desktop.shell.runner import ProgressRelay, TaskRunner


class ExportRow(QWidget):
    """What an export in progress shows beside the title: what it has written, and Cancel."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        self.label = named(QLabel("", self), "Muted")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.setFixedWidth(160)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        for w in (self.label, self.progress, self.cancel_button):
            lay.addWidget(w)


class PaymentExport(QObject):
    """One export at a time from ``page``; ``finished(sentence)`` says how it ended."""

    def __init__(
        self,
        page: QWidget,
        bar: PaymentFilterBar,
        runner: TaskRunner,
        db: Database,
        shown_filter: Callable[[], PaymentFilter],
        finished: Callable[[str], None],
    ) -> None:
        super().__init__(page)
        self._page = page
        self._bar = bar
        self._runner = runner
        self._db = db
        self._shown_filter = shown_filter
        self._finished = finished
        self._cancel: threading.Event | None = None
        # Built when first shown: opening the view pays for what is on screen only.
        self._row: ExportRow | None = None

    @property
    def row(self) -> ExportRow:
        if self._row is None:
            row = ExportRow(self._bar.frame)
            row.cancel_button.clicked.connect(self.cancel)
            row.hide()
            self._bar.insert_in_title_row(row)
            self._row = row
        return self._row

    @property
    def running(self) -> bool:
        return self._cancel is not None

    @Slot()
    def ask_and_start(self) -> None:
        """Ask where to write, then start."""
        if self._cancel is not None:
            return
        path_text, _ = QFileDialog.getSaveFileName(
            self._page, "Export payments", str(Path.home() / "payments.csv"), "CSV files (*.csv)"
        )
        if not path_text:
            return
        self.start(Path(path_text))

    def start(self, path: Path) -> None:
        """Write the payments the filters select to ``path`` in the pool, with progress."""
        from core.payments.export import export_payments

        f = self._shown_filter()
        db = self._db
        cancel = threading.Event()
        relay = ProgressRelay(self._page)
        row = self.row
        relay.changed.connect(lambda n: row.label.setText(f"Exporting… {int(n):,} payments"))
        self._cancel = cancel
        row.label.setText("Exporting…")
        row.cancel_button.setEnabled(True)
        row.show()
        self._bar.export_button.setEnabled(False)

        def work() -> int:
            return export_payments(db, f, path, progress=relay.report, cancelled=cancel.is_set)

        self._runner.submit(
            work,
            lambda n: self._done(f"Exported {n:,} payments to {path.name}.", relay),
            lambda exc: self._failed(exc, relay),
        )

    @Slot()
    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.row.label.setText("Cancelling…")
            self.row.cancel_button.setEnabled(False)

    def _failed(self, exc: BaseException, relay: ProgressRelay) -> None:
        from core.payments.export import ExportCancelled

        if isinstance(exc, ExportCancelled):
            self._done("Export cancelled; no file was written.", relay)
        else:
            self._done(errors.sentence(exc), relay)

    def _done(self, sentence: str, relay: ProgressRelay) -> None:
        relay.deleteLater()
        self._cancel = None
        self.row.hide()
        self._bar.export_button.setEnabled(True)
        self._finished(sentence)
