"""The frame every detail pane shares: a scrolling body with a title, a status badge, a
close button and a selectable subtitle. Subclasses add their sections to ``body_layout``."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import theme
from desktop.status_badge import StatusLabel


class DetailPane(QFrame):
    """Emits ``closed`` when the person hides the pane."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None, *, min_width: int = 300) -> None:
        super().__init__(parent)
        self.setObjectName("DetailPane")
        self.setMinimumWidth(min_width)
        self.values: dict[str, QLabel] = {}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = QScrollArea(self)
        self.scroll.setObjectName("DetailScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(self.scroll)
        body = QWidget()
        body.setObjectName("DetailBody")
        self.scroll.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(16, 14, 16, 16)
        lay.setSpacing(4)
        self.body_layout = lay

        head = QHBoxLayout()
        self.title = QLabel("", objectName="DetailTitle")
        self.badge = StatusLabel()
        close = QToolButton(self)
        close.setIcon(theme.icon("clear"))
        close.setToolTip("Close the detail pane")
        close.setAutoRaise(True)
        close.clicked.connect(self.closed)
        head.addWidget(self.title)
        head.addSpacing(8)
        head.addWidget(self.badge)
        head.addStretch(1)
        head.addWidget(close)
        lay.addLayout(head)
        self.subtitle = QLabel("", objectName="Muted")
        self.subtitle.setWordWrap(True)
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.subtitle)
