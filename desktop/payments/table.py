"""The Payments table: a ``RowPaintedTable`` over the ``PaymentsModel`` with its columns' widths,
the customer column taking what the window has left, the sort indicator on the columns that
sort, and the pages ahead read once the rows just shown are painted."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QAbstractItemView, QWidget

from desktop.lists import layout_memory
from desktop.lists.row_painter import RowPaintedTable
from desktop.lists.table_look import set_list_look
from desktop.payments.model import COLUMN, PaymentsModel

READ_AHEAD_FALLBACK_MS = 250
# Widths from samples of typical content, so they follow the font (and its DPI); together
# they fit the 1280 px window beside the navigation. Longer values are elided (the tooltip and
# the detail pane have them whole); the last column takes what is left.
_COLUMN_SAMPLES = {
    "created": "2026-12-31 23:59",
    "id": "pay_xf3vv5wWToJIEG",
    "merchant": "Kirana Expr",
    "order": "order_JkhVQq4m",
    "customer": "tanvi.banerjee@yah",  # stretches: takes what the window has left
    "method": "Netbanking",
    "amount": "₹26,269.00",
    "status": "Success",
    "refunded": "₹7,759.00 · ₹500.00 requested",
}
# The columns that give up width when the window is narrow, most willing first, each down to
# the width of its text here (elided beyond it); created, id, order (which support staff search
# by), amount and status keep theirs.
_GIVES_WAY = {"refunded": "₹7,759.00", "customer": "", "merchant": "Aster", "method": "Card"}
_CELL_PADDING = 32  # the style sheet's item padding, the focus frame and some air
# Room for the sort arrow beside the title of a column that sorts, and for a status badge.
_EXTRA = {"created": 10, "id": 8, "amount": 10, "status": 8}


class PaymentsTable(RowPaintedTable):
    """One payment a row, newest first until a sortable header is clicked."""

    def __init__(self, model: PaymentsModel, parent: QWidget | None = None) -> None:
        super().__init__(model.column_looks(), parent)
        self._model = model
        set_list_look(self, model, QAbstractItemView.SelectionMode.SingleSelection)
        self.setAccessibleName("Payments")
        self.setAccessibleDescription(
            "One payment a row; Enter opens its detail, the arrow keys move between rows"
        )
        # Always there (disabled when every row fits): a query that goes from many rows to a
        # few then neither narrows nor widens the viewport and header, which would lay out
        # and repaint both a second time, and the header never has a gap where it was.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        hh = self.horizontalHeader()
        hh.setSectionsClickable(True)
        hh.setSortIndicatorShown(True)
        hh.setSortIndicator(COLUMN["created"], Qt.SortOrder.DescendingOrder)
        hh.setStretchLastSection(False)
        self.ensurePolished()  # the style sheet's font, not the default one
        metrics = self.fontMetrics()
        # The width each column would like: from its sample, or where the person dragged it.
        self._wanted: dict[int, int] = {}
        for key, sample in _COLUMN_SAMPLES.items():
            width = metrics.horizontalAdvance(sample) + _CELL_PADDING + _EXTRA.get(key, 0)
            self._wanted[COLUMN[key]] = width
            self.setColumnWidth(COLUMN[key], width)
        self._min_customer_width = hh.minimumSectionSize()
        self._least = {
            COLUMN[key]: max(self._min_customer_width, metrics.horizontalAdvance(text) + 20)
            for key, text in _GIVES_WAY.items()
        }
        # The customer column takes what the table has left beside the scroll bar (always
        # shown), worked out when the table changes size rather than by a Stretch section;
        # in a narrow window the columns of ``_GIVES_WAY`` narrow first.
        self.resized.connect(self._fit_customer_column)
        layout_memory.takes_the_rest(self, COLUMN["customer"])
        # Pages are read ahead once the rows just shown have been painted: a read in the pool
        # during the paint would take turns with it for the GIL and slow both.
        self.painted.connect(self._painted)
        self._read_ahead_fallback = QTimer(self)
        self._read_ahead_fallback.setSingleShot(True)
        self._read_ahead_fallback.setInterval(READ_AHEAD_FALLBACK_MS)  # not painted (hidden)
        self._read_ahead_fallback.timeout.connect(model.read_ahead)
        model.set_read_ahead_scheduler(self.read_ahead_after_paint)
        hh.sectionResized.connect(self._column_resized)
        # Lay the new rows out now rather than on Qt's next turn: the repaint they cause then
        # shows them laid out, instead of a second full repaint following the first.
        model.modelReset.connect(self.doItemsLayout)
        model.rowsInserted.connect(self.doItemsLayout)

    @Slot()
    def _fit_customer_column(self) -> None:
        hh = self.horizontalHeader()
        room = self.width() - 2 * self.frameWidth() - self.verticalScrollBar().sizeHint().width()
        customer = COLUMN["customer"]
        widths = {c: self._wanted.get(c, hh.sectionSize(c)) for c in range(hh.count())}
        widths[customer] = self._wanted[customer]
        over = sum(widths.values()) - room
        for key in _GIVES_WAY:
            if over <= 0:
                break
            col = COLUMN[key]
            give = max(0, min(over, widths[col] - self._least[col]))
            widths[col] -= give
            over -= give
        # Still too wide at their least: they go altogether, in the same order, rather than
        # the table scrolling sideways (the detail pane has every field).
        hidden = set()
        for key in _GIVES_WAY:
            if over <= 0:
                break
            col = COLUMN[key]
            hidden.add(col)
            over -= widths[col]
        if over < 0 and customer not in hidden:
            widths[customer] -= over  # what is left over goes to the customer
        with layout_memory.fitting(self):
            for col, width in widths.items():
                if hh.isSectionHidden(col) != (col in hidden):
                    hh.setSectionHidden(col, col in hidden)
                if col not in hidden and hh.sectionSize(col) != width:
                    hh.resizeSection(col, width)

    @Slot(int, int, int)
    def _column_resized(self, section: int, _old: int, new: int) -> None:
        if layout_memory.is_fitting(self) or section == COLUMN["customer"]:
            return
        self._wanted[section] = new  # dragged by the person (or restored): keep it
        self._fit_customer_column()

    def read_ahead_after_paint(self) -> None:
        """Read the pages ahead once the rows are painted (or soon, if no paint comes)."""
        # The fallback timer running is what says a read waits for the next paint.
        self._read_ahead_fallback.start()

    @Slot()
    def _painted(self) -> None:
        if self._read_ahead_fallback.isActive():
            # The rows are painted; the zero timer fires once the rest of the window is too.
            self._read_ahead_fallback.stop()
            QTimer.singleShot(0, self._model, self._model.read_ahead)
