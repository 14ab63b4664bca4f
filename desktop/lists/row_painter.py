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

Below the last row the viewport shows only its background. The view remembers from which
line down its window's backing store already holds just that (``_blank_from``) and does not
paint it again: a search that shows one row after another such search then paints that row
and not the whole empty viewport. What it remembers holds only for the same surface, size,
position and background, and is forgotten when the viewport scrolls, is hidden or changes;
painting anywhere else than the backing store (``grab()``, ``render()``) paints everything.

The columns are fixed, so the horizontal header shows a copy of the model's column titles
(taken by ``setModel``) instead of the model itself: a model reset (every new query) then
leaves the header alone, where it would otherwise rebuild its sections, ask the model for
every title again and repaint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import shiboken6
from PySide6.QtCore import QAbstractItemModel, QEvent, QPoint, QPointF, QRect, Qt, Signal, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QHideEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QShowEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import QHeaderView, QTableView, QWidget

from desktop.lists.status_badge import BadgeCache

# The style sheet's ``QTableView::item { padding: 0 8px }`` plus the style's text margin.
TEXT_INSET = 11
# Text widths (and elided forms) remembered per font before its memo is started afresh.
_MEMO_LIMIT = 20_000
# Those memos, per font (its key), shared by every table: a view opened again, or another
# table in the same font, measures only texts not seen before.
_Elided = dict[tuple[str, int, Qt.TextElideMode], tuple[str, float]]
_MEASURES: dict[str, tuple[dict[str, float], _Elided]] = {}
# Badges are drawn once for every table.
_BADGES = BadgeCache()


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
        # Advance of each text drawn in this font, and elided forms per (text, width).
        self.advances, self.elided = _MEASURES.setdefault(font.key(), ({}, {}))

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
    # Ids keep both ends when too long (their start says what they are, their end tells them
    # apart); other text is cut on the right.
    elide_middle: bool = False


