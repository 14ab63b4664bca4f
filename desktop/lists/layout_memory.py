"""A list view's table | detail pane splitter and its table's column widths as the person left
them, remembered per view (``core.settings.ViewLayout``) and put back when the view is built.

Only what the person set is remembered: a column they dragged (a header section resized
while no automatic fit runs: the fits resize inside ``fitting``) and where they dragged the
splitter. The views' automatic fits take a dragged width as that column's own
(``person_resized``). A remembered width is put back only as far as the table has room beside
the other columns, so it never makes the table scroll sideways in a smaller window.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QHeaderView, QSplitter, QTableView, QWidget

from core.settings import ViewLayout

_FITTING = "paydeskFitting"  # a table property: an automatic fit is resizing its columns
_REST = "paydeskTakesTheRest"  # a table property: the column a fit gives what is left
_PANE_WIDTH = "paydeskPaneWidth"  # a splitter property: the detail pane width the person set


@contextmanager
def fitting(table: QTableView) -> Iterator[None]:
    """Column resizes in this block are the view's automatic fit, not the person's."""
    depth = int(table.property(_FITTING) or 0)
    table.setProperty(_FITTING, depth + 1)
    try:
        yield
    finally:
        table.setProperty(_FITTING, depth)


def is_fitting(table: QTableView) -> bool:
    return bool(table.property(_FITTING))


def takes_the_rest(table: QTableView, column: int) -> None:
    """``column``'s width is what the fit leaves over: never the person's to keep."""
    table.setProperty(_REST, column)


def _stretched(header: QHeaderView) -> int | None:
    """The section the header stretches to its edge (its width is the header's, not set)."""
    if not header.stretchLastSection():
        return None
    for visual in reversed(range(header.count())):
        logical = header.logicalIndex(visual)
        if not header.isSectionHidden(logical):
            return logical
    return None


def person_resized(table: QTableView, section: int, old: int, new: int) -> bool:
    """Whether a ``sectionResized`` is the person's (a drag, or their width put back): not an
    automatic fit, not a column hidden or shown again, not the stretched last column."""
    header = table.horizontalHeader()
    if is_fitting(table) or old <= 0 or new <= 0 or header.isSectionHidden(section):
        return False
    return section != _stretched(header) and section != table.property(_REST)


def pane_width(splitter: QSplitter, default: int) -> int:
    """The detail pane's width as it opens: where the person left it, else ``default``."""
    width = splitter.property(_PANE_WIDTH)
    if not isinstance(width, int) or width <= 0:
        return default
    # The table keeps at least the pane's usual width (one left from a wider screen).
    return min(width, max(default, splitter.width() - default))


class LayoutMemory(QObject):
    """Follows the person's column drags and splitter moves in one view and puts a remembered
    layout back on the table's first layout (when its room is known)."""

    def __init__(self, view: QWidget, splitter: QSplitter, table: QTableView) -> None:
        super().__init__(view)
        self.setObjectName("layoutMemory")
        self.splitter = splitter
        self.table = table
        self.columns: dict[int, int] = {}
        self.sizes: list[int] = []
        self._pending: dict[int, int] = {}
        table.horizontalHeader().sectionResized.connect(self._resized)
        splitter.splitterMoved.connect(self._moved)

    def put_back(self, saved: ViewLayout) -> None:
        """Use ``saved`` (one that does not match this view's columns or panes is ignored)."""
        header = self.table.horizontalHeader()
        if len(saved.columns) == header.count():
            self._pending = {c: w for c, w in enumerate(saved.columns) if w > 0}
        if len(saved.splitter) == self.splitter.count() == 2 and saved.splitter[1] > 0:
            self.sizes = list(saved.splitter)
            self.splitter.setProperty(_PANE_WIDTH, saved.splitter[1])
        if self._pending:
            self.table.viewport().installEventFilter(self)
            self._apply()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Shown: a table on a page behind the loading page was sized while hidden.
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show) and self._pending:
            self._apply()
        return False

    def _apply(self) -> None:
        room = self.table.viewport().width()
        if room <= 0 or not self.table.isVisible():
            return  # the room is not known yet: on the first resize once shown
        pending, self._pending = self._pending, {}
        self.table.viewport().removeEventFilter(self)
        header = self.table.horizontalHeader()
        rest = (_stretched(header), self.table.property(_REST))
        pending = {c: w for c, w in pending.items() if c not in rest}
        usual = {c: header.sectionSize(c) for c in pending}
        # Each as remembered (no wider than the table); the view's own fit follows each one.
        for column, width in sorted(pending.items()):
            header.resizeSection(column, min(width, room))
        # Then, should the columns no longer fit, the remembered ones give the excess back,
        # down to the view's own widths at the most.
        for column in sorted(pending, reverse=True):
            over = header.length() - room  # what the table would scroll sideways
            size = header.sectionSize(column)
            if over > 0 and size > usual[column]:
                header.resizeSection(column, max(usual[column], size - over))
        self.columns.update({c: header.sectionSize(c) for c in pending})

    def _resized(self, section: int, old: int, new: int) -> None:
        if person_resized(self.table, section, old, new):
            self.columns[section] = new

    def _moved(self, _pos: int, _index: int) -> None:
        sizes = self.splitter.sizes()
        if len(sizes) == 2 and sizes[1] > 0:
            self.sizes = sizes
            self.splitter.setProperty(_PANE_WIDTH, sizes[1])

    def layout(self) -> ViewLayout:
        """What the person set, to be written down."""
        count = self.table.horizontalHeader().count()
        known = {**self._pending, **self.columns}  # those not put back yet are kept too
        columns = [known.get(c, 0) for c in range(count)] if known else []
        return ViewLayout(list(self.sizes), columns)


def attach(view: QWidget, saved: ViewLayout | None) -> LayoutMemory | None:
    """Remember ``view``'s layout (a view with a ``splitter`` and a ``table``) and put
    ``saved`` back; None for a view without them."""
    splitter, table = getattr(view, "splitter", None), getattr(view, "table", None)
    if not isinstance(splitter, QSplitter) or not isinstance(table, QTableView):
        return None
    memory = LayoutMemory(view, splitter, table)
    if saved is not None:
        memory.put_back(saved)
    return memory


def memory_of(view: QWidget) -> LayoutMemory | None:
    return view.findChild(LayoutMemory, "layoutMemory")
