"""Importing settlement reports from the Reconciliation view, off the UI thread: a file (from
the file dialog or dropped on the view), first previewed so that a header Paydesk does not
know goes through the column-mapping step, then imported with a progress bar and Cancel; or
the demo's sample reports, all in one go. Cancel leaves nothing of the file being read
imported."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from core import errors
from core.recon import column_mapping, importer, samples
from core.recon.column_mapping import Preview
from core.recon.formats import Format
from desktop.recon.dialogs import MappingDialog
from desktop.shell.named import named
from desktop.shell.runner import ProgressRelay
from desktop.shell.views import AppServices


class ImportBar(QFrame):
    """A progress bar with what it is reading and Cancel; hidden while nothing is imported."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "ImportBar")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.text = named(QLabel(""), "Muted")
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(260)
        self.cancel_button = QPushButton("Cancel", self)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.cancel_button)
        self.hide()

    def begin(self, text: str) -> None:
        self.text.setText(text)
        self.progress.setRange(0, 0)  # busy until the first report
        self.cancel_button.setEnabled(True)
        self.show()

    def report(self, what: str, lines: int, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(min(1000, done * 1000 // total))
        share = f" ({done * 100 // total}%)" if total else ""
        self.text.setText(f"Importing {what}: {lines:,} lines{share}")


class ReportImport(QObject):
    """Runs imports for the view. Emits ``busyChanged`` as one starts and ends, and
    ``finished`` with the sentence it ended with and whether anything may have changed."""

    busyChanged = Signal(bool)
    finished = Signal(str, bool)

    def __init__(self, services: AppServices, bar: ImportBar, parent: QWidget) -> None:
        super().__init__(parent)
        self.services = services
        self.bar = bar
        self.parent_widget = parent
        self.busy = False
        self.mapping_dialog: MappingDialog | None = None
        self._cancel = threading.Event()
        self.chunk_lines = importer.CHUNK_LINES
        bar.cancel_button.clicked.connect(self.cancel)

    def cancel(self) -> None:
        """Stop the import at its next chunk; nothing of it is kept."""
        self._cancel.set()
        self.bar.cancel_button.setEnabled(False)
        self.bar.text.setText("Cancelling…")

    def import_file(self, path: Path) -> None:
        """Preview ``path``; a known format imports at once, any other header asks for the
        columns first."""
        if self.busy:
            return
        self._set_busy(True)
        self.bar.begin(f"Reading {path.name}…")
        self.services.runner.submit(
            lambda: column_mapping.preview(path),
            lambda p: self._previewed(path, p),
            self._failed,
        )

    def _previewed(self, path: Path, preview: Preview) -> None:
        if preview.format is not None:
            self._run_import(path, None)
            return
        self.bar.hide()
        dialog = MappingDialog(preview, self.parent_widget)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.mapping_dialog = dialog

        def finished(result: int) -> None:
            self.mapping_dialog = None
            if result and dialog.format is not None:
                self._run_import(path, dialog.format)
            else:
                self._end("", changed=False)

        dialog.finished.connect(finished)
        dialog.open()

    def _run_import(self, path: Path, fmt: Format | None) -> None:
        ctx, actor, chunk = self.services.ctx, self.services.ctx.default_actor(), self.chunk_lines
        cancelled = self._cancel

        def work(progress: Callable[..., None]) -> str:
            return importer.import_report(
                ctx,
                actor,
                path,
                fmt=fmt,
                progress=progress,
                cancel=cancelled.is_set,
                chunk_lines=chunk,
            ).sentence()

        self._start(path.name, work)

    def import_samples(self) -> None:
        """Import the demo's sample settlement reports (written first when not there yet)."""
        if self.busy:
            return
        self._set_busy(True)
        ctx, actor, cancelled = self.services.ctx, self.services.ctx.default_actor(), self._cancel

        def work(progress: Callable[..., None]) -> str:
            return samples.import_samples(
                ctx, actor, progress=progress, cancel=cancelled.is_set
            ).sentence()

        self._start("the sample reports", work)

    def _start(self, what: str, work: Callable[[Callable[..., None]], str]) -> None:
        self._cancel.clear()
        self.bar.begin(f"Importing {what}…")
        relay = ProgressRelay(self)

        def show(report: Any) -> None:
            if not self._cancel.is_set():
                lines, done, total = report
                self.bar.report(what, int(lines), int(done), int(total))

        relay.changed.connect(show)

        def done(sentence: str) -> None:
            relay.deleteLater()
            self._end(sentence, changed=True)

        def failed(exc: BaseException) -> None:
            relay.deleteLater()
            self._failed(exc)

        self.services.runner.submit(lambda: work(relay.report), done, failed)

    def _failed(self, exc: BaseException) -> None:
        # A sample import may have kept the files before the one that failed.
        self._end(errors.sentence(exc), changed=True)

    def _end(self, sentence: str, *, changed: bool) -> None:
        self.bar.hide()
        self._set_busy(False)
        self.finished.emit(sentence, changed)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.busyChanged.emit(busy)
