"""The Refunds table's columns in the room it has: every column at its usual width when they
fit; otherwise the columns a person can do without are hidden one by one (the reason first,
the payment last), and when even the key columns (requested, refund, amount, status) do not
fit, the refund id gives up width, elided in the middle (the whole id is in its tooltip and
Copy). So the table never needs to be scrolled sideways, with or without the detail pane. A
width the person dragged a column to is that column's usual width from then on."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTableView

from desktop.lists import layout_memory
from desktop.refunds.model import COLUMN

# The columns shown whatever the width.
KEY_COLUMNS = ("requested", "id", "amount", "status")
# The others, hidden in this order as the room shrinks (and shown again in the reverse).
DROP_ORDER = ("reason", "kind", "requested_by", "age", "merchant", "payment")
# The narrowest an elided id column gets, in characters of its font.
_ID_LEAST_CHARS = 9


class MiddleElide(QStyledItemDelegate):
    """Ids cut in the middle (``rfnd_UQl…573vei``): both ends are what people compare."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class ColumnFit(QObject):
    """Keeps ``table``'s columns fitted to its width (see the module docstring). ``natural``
    is each column's usual width, read from the table when this is made."""

    def __init__(self, table: QTableView) -> None:
        super().__init__(table)
        self.table = table
        self.natural = {key: table.columnWidth(col) for key, col in COLUMN.items()}
        self.hidden: tuple[str, ...] = ()
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for key in ("id", "payment"):
            table.setItemDelegateForColumn(COLUMN[key], MiddleElide(table))
        table.viewport().installEventFilter(self)
        table.horizontalHeader().sectionResized.connect(self._resized)

    def _resized(self, section: int, old: int, new: int) -> None:
        if layout_memory.person_resized(self.table, section, old, new):
            self.natural[next(k for k, c in COLUMN.items() if c == section)] = new
            self.fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False

    def _id_floor(self) -> int:
        return self.table.fontMetrics().averageCharWidth() * _ID_LEAST_CHARS + 24

    def least_width(self) -> int:
        """The width the key columns need at the least (the id elided)."""
        return sum(self.natural[k] for k in KEY_COLUMNS if k != "id") + self._id_floor()

    def fit(self) -> None:
        room = self.table.viewport().width()
        if room <= 0:
            return
        shown = list(COLUMN)
        hidden: list[str] = []
        for key in DROP_ORDER:
            if sum(self.natural[k] for k in shown) <= room:
                break
            shown.remove(key)
            hidden.append(key)
        widths = {k: self.natural[k] for k in shown}
        over = sum(widths.values()) - room
        if over > 0:
            # Only the key columns are left: the refund id gives the width up.
            widths["id"] = max(self._id_floor(), widths["id"] - over)
        header = self.table.horizontalHeader()
        last = header.logicalIndex(header.count() - 1)  # stretched to the edge by the header
        with layout_memory.fitting(self.table):
            for key, col in COLUMN.items():
                self.table.setColumnHidden(col, key in hidden)
                if key in widths and col != last and header.sectionSize(col) != widths[key]:
                    self.table.setColumnWidth(col, widths[key])
        self.hidden = tuple(hidden)
        self.table.horizontalScrollBar().setValue(0)

    def shown_keys(self) -> list[str]:
        """The columns shown, in their order on screen."""
        header = self.table.horizontalHeader()
        keys = {col: key for key, col in COLUMN.items()}
        order = [header.logicalIndex(v) for v in range(header.count())]
        return [keys[c] for c in order if not self.table.isColumnHidden(c)]
