"""KPI tiles: a painted card with an icon and caption, one big figure, up to two lines and
an optional badge. The tile and each of its lines may carry a link (what a click opens);
``activated(link)`` says which was clicked or chosen with Enter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QEnterEvent,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.overview.charts import Card, small_font
from desktop.shell import theme

TILE_LINES = 2


@dataclass(frozen=True)
class TileLine:
    """A line under a tile's figure; ``tone`` is a status colour, ``link`` makes it a link
    of its own (a per-currency line opens that currency)."""

    text: str
    tone: str | None = None
    link: object | None = None


@dataclass(frozen=True)
class TileContent:
    value: str
    lines: tuple[TileLine, ...] = ()
    value_tone: str | None = None
    badge: tuple[str, str] | None = None  # (text, status colour)
    alert: bool = False
    link: object | None = None
    tooltip: str = ""


class Tile(Card):
    """A KPI card: icon and caption, one big figure, up to two lines, an optional badge.
    A click opens the line's link if it is on a line that has one, else the tile's."""

    activated = Signal(object)

    def __init__(
        self, key: str, icon: str, caption: str, explain: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.key = key
        self.icon_name = icon
        self.caption = caption
        self.explain = explain
        self.content: TileContent | None = None
        self._hot_line: int | None = None
        self.setObjectName(f"tile_{key}")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName(caption)
        self.setToolTip(explain)

    # -- content -------------------------------------------------------------------------
    def set_content(self, content: TileContent | None) -> None:
        self.content = content
        self.alert = bool(content and content.alert)
        if content is not None:
            self.setAccessibleDescription(
                " · ".join([content.value, *(line.text for line in content.lines)])
            )
            self.setToolTip(content.tooltip or self.explain)
        self.update()

    @property
    def value_text(self) -> str:
        return self.content.value if self.content else ""

    @property
    def line_texts(self) -> list[str]:
        return [line.text for line in self.content.lines] if self.content else []

    # -- geometry --------------------------------------------------------------------------
    def _fonts(self) -> tuple[QFont, QFont, QFont]:
        base = self.font()
        caption = small_font(base, -0.5, QFont.Weight.DemiBold)
        value = small_font(base, 9.0, QFont.Weight.Bold)
        line = small_font(base, -0.5)
        return caption, value, line

    def _rows(self) -> tuple[QRect, QRect, list[QRect]]:
        caption, value, line = self._fonts()
        cm, vm, lm = QFontMetrics(caption), QFontMetrics(value), QFontMetrics(line)
        left, width = 16, self.width() - 32
        y = 14
        cap = QRect(left, y, width, max(cm.height(), 18))
        y += cap.height() + 6
        val = QRect(left, y, width, vm.height())
        y += val.height() + 4
        lines = []
        for _ in range(TILE_LINES):
            lines.append(QRect(left, y, width, lm.height() + 2))
            y += lm.height() + 3
        return cap, val, lines

    def sizeHint(self) -> QSize:
        _, _, lines = self._rows()
        return QSize(260, lines[-1].bottom() + 14)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, self.sizeHint().height())

    def line_rect(self, index: int) -> QRect:
        """Where line ``index`` is drawn (its text's width, for clicks)."""
        line_font = self._fonts()[2]
        rect = self._rows()[2][index]
        if self.content is None or index >= len(self.content.lines):
            return QRect()
        width = QFontMetrics(line_font).horizontalAdvance(self.content.lines[index].text)
        return QRect(rect.left(), rect.top(), min(rect.width(), width + 2), rect.height())

    def _line_at(self, pos: QPoint) -> int | None:
        if self.content is None:
            return None
        for i, line in enumerate(self.content.lines[:TILE_LINES]):
            if line.link is not None and self.line_rect(i).contains(pos):
                return i
        return None

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.paint_card(painter)
        caption_font, value_font, line_font = self._fonts()
        cap, val, lines = self._rows()
        text, muted = theme.colour("text"), theme.colour("muted")
        c = self.content

        icon = theme.icon(self.icon_name)
        icon.paint(painter, QRect(cap.left(), cap.top() + (cap.height() - 16) // 2, 16, 16))
        painter.setFont(caption_font)
        painter.setPen(muted)
        badge_w = 0
        if c is not None and c.badge is not None:
            badge_w = self._paint_badge(painter, cap, *c.badge) + 8
        caption_rect = cap.adjusted(22, 0, -badge_w, 0)
        painter.drawText(
            caption_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetrics(caption_font).elidedText(
                self.caption, Qt.TextElideMode.ElideRight, caption_rect.width()
            ),
        )

        if c is None:
            # Loading: quiet placeholders where the figures will be.
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.colour("hover"))
            painter.drawRoundedRect(QRectF(val.left(), val.top() + 6, 90, val.height() - 12), 4, 4)
            painter.drawRoundedRect(
                QRectF(lines[0].left(), lines[0].top() + 3, 150, lines[0].height() - 6), 3, 3
            )
            painter.end()
            return

        painter.setFont(value_font)
        painter.setPen(theme.status_colours(c.value_tone)[0] if c.value_tone else text)
        painter.drawText(
            val,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetrics(value_font).elidedText(c.value, Qt.TextElideMode.ElideRight, val.width()),
        )
        lm = QFontMetrics(line_font)
        for i, line in enumerate(c.lines[:TILE_LINES]):
            font = QFont(line_font)
            font.setUnderline(i == self._hot_line)
            painter.setFont(font)
            if line.tone:
                painter.setPen(theme.status_colours(line.tone)[0])
            elif line.link is not None and i == self._hot_line:
                painter.setPen(theme.colour("accent"))
            else:
                painter.setPen(muted if line.link is None else text)
            painter.drawText(
                lines[i],
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                lm.elidedText(line.text, Qt.TextElideMode.ElideRight, lines[i].width()),
            )
        painter.end()

    def _paint_badge(self, painter: QPainter, cap: QRect, text: str, status: str) -> int:
        fg, bg = theme.status_colours(status)
        fm = painter.fontMetrics()
        width = fm.horizontalAdvance(text) + 14
        height = min(cap.height(), fm.height() + 4)
        rect = QRectF(cap.right() - width, cap.top() + (cap.height() - height) / 2, width, height)
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bg)
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(fg)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()
        return width

    # -- interaction -----------------------------------------------------------------------
    def link_at(self, pos: QPoint) -> object | None:
        if self.content is None:
            return None
        line = self._line_at(pos)
        if line is not None:
            return self.content.lines[line].link
        return self.content.link

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        line = self._line_at(event.position().toPoint())
        if line != self._hot_line:
            self._hot_line = line
            self.update()

    def enterEvent(self, event: QEnterEvent) -> None:
        self.hot = True
        self.update()
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self.hot = False
        self._hot_line = None
        self.update()
        super().leaveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            link = self.link_at(event.position().toPoint())
            if link is not None:
                self.activated.emit(link)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            if self.content is not None and self.content.link is not None:
                self.activated.emit(self.content.link)
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event: Any) -> None:
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        self.update()
