"""The sentence a failed or refused read leaves above a page, with Retry beside it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class RetryBanner(QFrame):
    """A bar (style sheet name ``Banner``) with the sentence in ``text`` and a Retry button
    that calls ``retry``."""

    def __init__(self, parent: QWidget, retry: Callable[[], None]) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.text = QLabel("", self)
        self.text.setWordWrap(True)
        button = QPushButton("Retry", self)
        button.clicked.connect(retry)
        lay.addWidget(self.text, 1)
        lay.addWidget(button)
