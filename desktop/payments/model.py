"""The Payments table model. It holds no database handle: rows (``PaymentRow`` tuples) and
merchant names are handed in, and further rows are asked for through a fetcher callback that
the view runs off the UI thread.

The model reads ahead: it keeps up to ``READ_AHEAD_PAGES`` pages beyond the rows shown, so
the page a person scrolls to is usually in memory and appears with the scroll itself (one
repaint, no wait on a query)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal, Slot

from core.money import format_money
from core.payments.queries import PAGE_SIZE, PaymentRow
from desktop.lists.row_painter import ColumnLook
from desktop.lists.table_look import local_time, tabular_font

Index = QModelIndex | QPersistentModelIndex

# (key, header). Keys double as the names tests and the view use to find a column.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("created", "Created"),
    ("id", "Payment"),
    ("merchant", "Merchant"),
    ("order", "Order"),
    ("customer", "Customer"),
    ("method", "Method"),
    ("amount", "Amount"),
    ("status", "Status"),
    ("refunded", "Refunded"),
)
COLUMN = {key: i for i, (key, _) in enumerate(COLUMNS)}
# Columns the database can order by (keyset); clicking another header does nothing.
SORTABLE = {COLUMN["created"]: "created", COLUMN["amount"]: "amount"}

SORT_ROLE = Qt.ItemDataRole.UserRole  # numeric value to sort on (epoch seconds, minor units)
ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the PaymentRow itself
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2  # raw status for the badge delegate

METHOD_NAMES = {"upi": "UPI", "card": "Card", "netbanking": "Netbanking", "wallet": "Wallet"}
STATUS_NAMES = {"success": "Success", "pending": "Pending", "failed": "Failed"}

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_CENTER = int(Qt.AlignmentFlag.AlignCenter)
_AMOUNT_COLUMNS = (COLUMN["amount"], COLUMN["refunded"])
_ID_COLUMNS = (COLUMN["id"], COLUMN["order"])  # searched by: both ends stay when elided
_ALIGNMENTS = tuple(_RIGHT if c in _AMOUNT_COLUMNS else _LEFT for c in range(len(COLUMNS)))
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole.value)
_FONT = int(Qt.ItemDataRole.FontRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_SORT = int(Qt.ItemDataRole.UserRole.value)
# Roles a delegate asks for on every paint that this model leaves to the style.
_UNSERVED = frozenset(
    int(r.value)
    for r in (
        Qt.ItemDataRole.DecorationRole,
        Qt.ItemDataRole.BackgroundRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.CheckStateRole,
    )
)
_USER_LAST = _SORT + 2  # the last of the roles above
# Pages kept read but not yet shown; the first query reads them with the first page.
READ_AHEAD_PAGES = 2
READ_AHEAD = READ_AHEAD_PAGES * PAGE_SIZE


def format_row(row: PaymentRow, names: Mapping[str, str]) -> tuple[str, ...]:
    """The display strings of ``row``, one per column, with merchant names from ``names``.
    Plain Python, so a pool thread can format the rows it reads before the UI thread paints
    them."""
    refunded = refunded_text(row.refunded_amount, row.pending_refund_amount, row.currency)
    return (
        local_time(row.created_at),
        row.id,
        names.get(row.merchant_id, row.merchant_id),
        row.order_id,
        row.customer,
        METHOD_NAMES.get(row.method, row.method),
        format_money(row.amount, row.currency),
        STATUS_NAMES.get(row.status, row.status),
        refunded,
    )


def refunded_text(processed: int, pending: int, currency: str) -> str:
    """ "Refunded" is money back with the customer; money requested and not processed yet is
    named beside it, never added to it."""
    parts = [format_money(processed, currency)] if processed else []
    if pending:
        parts.append(f"{format_money(pending, currency)} requested")
    return " · ".join(parts) or "—"


class PaymentsModel(QAbstractTableModel):
    """Fetched pages of one query. ``fetchMore`` shows the next page from the rows read
    ahead and asks the fetcher for more rows after the last one read when fewer than
    ``READ_AHEAD`` are left; the view hands them in with ``append`` when they arrive."""

    # Emitted when the rows on hand change (reset or append): the new row count.
    rowsLoaded = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[PaymentRow] = []
        # Display strings per row, made when a row is first painted: scrolling repaints the
        # same cells many times, and formatting money and local times is the costly part.
        self._texts: list[tuple[str, ...] | None] = []
        self._positions: dict[str, int] = {}
        self._names: dict[str, str] = {}
        self._sort = "created"
        # Rows read after the last one shown, not yet in the table.
        self._ahead: list[PaymentRow] = []
        self._more = False  # the database may have rows after the last one read
        self._pending = False  # a read is in flight
        self._wanted = False  # fetchMore found nothing read: show a page when it arrives
        self._stale = False  # the read in flight may hold rows changed since: drop it
        self._fetcher: Callable[[tuple[Any, str]], None] | None = None
        self._schedule_read_ahead: Callable[[], None] = self._read_ahead
        self.amount_font = tabular_font()

    # -- feeding -------------------------------------------------------------------------
    def set_fetcher(self, fetcher: Callable[[tuple[Any, str]], None] | None) -> None:
        self._fetcher = fetcher

    def set_merchant_names(self, names: dict[str, str]) -> None:
        self._names = dict(names)
        self._texts = [None] * len(self._rows)
        if self._rows:
            col = COLUMN["merchant"]
            self.dataChanged.emit(self.index(0, col), self.index(len(self._rows) - 1, col))

    def reset(
        self,
        rows: list[PaymentRow],
        *,
        sort: str,
        more: bool,
        texts: Sequence[tuple[str, ...]] = (),
    ) -> None:
        """Replace everything with the start of a new query: its first ``PAGE_SIZE`` rows are
        shown and the rest are kept read ahead. ``more``: the query may have rows after these.
        ``texts``: the display strings of the first rows, formatted with the model's merchant
        names (``format_row``), if the reader made them already.

        As many rows as before (one search result after another) take the old rows' places
        and are announced as changed data, not as a new model: the view then repaints those
        rows only and keeps its row layout, where a reset would lay out and repaint it all.
        The view clears its selection for the new query either way."""
        shown = list(rows[:PAGE_SIZE])
        in_place = 0 < len(shown) == len(self._rows)
        if not in_place:
            self.beginResetModel()
        self._rows = shown
        self._ahead = list(rows[PAGE_SIZE:])
        made = list(texts[: len(self._rows)])
        self._texts = [*made, *([None] * (len(self._rows) - len(made)))]
        self._positions = {r.id: i for i, r in enumerate(self._rows)}
        self._sort = sort
        self._more = more
        self._pending = self._wanted = self._stale = False
        if in_place:
            last = self.index(len(shown) - 1, len(COLUMNS) - 1)
            self.dataChanged.emit(self.index(0, 0), last)
        else:
            self.endResetModel()
        self.rowsLoaded.emit(len(self._rows))

    def append(self, rows: list[PaymentRow], *, more: bool) -> None:
        """Take the rows the fetcher was asked for (``more``: there may be rows after them)."""
        self._pending = False
        if self._stale:
            # Read before a change to rows after the last one shown: read them again.
            self._stale = False
            self._read_ahead()
            return
        self._more = more
        self._ahead.extend(rows)
        if self._wanted:
            self._wanted = False
            self._show_next_page()
        else:
            self._read_ahead()
            self.rowsLoaded.emit(len(self._rows))

    def drop_read_ahead(self, payment_ids: set[str] | None = None) -> None:
        """Forget the rows read ahead (from the first of ``payment_ids`` among them; all of
        them for None), because they changed since they were read: they are read again."""
        if payment_ids is not None and not payment_ids:
            return
        if payment_ids is None:
            cut = 0
        else:
            cut = next(
                (i for i, r in enumerate(self._ahead) if r.id in payment_ids), len(self._ahead)
            )
        if cut < len(self._ahead):
            del self._ahead[cut:]
            self._more = True
        if self._pending:
            self._stale = True

    def _show_next_page(self) -> None:
        page, self._ahead = self._ahead[:PAGE_SIZE], self._ahead[PAGE_SIZE:]
        if page:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self._rows.extend(page)
            self._texts.extend([None] * len(page))
            for i, r in enumerate(page, first):
                self._positions[r.id] = i
            self.endInsertRows()
        # The pages after these are read once the new rows are painted (see
        # ``set_read_ahead_scheduler``), so the read does not compete with that paint.
        self._schedule_read_ahead()
        self.rowsLoaded.emit(len(self._rows))

    def set_read_ahead_scheduler(self, schedule: Callable[[], None] | None) -> None:
        """``schedule()`` arranges for ``read_ahead()`` to be called soon (the view calls it
        after its next paint); without one the model reads ahead at once."""
        self._schedule_read_ahead = schedule or self._read_ahead

    @Slot()
    def read_ahead(self) -> None:
        """Ask for the pages after the rows on hand (up to ``READ_AHEAD``) if there may be
        any and none are being read."""
        self._read_ahead()

    def _read_ahead(self) -> None:
        if not self._more or self._pending or self._fetcher is None:
            return
        if len(self._ahead) >= READ_AHEAD:
            return
        last = self._ahead[-1] if self._ahead else (self._rows[-1] if self._rows else None)
        if last is None:
            return
        self._pending = True
        self._fetcher(last.cursor(self._sort))

    def update_rows(self, rows: list[PaymentRow]) -> list[int]:
        """Put newer copies of rows already on hand in their places (a refund changed the
        refunded amount, a capture changed the status); returns the rows that changed. Rows
        not on hand are ignored, so selection and scroll position stay where they are."""
        changed: list[int] = []
        last = len(COLUMNS) - 1
        for new in rows:
            i = self._positions.get(new.id)
            if i is None or self._rows[i] == new:
                continue
            self._rows[i] = new
            self._texts[i] = None
            changed.append(i)
            self.dataChanged.emit(self.index(i, 0), self.index(i, last))
        return changed

    def row_of(self, payment_id: str) -> int | None:
        return self._positions.get(payment_id)

    def ids(self) -> list[str]:
        return [r.id for r in self._rows]

    def fetch_failed(self) -> None:
        """The next rows could not be read: stop asking until the query is run again."""
        self._pending = self._wanted = self._stale = False
        self._more = False
        self.rowsLoaded.emit(len(self._rows))

    @property
    def sort_key(self) -> str:
        return self._sort

    @property
    def has_more(self) -> bool:
        """Rows after the last one shown are read ahead or may be in the database."""
        return bool(self._ahead) or self._more

    @property
    def rows_ahead(self) -> int:
        """Rows read after the last one shown, waiting for the next scroll."""
        return len(self._ahead)

    @property
    def loading_more(self) -> bool:
        return self._pending

    def row_at(self, row: int) -> PaymentRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rows(self) -> list[PaymentRow]:
        return list(self._rows)

    def merchant_name(self, merchant_id: str) -> str:
        return self._names.get(merchant_id, merchant_id)

    # -- what the row painter reads (desktop.lists.row_painter.RowSource) ---------------------------
    def column_looks(self) -> list[ColumnLook]:
        """How the row painter draws each column: as ``TextAlignmentRole`` and ``FontRole``
        answer (figures right-aligned in the tabular font), and the status as a badge."""
        return [
            ColumnLook(
                Qt.AlignmentFlag.AlignRight if c in _AMOUNT_COLUMNS else Qt.AlignmentFlag.AlignLeft,
                self.amount_font if c in _AMOUNT_COLUMNS else None,
                badge=c == COLUMN["status"],
                elide_middle=c in _ID_COLUMNS,
            )
            for c in range(len(COLUMNS))
        ]

    def display_texts(self, row: int) -> tuple[str, ...]:
        """The display strings of ``row``, one per column (what ``DisplayRole`` answers)."""
        texts = self._texts[row]
        if texts is None:
            texts = self._texts[row] = self._format(self._rows[row])
        return texts

    def badge_status(self, row: int) -> str:
        return self._rows[row].status

    # -- Qt model interface ----------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def canFetchMore(self, parent: Index) -> bool:
        if parent.isValid():
            return False
        return bool(self._ahead) or (self._more and self._fetcher is not None and not self._wanted)

    def fetchMore(self, parent: Index) -> None:
        if not self.canFetchMore(parent) or not self._rows:
            return
        if self._ahead:
            self._show_next_page()
        else:
            # Scrolled faster than the reads: the page appears when its read is back.
            self._wanted = True
            self._read_ahead()

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if section in _AMOUNT_COLUMNS else _LEFT
        return None

    def flags(self, _index: Index) -> Qt.ItemFlag:
        # Every cell has the same flags; asked once per painted cell, so not even a check.
        return _FLAGS

    def data(self, index: Index, role: int = 0) -> Any:
        # A paint asks every visible cell for several roles: plain int comparisons and one
        # cached tuple per row keep each call short.
        if role == _DISPLAY:
            return self.display_texts(index.row())[index.column()]
        if role in _UNSERVED:  # asked for every painted cell; answered without a lookup
            return None
        if role == _ALIGNMENT:
            return _ALIGNMENTS[index.column()]
        if role == _FONT:
            return self.amount_font if index.column() in _AMOUNT_COLUMNS else None
        if role < _TOOLTIP or role > _USER_LAST:
            return None
        if role == STATUS_ROLE:
            return self._rows[index.row()].status
        if role == _SORT:
            return self._sort_value(self._rows[index.row()], index.column())
        if role == ROW_ROLE:
            return self._rows[index.row()]
        if role == _TOOLTIP:
            row = self._rows[index.row()]
            if index.column() == COLUMN["created"]:
                return row.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
            if index.column() == COLUMN["merchant"]:
                return row.merchant_id
            if index.column() == COLUMN["id"]:
                return row.id  # whole, where the cell is elided
            if index.column() == COLUMN["order"]:
                return row.order_id
        return None

    def _format(self, row: PaymentRow) -> tuple[str, ...]:
        return format_row(row, self._names)

    def _sort_value(self, row: PaymentRow, col: int) -> Any:
        if col == COLUMN["created"]:
            return row.created_at.timestamp()
        if col == COLUMN["amount"]:
            return row.amount
        if col == COLUMN["refunded"]:
            return row.refunded_amount
        return self._format(row)[col]