class RowPaintedTable(QTableView):
    """A ``QTableView`` whose model is also a ``RowSource``; see the module docstring."""

    # The viewport has painted rows (after the paint), and the table changed size.
    painted = Signal()
    resized = Signal()

    def __init__(self, looks: Sequence[ColumnLook], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._looks = list(looks)
        self._middle = {col for col, look in enumerate(self._looks) if look.elide_middle}
        self._badges = _BADGES
        self._right_aligned = [bool(look.alignment & Qt.AlignmentFlag.AlignRight) for look in looks]
        # Each column's font and its measures (see ``_MEASURES``), made at the first paint.
        self._fonts: list[_ColumnFont] = []
        # The viewport's lines from ``_blank_from`` down hold only background in the backing
        # store, as long as ``_blank_key`` (the surface and what it looks like) is unchanged.
        self._blank_from: int | None = None
        self._blank_key: tuple[Any, ...] | None = None
        # The columns an area of the viewport shows, for the last area and header state.
        self._columns_key: tuple[Any, ...] | None = None
        self._columns: list[tuple[int, int, int, bool, _ColumnFont, float, bool]] = []
        hh = self.horizontalHeader()
        for changed in (hh.sectionResized, hh.sectionMoved, hh.sectionCountChanged):
            changed.connect(self._forget_columns)
        self._colour_key: tuple[int, QPalette.ColorGroup] | None = None
        self._colour_set: tuple[QColor, QColor, QColor, QColor, QColor]

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
        self._blank_from = None

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._blank_from = None
        self.resized.emit()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        # Scrolling moves the pixels already painted; what lay below the rows moves too.
        self._blank_from = None
        super().scrollContentsBy(dx, dy)

    def showEvent(self, event: QShowEvent) -> None:
        self._blank_from = None  # another widget (a stacked page) may have painted here
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._blank_from = None
        super().hideEvent(event)

    @Slot()
    def _forget_columns(self, *_: object) -> None:
        self._columns_key = None

    def _forget_measures(self) -> None:
        self._columns_key = None
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
        # rows and columns end, except lines the backing store already holds as background.
        right, bottom = self._paint_rows(painter, area)
        background = viewport.palette().brush(viewport.backgroundRole())
        key = self._surface_key(painter, background)
        blank_from = self._blank_from if key is not None and key == self._blank_key else None
        if bottom <= area.bottom():
            end = area.bottom() + 1
            if blank_from is not None:
                end = min(end, max(blank_from, bottom))
            if end > bottom:
                painter.fillRect(area.left(), bottom, area.width(), end - bottom, background)
        if right <= area.right() and bottom > area.top():
            painter.fillRect(
                right, area.top(), area.right() + 1 - right, bottom - area.top(), background
            )
        painter.end()
        if key is None:
            pass  # not the backing store: what it holds is unchanged
        elif event.region().rectCount() == 1 and area == viewport.rect():
            self._blank_from, self._blank_key = bottom, key  # all of it painted just now
        elif blank_from is not None and bottom > blank_from:
            self._blank_from = None  # rows painted over lines that were blank
        if bottom > area.top():
            self.painted.emit()

    def _surface_key(self, painter: QPainter, background: QBrush) -> tuple[Any, ...] | None:
        """What the viewport's pixels in the backing store depend on besides the rows, or None
        when ``painter`` paints elsewhere (a grab or render into a pixmap)."""
        window = self.window()
        store = window.backingStore()
        engine = painter.paintEngine()
        target = engine.paintDevice() if engine is not None else None
        if store is None or target is None:
            return None
        device = store.paintDevice()
        if shiboken6.getCppPointer(target) != shiboken6.getCppPointer(device):
            return None
        viewport = self.viewport()
        at = viewport.mapTo(window, QPoint(0, 0))
        size = store.size()
        return (
            shiboken6.getCppPointer(device),
            size.width(),
            size.height(),
            at.x(),
            at.y(),
            viewport.width(),
            viewport.height(),
            viewport.devicePixelRatioF(),
            background.color().rgba(),
            int(background.style().value),
        )

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

        base, alternate, highlight, text_colour, selected_text = self._colours()
        alternating = self.alternatingRowColors()
        selection = self.selectionModel()
        selected_rows = (
            {i.row() for i in selection.selectedRows()} if selection is not None else set()
        )

        view_font = self.font()
        ratio = self.devicePixelRatioF()
        badge_look = BadgeCache.look(view_font, ratio) if any(c[6] for c in columns) else None
        left = area.left()
        span = max(0, min(area.right() + 1, columns_end) - left)

        y = top
        current_font = None
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
            for col, x, width, right_aligned, cf, baseline, badge in columns:
                text = texts[col]
                if not text:
                    continue
                if badge:
                    status = source.badge_status(row)
                    if status is not None:
                        pixmap = self._badges.badge(status, text, view_font, ratio, badge_look)
                        size = pixmap.deviceIndependentSize()
                        painter.drawPixmap(x + 6, y + (height - round(size.height())) // 2, pixmap)
                        continue
                room = width - 2 * TEXT_INSET
                if room <= 0:
                    continue
                # The text and its advance as drawn: elided when too long.
                memo = cf.advances
                advance = memo.get(text)
                if advance is None:
                    if len(memo) > _MEMO_LIMIT:
                        memo.clear()
                    advance = memo[text] = cf.metrics.horizontalAdvance(text)
                if advance > room:
                    elided = cf.elided
                    mode = (
                        Qt.TextElideMode.ElideMiddle
                        if col in self._middle
                        else Qt.TextElideMode.ElideRight
                    )
                    key = (text, room, mode)
                    short = elided.get(key)
                    if short is None:
                        if len(elided) > _MEMO_LIMIT:
                            elided.clear()
                        cut = cf.metrics.elidedText(text, mode, room)
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

    def _colours(self) -> tuple[QColor, QColor, QColor, QColor, QColor]:
        """Row background, alternate background, selection, text and selected text, in the
        colour group the view is drawn in now."""
        palette = self.palette()
        if not self.isEnabled():
            group = QPalette.ColorGroup.Disabled
        elif self.isActiveWindow():
            group = QPalette.ColorGroup.Active
        else:
            group = QPalette.ColorGroup.Inactive
        key = (palette.cacheKey(), group)
        if self._colour_key != key:
            role = QPalette.ColorRole
            self._colour_set = tuple(  # type: ignore[assignment]
                palette.color(group, r)
                for r in (role.Base, role.AlternateBase, role.Highlight, role.Text,
                          role.HighlightedText)
            )  # fmt: skip
            self._colour_key = key
        return self._colour_set

    def _visible_columns(
        self, hh: QHeaderView, area: QRect, row_height: int
    ) -> list[tuple[int, int, int, bool, _ColumnFont, float, bool]]:
        """The columns in ``area``: index, where it starts, its width, whether its text is
        right-aligned on screen (after the reading direction), its font, its text's baseline in
        a row and whether it is a badge."""
        mirrored = self.layoutDirection() == Qt.LayoutDirection.RightToLeft
        key = (hh.offset(), area.left(), area.right(), row_height, mirrored)
        if key == self._columns_key:
            return self._columns
        fonts = self._column_fonts()
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
        self._columns_key, self._columns = key, found
        return found
