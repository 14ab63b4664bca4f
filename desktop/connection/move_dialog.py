""" "Move this standalone database to shared Postgres…": ``core.store.dbcopy.copy_database`` in the
pool with a progress bar and Cancel, then the offer to switch this copy to the shared database.

The copy is one transaction on the target: Cancel (or any failure) leaves the target as it
was. A target that already holds data is refused unless "Replace the data already there" is
ticked and confirmed.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import PaydeskError
from core.store import dbcopy, dburl
from core.store.dbcopy import CopyReport
from desktop.shell import theme
from desktop.shell.named import named
from desktop.shell.runner import ProgressRelay, TaskRunner


class MoveDialog(QDialog):
    """Copies ``source_url`` into ``target_url`` (which may carry the password; it is only
    ever shown masked). ``switch_requested`` is True when the person chose to switch."""

    copyFinished = Signal(bool, str)

    def __init__(
        self,
        runner: TaskRunner,
        source_url: str,
        target_url: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.source_url = source_url
        self.target_url = target_url
        self.switch_requested = False
        self.report: CopyReport | None = None
        self._cancel = threading.Event()
        self._running = False
        self.setWindowTitle("Move to shared Postgres")
        self.setMinimumWidth(540)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(12)
        heading = QLabel("Move this standalone database to shared Postgres")
        heading.setStyleSheet("font-size: 13pt; font-weight: 700;")
        lay.addWidget(heading)
        form = QFormLayout()
        source = QLabel(dburl.mask(source_url))
        target = QLabel(dburl.mask(target_url))
        for label in (source, target):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("From", source)
        form.addRow("To", target)
        lay.addLayout(form)
        note = named(
            QLabel(
                "Every table is copied in one transaction, then row counts and money totals per "
                "currency are compared. The standalone file is left as it is."
            ),
            "Muted",
        )
        note.setWordWrap(True)
        lay.addWidget(note)
        self.force_box = QCheckBox("Replace the data already in the shared database")
        lay.addWidget(self.force_box)
        self.stage = named(QLabel(""), "Muted")
        lay.addWidget(self.stage)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outcome.hide()
        lay.addWidget(self.outcome)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.copy_button = named(QPushButton("Copy"), "Primary")
        self.copy_button.clicked.connect(self.start)
        self.switch_button = named(QPushButton("Switch to the shared database"), "Primary")
        self.switch_button.clicked.connect(self._switch)
        self.switch_button.hide()
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.switch_button)
        lay.addLayout(buttons)

    def start(self) -> None:
        """Run the copy in the pool (after a confirmation when data would be replaced)."""
        if self._running:
            return
        force = self.force_box.isChecked()
        if force:
            answer = QMessageBox.question(
                self,
                "Replace data",
                "Replace every row the shared database holds with this file's data?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._running = True
        self._cancel.clear()
        self.copy_button.setEnabled(False)
        self.force_box.setEnabled(False)
        self.outcome.hide()
        self.stage.setText("Preparing the shared database…")
        self.progress.setRange(0, 0)
        relay = ProgressRelay(self)
        relay.changed.connect(self._progress)
        source, target, cancel = self.source_url, self.target_url, self._cancel

        def work() -> CopyReport:
            return dbcopy.copy_database(
                source,
                target,
                force=force,
                progress=lambda table, done, total: relay.report((table, done, total)),
                cancelled=cancel.is_set,
            )

        self.runner.submit(work, self._copied, self._failed)

    def cancel(self) -> None:
        """While copying: stop (the target is rolled back). Otherwise close."""
        if self._running:
            self._cancel.set()
            self.stage.setText("Cancelling…")
            self.cancel_button.setEnabled(False)
            return
        self.reject()

    def _progress(self, report: tuple[str, int, int]) -> None:
        table, done, total = report
        self.stage.setText(f"Copying {table}: {done:,} of {total:,} rows")
        self.progress.setRange(0, max(1, int(total)))
        self.progress.setValue(int(done))

    def _copied(self, report: CopyReport) -> None:
        self._running = False
        self.report = report
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.stage.setText("")
        self._say(
            True,
            f"Copied {report.rows:,} rows in {report.seconds:.1f} s; row counts and money "
            "totals match. Switch this copy of Paydesk to the shared database now?",
        )
        self.copy_button.hide()
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Not now")
        self.switch_button.show()
        self.copyFinished.emit(True, self.outcome.text())

    def _failed(self, exc: BaseException) -> None:
        self._running = False
        sentence = exc.message if isinstance(exc, PaydeskError) else f"The copy failed: {exc}"
        if isinstance(exc, dbcopy.CopyCancelled):
            sentence = "Cancelled; the shared database was left as it was."
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.stage.setText("")
        self._say(False, sentence)
        self.copy_button.setEnabled(True)
        self.force_box.setEnabled(True)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Close")
        self.copyFinished.emit(False, sentence)

    def _say(self, ok: bool, text: str) -> None:
        fg, _bg = theme.status_colours("success" if ok else "failed")
        self.outcome.setStyleSheet(f"color: {fg.name()};")
        self.outcome.setText(text)
        self.outcome.show()

    def _switch(self) -> None:
        self.switch_requested = True
        self.accept()

    def reject(self) -> None:
        if self._running:  # Escape while copying cancels first
            self.cancel()
            return
        super().reject()
