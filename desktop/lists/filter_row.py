"""``FilterRow``: a filter bar's row of filters that wraps onto more lines when the window is
too narrow for one.

A ``QHBoxLayout`` holds the window as wide as the sum of its filters; on a laptop screen that
left the last filters cut off or the window wider than the screen. This layout puts as many
filters on a line as fit at their preferred width and wraps the rest onto the next line, so the
row's minimum width is that of its widest filter. Within a line the room left over goes to the
filters given a stretch (the search field), as in a box layout, so at full width it looks like
one."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget


class FilterRow(QLayout):
    """Filters left to right, wrapping; ``addWidget(w, stretch)`` as on a box layout."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 8) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._stretch: list[int] = []  # each item's share of the room left on its line
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    # -- what a box layout offers ----------------------------------------------------------
    def addWidget(self, widget: QWidget, stretch: int = 0) -> None:
        self.insertWidget(len(self._items), widget, stretch)

    def insertWidget(self, index: int, widget: QWidget, stretch: int = 0) -> None:
        super().addWidget(widget)  # Qt makes the item and hands it to ``addItem``
        item = self._items.pop()
        self._stretch.pop()
        at = max(0, min(index, len(self._items)))
        self._items.insert(at, item)
        self._stretch.insert(at, stretch)
        self.invalidate()

    def indexOf(self, widget: QWidget) -> int:  # type: ignore[override]
        return next((i for i, it in enumerate(self._items) if it.widget() is widget), -1)

    # -- QLayout -----------------------------------------------------------------------------
    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)
        self._stretch.append(0)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        if not 0 <= index < len(self._items):
            return None
        self._stretch.pop(index)
        return self._items.pop(index)

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation.Horizontal

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._lay_out(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._lay_out(rect, move=True)

    def sizeHint(self) -> QSize:
        # One line: every filter at its preferred width.
        shown = self._shown()
        width = sum(it.sizeHint().width() for it in shown) + self.spacing() * max(0, len(shown) - 1)
        height = max((it.sizeHint().height() for it in shown), default=0)
        m = self.contentsMargins()
        return QSize(width + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:
        # As narrow as the widest filter; the height is what that width needs.
        m = self.contentsMargins()
        width = max((it.minimumSize().width() for it in self._shown()), default=0)
        width += m.left() + m.right()
        return QSize(width, self.heightForWidth(width))

    # -- the lines ---------------------------------------------------------------------------
    def _shown(self) -> list[QLayoutItem]:
        return [it for it in self._items if not it.isEmpty()]

    def _lines(self, width: int) -> list[list[tuple[QLayoutItem, int]]]:
        lines: list[list[tuple[QLayoutItem, int]]] = [[]]
        used = 0
        for item, stretch in zip(self._items, self._stretch, strict=True):
            if item.isEmpty():
                continue  # hidden
            w = item.sizeHint().width()
            if lines[-1] and used + self.spacing() + w > width:
                lines.append([])
                used = 0
            used += (self.spacing() if lines[-1] else 0) + w
            lines[-1].append((item, stretch))
        return [line for line in lines if line]

    def _lay_out(self, rect: QRect, *, move: bool) -> int:
        m = self.contentsMargins()
        inner = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        y = inner.y()
        for n, line in enumerate(self._lines(inner.width())):
            if n:
                y += self.spacing()
            height = max(it.sizeHint().height() for it, _s in line)
            if move:
                self._place(line, QPoint(inner.x(), y), inner.width(), height)
            y += height
        return y - rect.y() + m.bottom()

    def _place(
        self, line: list[tuple[QLayoutItem, int]], at: QPoint, width: int, height: int
    ) -> None:
        items = [it for it, _s in line]
        widths = [it.sizeHint().width() for it in items]
        room = width - sum(widths) - self.spacing() * (len(line) - 1)
        total = sum(s for _it, s in line)
        if room > 0 and total:
            widths = [w + room * s // total for w, (_it, s) in zip(widths, line, strict=True)]
        elif room < 0:
            # A lone filter wider than the row: no narrower than its minimum.
            widths = [
                max(it.minimumSize().width(), min(w, width))
                for it, w in zip(items, widths, strict=True)
            ]
        x = at.x()
        for item, w in zip(items, widths, strict=True):
            h = min(height, item.sizeHint().height())
            item.setGeometry(QRect(x, at.y() + (height - h) // 2, w, h))
            x += w + self.spacing()
