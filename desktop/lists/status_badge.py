"""Status shown as a small coloured pill, in tables (a delegate) and in forms (a label)."""

from __future__ import annotations

from math import ceil

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from desktop.shell import theme

_H_PAD = 8


class BadgeCache:
    """Status badges drawn once into a pixmap (per status, text, scheme, font and device
    pixel ratio) and copied afterwards: a table shows a handful of distinct badges many times
    over."""

    def __init__(self) -> None:
        self._badges: dict[tuple[str, str, bool, str, float], QPixmap] = {}

    @staticmethod
    def look(base: QFont, ratio: float) -> tuple[bool, str, float]:
        """What every badge drawn for ``base`` and ``ratio`` shares: worked out once per
        paint by a caller that draws many (``QFont.key()`` builds a string each time)."""
        return theme.is_dark(), base.key(), ratio

    def badge(
        self,
        status: str,
        text: str,
        base: QFont,
        ratio: float,
        look: tuple[bool, str, float] | None = None,
    ) -> QPixmap:
        key = (status, text, *(look or self.look(base, ratio)))
        badge = self._badges.get(key)
        if badge is not None:
            return badge
        if len(self._badges) > 256:  # a theme or font change left old ones behind
            self._badges.clear()
        fg, bg = theme.status_colours(status)
        font = QFont(base)
        font.setWeight(QFont.Weight.DemiBold)
        font.setPointSizeF(max(7.0, font.pointSizeF() - 0.5))
        fm = QFontMetrics(font)
        width = fm.horizontalAdvance(text) + 2 * _H_PAD
        height = fm.height() + 4
        badge = QPixmap(QSize(ceil(width * ratio), ceil(height * ratio)))
        badge.setDevicePixelRatio(ratio)
        badge.fill(Qt.GlobalColor.transparent)
        p = QPainter(badge)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setFont(font)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(bg)
        rect = QRect(0, 0, width, height)
        p.drawRoundedRect(rect, height / 2, height / 2)
        p.setPen(fg)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        p.end()
        self._badges[key] = badge
        return badge


class StatusBadgeDelegate(QStyledItemDelegate):
    """Draws the cell's text in a rounded badge coloured by the raw status in ``role``."""

    def __init__(self, role: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._role = role
        self._badges = BadgeCache()

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        # Selection and hover backgrounds stay the view's; only the text becomes a badge.
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        status = index.data(self._role)
        if not text or status is None:
            return
        badge = self._badges.badge(
            str(status), text, opt.font, painter.device().devicePixelRatioF()
        )
        size = badge.deviceIndependentSize()
        rect = opt.rect
        painter.drawPixmap(
            rect.x() + 6, rect.y() + (rect.height() - round(size.height())) // 2, badge
        )

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(hint.width() + 2 * _H_PAD + 6, hint.height())


class StatusLabel(QLabel):
    """A badge outside tables (detail panes, Jobs view)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._status = ""
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Its colours are in its own style sheet: a light/dark switch while it is on screen
        # must restyle it (the application's palette and style sheet do not reach them).
        watcher = getattr(QApplication.instance(), "_paydesk_theme", None)
        if watcher is not None:
            watcher.changed.connect(self.restyle)

    def set_status(self, status: str, text: str) -> None:
        self._status = status
        self.setText(text)
        self.restyle()

    @property
    def status(self) -> str:
        return self._status

    def restyle(self, *_: object) -> None:
        fg, bg = theme.status_colours(self._status)
        self.setStyleSheet(
            f"QLabel {{ color: {fg.name()}; background: {bg.name()}; border-radius: 9px;"
            " padding: 1px 9px; font-weight: 600; }"
        )
