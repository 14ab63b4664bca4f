"""What the Payments view shows over an empty database: a sentence and Load demo data, which
seeds realistic demo payments off the UI thread with its progress below the button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from core import errors
from desktop.lists import list_page
from desktop.shell.named import named
from desktop.shell.runner import ProgressRelay
from desktop.shell.views import AppServices


class DemoOffer(QObject):
    """The page (``page``, a child of ``pages``) and the seeding of ``payments`` demo payments;
    ``loaded()`` once they are in."""

    def __init__(
        self, pages: QWidget, services: AppServices, payments: int, loaded: Callable[[], None]
    ) -> None:
        super().__init__(pages)
        self._services = services
        self._payments = payments
        self._loaded = loaded
        self._seeding = False
        page, lay, _head, _body = list_page.state_page(
            pages,
            "empty",
            "No payments yet",
            "Payments appear here as the gateway records them.\n"
            f"To look around first, load {payments:,} realistic demo payments.",
        )
        self.page = page
        self.button = named(QPushButton("Load demo data", page), "Primary")
        self.button.clicked.connect(self.load)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.button)
        row.addStretch(1)
        lay.addLayout(row)
        self.progress = QProgressBar(page)
        self.progress.setFixedWidth(280)
        self.progress.hide()
        self.status = named(QLabel(""), "EmptyText")
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        prow = QHBoxLayout()
        prow.addStretch(1)
        prow.addWidget(self.progress)
        prow.addStretch(1)
        lay.addLayout(prow)
        lay.addWidget(self.status)
        lay.addStretch(3)

    def load(self) -> None:
        """Seed demo payments into this (empty) database off the UI thread."""
        if self._seeding:
            return
        self._seeding = True
        self.button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Preparing demo data…")
        relay = ProgressRelay(self)
        relay.changed.connect(self._progress)
        db = self._services.ctx.db
        now = self._services.ctx.clock.now()
        count = self._payments

        def work() -> Any:
            from core.demo import generator as demo

            return demo.seed(db, payments=count, seed=1, now=now, progress=relay.report)

        def done(_summary: Any) -> None:
            self._finished(relay)
            self._loaded()

        def failed(exc: BaseException) -> None:
            self._finished(relay)
            self.status.setText(errors.sentence(exc))

        self._services.runner.submit(work, done, failed)

    def _progress(self, report: Any) -> None:
        stage, done, total = report
        if total:
            self.progress.setRange(0, int(total))
            self.progress.setValue(int(done))
        self.status.setText(f"{str(stage).capitalize()}… {int(done):,} of {int(total):,}")

    def _finished(self, relay: ProgressRelay) -> None:
        relay.deleteLater()
        self._seeding = False
        self.button.setEnabled(True)
        self.progress.hide()
        self.status.setText("")
