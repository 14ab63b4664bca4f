"""The settlement batches above the Reconciliation list: one row per batch and currency (date,
settlement, UTR, lines, net reported, difference, open exceptions), newest first, with
"Every settlement" on top and Paydesk's own missing-from-settlement lines last. Choosing a row
narrows the lines below to it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from core.money import format_money
from core.recon.service import BatchSummary
from desktop.shell import theme
from desktop.shell.named import named

COLUMNS = ("Settled", "Settlement", "UTR", "Lines", "Net reported", "Difference", "Open")
_RIGHT = {3, 4, 5, 6}
# A row's choice: a batch id, or one of these.
EVERY = ""
MISSING = "\x00missing"
_VISIBLE_ROWS = 4


def _item(text: str, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class BatchesTable(QTableWidget):
    """Emits ``chosen`` with the choice (a batch id, ``EVERY`` or ``MISSING``) when the person
    picks a row."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        named(self, "ReconBatches")
        self.setAccessibleName("Settlement batches")
        self.setAccessibleDescription("Choose a batch to show its lines")
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        row_height = max(24, self.fontMetrics().height() + 10)
        self.verticalHeader().setDefaultSectionSize(row_height)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setFixedHeight(header.sizeHint().height() + row_height * _VISIBLE_ROWS + 4)
        self.choices: list[str] = []
        self.batches: list[BatchSummary] = []
        self.itemSelectionChanged.connect(self._selected)

    def set_batches(self, batches: list[BatchSummary], keep: str) -> None:
        """Show ``batches``, with the row of ``keep`` (a choice) selected again, quietly."""
        self.blockSignals(True)
        try:
            self.batches = list(batches)
            self.choices = [EVERY]
            self.setRowCount(0)
            open_total = sum(b.open_exceptions for b in batches)
            lines_total = sum(b.lines for b in batches)
            self._add(["", "Every settlement", "", f"{lines_total:,}", "", "", f"{open_total:,}"])
            for b in batches:
                self.choices.append(b.batch_id if b.batch_id is not None else MISSING)
                self._add(
                    [
                        f"{b.settled_at:%Y-%m-%d}" if b.settled_at else "",
                        b.batch_id or "Missing from settlement",
                        b.utr or "",
                        f"{b.lines:,}",
                        format_money(b.net_reported, b.currency) if b.batch_id else "",
                        format_money(b.difference, b.currency),
                        f"{b.open_exceptions:,}",
                    ],
                    warn=bool(b.unexplained),
                )
            row = self.choices.index(keep) if keep in self.choices else 0
            self.selectRow(row)
        finally:
            self.blockSignals(False)

    def _add(self, cells: list[str], warn: bool = False) -> None:
        row = self.rowCount()
        self.insertRow(row)
        for col, text in enumerate(cells):
            item = _item(text, col in _RIGHT)
            if warn and col == 5:
                item.setForeground(theme.status_colours("failed")[0])
            self.setItem(row, col, item)

    def choice(self) -> str:
        rows = self.selectionModel().selectedRows()
        return self.choices[rows[0].row()] if rows else EVERY

    def choose(self, choice: str) -> None:
        """Select the row of ``choice`` (as a click would)."""
        if choice in self.choices:
            self.selectRow(self.choices.index(choice))

    def _selected(self) -> None:
        self.chosen.emit(self.choice())

    def row_texts(self) -> list[list[str]]:
        """What each row says (for tests and the clipboard)."""
        out = []
        for r in range(self.rowCount()):
            cells = [self.item(r, c) for c in range(self.columnCount())]
            out.append([c.text() if c is not None else "" for c in cells])
        return out
