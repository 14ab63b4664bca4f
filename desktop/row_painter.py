"""A table view that paints its visible rows itself, in one pass.

``QTableView`` paints cell by cell: for each cell it asks the model for seven roles and its
flags, builds a style option and hands it to a delegate and, under a style sheet, to the
style sheet's box model. With a Python model that is a few thousand calls from C++ into Python
per frame, and most of a frame's time. This view keeps everything else of ``QTableView``
(selection, keyboard, scrolling, headers, ``fetchMore``, accessibility through the model) and
replaces only the painting of the cells: one Python call per frame reads the display strings
of the visible rows from the model (``RowSource``) and draws them, with the backgrounds and
colours the palette (and so the style sheet) gives the view.

What a cell looks like is the same as the default delegate's under Paydesk's style sheet:
alternating rows, the selection colour over a selected row, text elided on the right inside
the item padding, a column's font and alignment, and a status drawn as a badge.

The columns are fixed, so the horizontal header shows a copy of the model's column titles
(taken by ``setModel``) instead of the model itself: a model reset (every new query) then
leaves the header alone, where it would otherwise rebuild its sections, ask the model for
every title again and repaint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QAbstractItemModel, QEvent, QPointF, QRect, Qt, Signal
from PySide6.QtGui import (
    QFont,
    QFontMetricsF,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import QHeaderView, QTableView, QWidget

from desktop.status_badge import BadgeCache

# The style sheet's ``QTableView::item { padding: 0 8px }`` plus the style's text margin.
TEXT_INSET = 11
# Text widths remembered per column before the memo is started afresh.
_MEMO_LIMIT = 20_000


class RowSource(Protocol):
    """What the painter reads from the model, per visible row, in one call each."""

    def display_texts(self, row: int) -> Sequence[str]: ...

    def badge_status(self, row: int) -> str | None: ...


class _ColumnFont:
    """A column's font, its metrics, and where its text's baseline sits in a row."""

    def __init__(self, font: QFont, metrics: QFontMetricsF) -> None:
        self.font = font
        self.metrics = metrics
        self._line = metrics.ascent() + metrics.descent()
        self._ascent = metrics.ascent()

    def baseline(self, row_height: int) -> float:
        # Where Qt's text layout puts one line centred in a cell: its height is ascent plus
        # descent (no leading), and the baseline is an ascent below the line's top.
        return (row_height - self._line) / 2 + self._ascent


@dataclass(frozen=True)
class ColumnLook:
    """How one column's cells are drawn: alignment, font (None: the view's) and whether the
    text is a status badge."""

    alignment: Qt.AlignmentFlag  # left or right (in the reading direction)
    font: QFont | None = None
    badge: bool = False


class RowPaintedTable(QTableView):
    """A ``QTableView`` whose model is also a ``RowSource``; see the module docstring."""

    # The viewport has painted rows (after the paint), and the table changed size.
    painted = Signal()
    resized = Signal()

    def __init__(self, looks: Sequence[ColumnLook], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._looks = list(looks)
        self._badges = BadgeCache()
        # Advance of each text per column (fonts differ by column), so a paint measures only
        # texts it has not seen; and elided forms per (column, text, width).
        self._advances: list[dict[str, float]] = [{} for _ in self._looks]
        self._elided: dict[tuple[int, str, int], tuple[str, float]] = {}
        self._right_aligned = [bool(look.alignment & Qt.AlignmentFlag.AlignRight) for look in looks]
        self._fonts: list[_ColumnFont] = []

    def setModel(self, model: QAbstractItemModel | None) -> None:
        old = self.horizontalHeader().model()  # the copy of the titles made before, if any
        super().setModel(model)
        if isinstance(old, QStandardItemModel) and old.parent() is self:
            old.deleteLater()
        if model is None:
            return
        titles = QStandardItemModel(0, model.columnCount(), self)
        for col in range(model.columnCount()):
            item = QStandardItem()
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole):
                value = model.headerData(col, Qt.Orientation.Horizontal, role)
                if value is not None:
                    item.setData(value, role)
            titles.setHorizontalHeaderItem(col, item)
        self.horizontalHeader().setModel(titles)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._forget_measures()  # text measures differently now

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def _forget_measures(self) -> None:
        self._advances = [{} for _ in self._looks]
        self._elided = {}
        self._fonts = []

    def _column_fonts(self) -> list[_ColumnFont]:
        """Each column's font and what drawing text in it needs. A column's own font says only
        what it sets (as a model's FontRole does for the default delegate); the rest is the
        view's."""
        if not self._fonts:
            base = self.font()
            for look in self._looks:
                font = look.font.resolve(base) if look.font else base
                self._fonts.append(_ColumnFont(font, QFontMetricsF(font)))
        return self._fonts

    def paintEvent(self, event: QPaintEvent) -> None:
        area = event.rect()
        viewport = self.viewport()
        painter = QPainter(viewport)
        # The viewport is opaque (its parents are not painted beneath it on every update), so
        # every pixel of the area is painted here: rows, then the view's background where the
        # rows and columns end.
        right, bottom = self._paint_rows(painter, area)
        background = viewport.palette().brush(viewport.backgroundRole())
        if bottom <= area.bottom():
            painter.fillRect(
                area.left(), bottom, area.width(), area.bottom() + 1 - bottom, background
            )
        if right <= area.right() and bottom > area.top():
            painter.fillRect(
                right, area.top(), area.right() + 1 - right, bottom - area.top(), background
            )
        painter.end()
        if bottom > area.top():
            self.painted.emit()

    def _paint_rows(self, painter: QPainter, area: QRect) -> tuple[int, int]:
        """Paint the rows that ``area`` holds; returns where the columns end on the right and
        the rows at the bottom (``area.top()`` when no row is in the area)."""
        model = self.model()
        rows = model.rowCount() if model is not None else 0
        header = self.verticalHeader()
        first = header.logicalIndexAt(area.top()) if rows else -1
        if first < 0:
            return area.left(), area.top()  # no row there: only background
        source: RowSource = model  # type: ignore[assignment]
        last = header.logicalIndexAt(area.bottom())
        if last < 0:
            last = rows - 1
        height = header.defaultSectionSize()
        top = header.sectionViewportPosition(first)

        hh = self.horizontalHeader()
        columns_end = hh.length() - hh.offset()
        columns = self._visible_columns(hh, area, height)

        palette = self.palette()
        if not self.isEnabled():
            group = QPalette.ColorGroup.Disabled
        elif self.isActiveWindow():
            group = QPalette.ColorGroup.Active
        else:
            group = QPalette.ColorGroup.Inactive
        base = palette.color(group, QPalette.ColorRole.Base)
        alternate = palette.color(group, QPalette.ColorRole.AlternateBase)
        highlight = palette.color(group, QPalette.ColorRole.Highlight)
        text_colour = palette.color(group, QPalette.ColorRole.Text)
        selected_text = palette.color(group, QPalette.ColorRole.HighlightedText)
        alternating = self.alternatingRowColors()
        selection = self.selectionModel()
        selected_rows = (
            {i.row() for i in selection.selectedRows()} if selection is not None else set()
        )

        advances = self._advances
        elided = self._elided
        view_font = self.font()
        left = area.left()
        span = max(0, min(area.right() + 1, columns_end) - left)
        ratio = self.devicePixelRatioF()

        y = top
        for row in range(first, last + 1):
            selected = row in selected_rows
            if selected:
                painter.fillRect(left, y, span, height, highlight)
            elif alternating and row % 2:
                painter.fillRect(left, y, span, height, alternate)
            else:
                painter.fillRect(left, y, span, height, base)
            painter.setPen(selected_text if selected else text_colour)
            texts = source.display_texts(row)
            current_font = None
            for col, x, width, right_aligned, cf, baseline, badge in columns:
                text = texts[col]
                if not text:
                    continue
                if badge:
                    status = source.badge_status(row)
                    if status is not None:
                        pixmap = self._badges.badge(status, text, view_font, ratio)
                        size = pixmap.deviceIndependentSize()
                        painter.drawPixmap(x + 6, y + (height - round(size.height())) // 2, pixmap)
                        continue
                room = width - 2 * TEXT_INSET
                if room <= 0:
                    continue
                # The text and its advance as drawn: elided on the right when too long.
                memo = advances[col]
                advance = memo.get(text)
                if advance is None:
                    if len(memo) > _MEMO_LIMIT:
                        memo.clear()
                    advance = memo[text] = cf.metrics.horizontalAdvance(text)
                if advance > room:
                    key = (col, text, room)
                    short = elided.get(key)
                    if short is None:
                        if len(elided) > _MEMO_LIMIT:
                            elided.clear()
                        cut = cf.metrics.elidedText(text, Qt.TextElideMode.ElideRight, room)
                        short = elided[key] = (cut, cf.metrics.horizontalAdvance(cut))
                    text, advance = short
                if cf is not current_font:
                    painter.setFont(cf.font)
                    current_font = cf
                # One line at its baseline: what the delegate's layout in a cell rectangle
                # comes to, without laying the text out again on every paint.
                tx = x + TEXT_INSET + room - advance if right_aligned else x + TEXT_INSET
                painter.drawText(QPointF(tx, y + baseline), text)
            y += height
        return min(columns_end, area.right() + 1), y

    def _visible_columns(
        self, hh: QHeaderView, area: QRect, row_height: int
    ) -> list[tuple[int, int, int, bool, _ColumnFont, float, bool]]:
        """The columns in ``area``: index, where it starts, its width, whether its text is
        right-aligned on screen (after the reading direction), its font, its text's baseline in
        a row and whether it is a badge."""
        fonts = self._column_fonts()
        mirrored = self.layoutDirection() == Qt.LayoutDirection.RightToLeft
        found = []
        for col, look in enumerate(self._looks):
            if hh.isSectionHidden(col):
                continue
            x = hh.sectionViewportPosition(col)
            width = hh.sectionSize(col)
            if x + width < area.left() or x > area.right():
                continue
            cf = fonts[col]
            right = self._right_aligned[col] != mirrored
            found.append((col, x, width, right, cf, cf.baseline(row_height), look.badge))
        return found
