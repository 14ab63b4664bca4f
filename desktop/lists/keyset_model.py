"""The base of the list tables (Refunds, Webhooks, Activity, Reconciliation): loaded pages of one
keyset-paged query, newest first, with no database handle.

What the subclasses share lives here:

- rows and an id → row number index, replaced by ``reset`` (first page of a new query) and
  grown by ``append`` (the page ``fetchMore`` asked for; rows already shown are skipped);
- ``canFetchMore``/``fetchMore``: the view hands in a fetcher callback that reads the page
  after a cursor off the UI thread and calls ``append`` (or ``fetch_failed``) when it is back;
- live updates that keep selection and scroll where they were: ``update_rows`` replaces rows
  in place (``dataChanged``) when the newer version wins, ``insert_new`` puts rows not shown
  yet at their place in the order (binary search), as long as it is within what is loaded;
- the one guard against a stale read: every read that may replace rows is numbered as it
  starts (``next_read``), and a row on screen is replaced only by a row at least as fresh —
  a newer ``version`` of it, or the same version from a read started no earlier than the one
  that last replaced it. A slow read cannot put back what a newer one already showed;
- the plain parts of the Qt model interface (row and column counts, header titles, flags,
  the row itself under ``ROW_ROLE``).

A subclass names its ``COLUMNS`` and which of them are ``RIGHT_ALIGNED``, and answers
``cell(row, col, role)`` for every other role. Rows need an ``id`` and a ``cursor()`` (the
keyset position the query orders by, newest first); ``row_id``, ``sort_key`` and
``version`` say otherwise where a table needs it. ``MerchantClockModel`` adds what the
Refunds and Webhooks tables both have: a ``merchant`` column shown by name and the clock's
time for the columns that read it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFontDatabase

from desktop.lists.table_look import tabular_font

Index = QModelIndex | QPersistentModelIndex


class KeysetRow(Protocol):
    """What the base needs of a row by default: its id and its keyset position."""

    @property
    def id(self) -> Any: ...

    def cursor(self) -> Any: ...


Row = TypeVar("Row", bound=KeysetRow)

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the row object itself

RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class KeysetTableModel(QAbstractTableModel, Generic[Row]):
    """Fetched pages of one query, newest first (see the module docstring)."""

    # (key, header title) per column, in display order.
    COLUMNS: tuple[tuple[str, str], ...] = ()
    # Column numbers whose header and cells are right-aligned (figures).
    RIGHT_ALIGNED: frozenset[int] = frozenset()

    # Emitted whenever the rows on hand grow or are replaced: the new row count.
    rowsLoaded = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self._index: dict[Hashable, int] = {}
        self._more = False
        self._pending = False  # a fetchMore page is on its way
        self._fetcher: Callable[[Any], None] | None = None
        self._reads = itertools.count(1)
        # The read that last replaced each shown row (rows of the first page: read 0).
        self._read_of: dict[Hashable, int] = {}
        # Figures of equal width, so numbers and times line up by digit.
        self.number_font = tabular_font()
        # Ids in a fixed-width face: they line up and read character by character.
        self.id_font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

    # -- what differs between tables -------------------------------------------------------
    def row_id(self, row: Row) -> Hashable:
        """The identity of a row: a newer version of it has the same id."""
        return row.id

    def sort_key(self, row: Row) -> Any:
        """Where a row stands in the order (rows are sorted by it, largest first); the last
        loaded row's key is also the cursor the next page is read after."""
        return row.cursor()

    def version(self, row: Row) -> int:
        """How far a row's own history has gone, for rows that carry a version bumped on
        every change (a newer version always wins); 0 for rows that carry none, which are
        then ordered by the read they came from alone."""
        return 0

    def cell(self, row: Row, col: int, role: int) -> Any:
        """What ``data`` answers for ``role`` at column ``col`` of ``row`` (``ROW_ROLE`` is
        answered already)."""
        return None

    # -- feeding -------------------------------------------------------------------------
    def set_fetcher(self, fetcher: Callable[[Any], None] | None) -> None:
        """``fetcher(cursor)`` starts reading the page after ``cursor``; it is called from
        ``fetchMore`` and must answer later with ``append`` or ``fetch_failed``."""
        self._fetcher = fetcher

    def reset(self, rows: list[Row], *, more: bool) -> None:
        """Replace everything with the first page of a new query."""
        self.beginResetModel()
        self._rows = list(rows)
        self._read_of = {}
        self._reindex()
        self._more = more
        self._pending = False
        self.endResetModel()
        self.rowsLoaded.emit(len(self._rows))

    def append(self, rows: list[Row], *, more: bool) -> None:
        """Add the page that ``fetchMore`` asked for (rows already shown are skipped: a live
        insert may have brought them in first)."""
        self._pending = False
        self._more = more
        fresh = [r for r in rows if self.row_id(r) not in self._index]
        if fresh:
            self._insert_block(len(self._rows), fresh)
        self.rowsLoaded.emit(len(self._rows))

    def fetch_failed(self) -> None:
        """The page ``fetchMore`` asked for did not come: stop asking for more."""
        self._pending = False
        self._more = False

    def next_read(self) -> int:
        """Number a read as it starts (the numbers increase); its rows go to ``update_rows``
        with this number."""
        return next(self._reads)

    def update_rows(self, rows: Iterable[Row], read: int) -> list[int]:
        """Replace rows already shown by their newer version, in place; ``read`` is the
        number ``next_read`` gave the read they come from. Rows less fresh than the ones
        shown are ignored (see the module docstring). Returns the row numbers that changed."""
        changed: list[int] = []
        for row in rows:
            key = self.row_id(row)
            at = self._index.get(key)
            if at is None:
                continue
            old = self._rows[at]
            shown = (self.version(old), self._read_of.get(key, 0))
            if (self.version(row), read) < shown:
                continue
            self._read_of[key] = read
            if old == row:
                continue
            self._rows[at] = row
            changed.append(at)
        for at in changed:
            self.dataChanged.emit(self.index(at, 0), self.index(at, len(self.COLUMNS) - 1))
        return changed

    def insert_new(self, rows: Iterable[Row]) -> int:
        """Put rows not shown yet where they belong in the (newest first) order, if that is
        within what is loaded. Returns how many went in."""
        added = 0
        for row in rows:
            if self.row_id(row) in self._index:
                continue
            at = self._position(self.sort_key(row))
            if at == len(self._rows) and self._more:
                continue  # belongs below the loaded window: the next page brings it
            self._insert_block(at, [row])
            added += 1
        if added:
            self.rowsLoaded.emit(len(self._rows))
        return added

    def _insert_block(self, at: int, rows: list[Row]) -> None:
        self.beginInsertRows(QModelIndex(), at, at + len(rows) - 1)
        self._rows[at:at] = rows
        self._reindex(at)
        self.endInsertRows()

    def _position(self, key: Any) -> int:
        """How many loaded rows sort before ``key`` (rows are newest first)."""
        lo, hi = 0, len(self._rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.sort_key(self._rows[mid]) > key:
                lo = mid + 1
            else:
                hi = mid
        return lo

    # -- reading -------------------------------------------------------------------------
    @property
    def has_more(self) -> bool:
        return self._more

    def row_at(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, row_id: Hashable) -> int | None:
        return self._index.get(row_id)

    def rows(self) -> list[Row]:
        return list(self._rows)

    def ids(self) -> set[Any]:
        return set(self._index)

    def _reindex(self, start: int = 0) -> None:
        if start == 0:
            self._index = {}
        for i in range(start, len(self._rows)):
            self._index[self.row_id(self._rows[i])] = i

    def _column_changed(self, col: int) -> None:
        """Every cell of column ``col`` may read differently now (names, the clock)."""
        if self._rows:
            self.dataChanged.emit(self.index(0, col), self.index(len(self._rows) - 1, col))

    # -- Qt model interface ----------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def canFetchMore(self, parent: Index) -> bool:
        return (
            not parent.isValid() and self._more and not self._pending and self._fetcher is not None
        )

    def fetchMore(self, parent: Index) -> None:
        if not self.canFetchMore(parent) or not self._rows or self._fetcher is None:
            return
        self._pending = True
        self._fetcher(self.sort_key(self._rows[-1]))

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section][1]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self.alignment(section)
        return None

    def alignment(self, col: int) -> int:
        """How column ``col`` aligns, in the header and in its cells."""
        return RIGHT if col in self.RIGHT_ALIGNED else LEFT

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = 0) -> Any:
        row = self._rows[index.row()]
        if role == ROW_ROLE:
            return row
        return self.cell(row, index.column(), role)


class MerchantClockModel(KeysetTableModel[Row]):
    """A keyset table with a ``merchant`` column shown by name (the id until the names are
    known) and columns that read the clock: ``now`` gives its time."""

    def __init__(self, now: Callable[[], datetime], parent: Any = None) -> None:
        super().__init__(parent)
        self._now = now
        self._names: dict[str, str] = {}

    def set_merchant_names(self, names: dict[str, str]) -> None:
        self._names = dict(names)
        self._column_changed([key for key, _ in self.COLUMNS].index("merchant"))

    def merchant_name(self, merchant_id: str) -> str:
        return self._names.get(merchant_id, merchant_id)
