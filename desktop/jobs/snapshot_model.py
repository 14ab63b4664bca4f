"""A table model over a list of rows read in one go (the copies online, the gateway
connections): the whole list is replaced on each read, with the time it was read so ages
("3 s ago") are counted from the same moment in every row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QWidget

from desktop.lists.table_look import set_list_look
from desktop.shell.named import named

Index = QModelIndex | QPersistentModelIndex
Row = TypeVar("Row")
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class SnapshotModel(QAbstractTableModel, Generic[Row]):
    """Subclasses name their ``columns``, the ``numeric`` ones (right-aligned) and the field
    a row is found again by (``key``), and answer ``data``."""

    columns: tuple[str, ...] = ()
    numeric: frozenset[int] = frozenset()
    key = "id"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self._now = datetime.now(UTC)

    def set_rows(self, rows: Sequence[Row], now: datetime) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._now = now
        self.endResetModel()

    def row_at(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, key: str) -> int:
        return next((i for i, r in enumerate(self._rows) if getattr(r, self.key) == key), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in self.numeric:
            return RIGHT
        return None


def snapshot_table(
    parent: QWidget,
    model: QAbstractTableModel,
    name: str,
    description: str,
    widths: tuple[int, ...],
    stretch: int,
) -> QTableView:
    """A table of the Jobs view: the list tables' look, one row selected at a time, the
    column ``stretch`` taking the room left and the others ``widths`` wide (0: left alone)."""
    table = QTableView(parent)
    set_list_look(table, model, QAbstractItemView.SelectionMode.SingleSelection)
    table.setAccessibleName(name)
    table.setAccessibleDescription(description)
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    for col, width in enumerate(widths):
        if width:
            table.setColumnWidth(col, width)
    return table


def section_title(text: str) -> QLabel:
    """A section's title over its table, as the detail panes' section titles read (their
    style sheet rule is the pane's, so the font is set here)."""
    title = named(QLabel(text), "SectionTitle")
    font = title.font()
    font.setBold(True)
    font.setPointSizeF(8)
    font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 1)
    title.setFont(font)
    return title
