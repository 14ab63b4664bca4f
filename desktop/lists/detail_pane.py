"""The frame every detail pane shares: a scrolling body with a title, a status badge, a
close button and a selectable subtitle. Subclasses add their sections to ``body_layout``.

``field_grid`` and ``fill_fields`` are the grid of named fields (name on the left, its
selectable value on the right) that the panes and the Endpoints dialog show."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.lists.status_badge import StatusLabel
from desktop.shell import theme
from desktop.shell.named import named


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
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setObjectName("DetailScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(self.scroll_area)
        body = QWidget()
        body.setObjectName("DetailBody")
        self.scroll_area.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(16, 14, 16, 16)
        lay.setSpacing(4)
        self.body_layout = lay

        head = QHBoxLayout()
        self.title = named(QLabel(""), "DetailTitle")
        self.badge = StatusLabel()
        close = QToolButton(self)
        close.setIcon(theme.icon("clear"))
        close.setToolTip("Close the detail pane")
        close.setAccessibleName("Close the detail pane")
        close.setAutoRaise(True)
        close.clicked.connect(self.closed)
        head.addWidget(self.title)
        head.addSpacing(8)
        head.addWidget(self.badge)
        head.addStretch(1)
        head.addWidget(close)
        lay.addLayout(head)
        self.subtitle = named(QLabel(""), "Muted")
        self.subtitle.setWordWrap(True)
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.subtitle)


def field_grid() -> QGridLayout:
    """An empty grid of fields: names on the left, values taking the width that is left."""
    grid = QGridLayout()
    grid.setHorizontalSpacing(12)
    grid.setVerticalSpacing(5)
    grid.setColumnStretch(1, 1)
    return grid


def fill_fields(
    grid: QGridLayout, fields: list[tuple[str, str]], *, wrap: bool = True
) -> dict[str, QLabel]:
    """Replace what ``grid`` shows by one row per (name, value) of ``fields``; returns the
    value labels by name. A ``wrap``ped value may take several lines, its name staying at
    the top of the row."""
    while grid.count():
        item = grid.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.deleteLater()
    values: dict[str, QLabel] = {}
    for row, (name, value) in enumerate(fields):
        key = named(QLabel(name), "FieldName")
        val = named(QLabel(value), "FieldValue")
        if wrap:
            val.setWordWrap(True)
        val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if wrap:
            grid.addWidget(key, row, 0, Qt.AlignmentFlag.AlignTop)
        else:
            grid.addWidget(key, row, 0)
        grid.addWidget(val, row, 1)
        values[name] = val
    return values
