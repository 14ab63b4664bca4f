"""Cards and bar charts painted with QPainter (no QtCharts: it would need PySide6-Addons).

``BarChart`` draws stacked or grouped bars over buckets with a value axis, gridlines, bucket
labels that thin out to fit, a hover band with an exact-value tooltip, and emits
``activated(link)`` when a bar (or, outside the bars, its column) is clicked or chosen with
the keyboard. It knows nothing about payments: the caller hands it ``BarData`` with the
numbers, their exact texts and the link behind each bar. Colours are read from
``desktop.shell.theme`` at paint time, so a palette change only needs a repaint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from desktop.shell import theme

# Bar colours per series key: saturated enough to read as data, light and dark variants so
# they keep their contrast against either card.
_SERIES_LIGHT = {
    "success": "#1f9d63",
    "failed": "#e5484d",
    "failure": "#e5484d",
    "pending": "#f0b429",
    "requested": "#8fb3f9",
    "processed": "#2563eb",
}
_SERIES_DARK = {
    "success": "#35b779",
    "failed": "#f2555a",
    "failure": "#f2555a",
    "pending": "#e3a92c",
    "requested": "#4a6fa8",
    "processed": "#5b96f7",
}
CARD_RADIUS = 10.0
_PLOT_TOP = 10
_X_LABEL_GAP = 6
_Y_LABEL_GAP = 8
_HIT_SLOP = 4  # px: a bar thinner than a finger still answers near its edge


def series_colour(key: str) -> QColor:
    """The bar colour of series ``key`` in the current scheme."""
    table = _SERIES_DARK if theme.is_dark() else _SERIES_LIGHT
    return QColor(table.get(key, theme.colour("accent").name()))


def small_font(base: QFont, delta: float = -1.0, weight: QFont.Weight | None = None) -> QFont:
    font = QFont(base)
    size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
    font.setPointSizeF(max(7.0, size + delta))
    if weight is not None:
        font.setWeight(weight)
    return font


class Card(QWidget):
    """A rounded, bordered surface; ``alert`` draws the border in the danger colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alert = False
        self.hot = False  # under the pointer (clickable cards)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, False)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.paint_card(painter)
        painter.end()

    def paint_card(self, painter: QPainter) -> None:
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        if self.alert:
            border = theme.colour("danger_border")
        elif self.hot or self.hasFocus():
            border = theme.colour("accent")
        else:
            border = theme.colour("border")
        painter.setPen(QPen(border, 1.0))
        painter.setBrush(theme.colour("raised"))
        painter.drawRoundedRect(rect, CARD_RADIUS, CARD_RADIUS)
        if self.alert:
            # A strip down the left edge: the card reads as "needs attention" at a glance.
            strip = QPainterPath()
            strip.addRoundedRect(rect, CARD_RADIUS, CARD_RADIUS)
            clip = QPainterPath()
            clip.addRect(QRectF(rect.left(), rect.top(), 4, rect.height()))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(series_colour("failed"))
            painter.drawPath(strip.intersected(clip))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self.update()


# -- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BarSeries:
    """One colour of bars: a value per bucket (the bar's height), the exact text of each
    for the tooltip, and the link a click on that bar opens."""

    key: str  # colour (``series_colour``)
    name: str  # legend and tooltip
    values: tuple[int, ...]
    texts: tuple[str, ...]
    links: tuple[object, ...]


@dataclass(frozen=True)
class BarData:
    """What ``BarChart`` draws. ``labels`` is the axis text per bucket and ``label_keys`` an
    integer per bucket (a day number, an hour of day): when labels must thin out, those whose
    key is a multiple of the chosen step are kept, so they land on round days and hours.
    ``column_links`` is what a click in a column but on no bar opens (None: nothing)."""

    titles: tuple[str, ...]  # tooltip heading per bucket
    labels: tuple[str, ...]
    label_keys: tuple[int, ...]
    label_steps: tuple[int, ...]
    series: tuple[BarSeries, ...]
    stacked: bool
    axis_text: Callable[[int], str]
    column_links: tuple[object | None, ...] | None = None
    empty_text: str = "Nothing in this period"
    footer: tuple[str, ...] = ()  # an extra tooltip row per bucket (a total), or none
    footer_name: str = "All"

    @property
    def size(self) -> int:
        return len(self.titles)

    def total(self, bucket: int) -> int:
        return sum(s.values[bucket] for s in self.series)


def nice_step(span: float, intervals: int = 4) -> int:
    """A 1-2-2.5-5 × 10^k step (at least 1) that cuts ``span`` into about ``intervals``."""
    if span <= 0:
        return 1
    raw = span / intervals
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if step >= raw:
            return max(1, math.ceil(step))
    return max(1, int(10 * power))


# -- the chart ------------------------------------------------------------------------------------


class BarChart(QWidget):
    """Bars over buckets. ``activated(link)`` on a click; ``hovered(text)`` with the plain
    tooltip text whenever the pointer moves to another bar ("" when it leaves)."""

    activated = Signal(object)
    hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: BarData | None = None
        self._hover: tuple[int, int | None] | None = None  # (bucket, series or None)
        self._pressed: tuple[int, int | None] | None = None
        self.hover_text = ""  # the tooltip's plain text, for people with screen readers
        # Geometry is asked for per bar while painting and hit testing: computed once per
        # data, size and font.
        self._scale_of: BarData | None = None
        self._scale_cache = (4, 1)
        self._plot_of: BarData | None = None
        self._plot_key: tuple[int, int, str] | None = None
        self._plot = QRect()
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)

    def sizeHint(self) -> QSize:
        return QSize(420, 240)

    def set_data(self, data: BarData | None) -> None:
        self.data = data
        if self._hover is not None and (data is None or self._hover[0] >= data.size):
            self._hover = None
        self.update()
        if self._hover is not None and self.underMouse():
            self._show_tooltip(self.mapFromGlobal(self.cursor().pos()))

    # -- geometry --------------------------------------------------------------------------
    def _fonts(self) -> tuple[QFont, QFontMetrics]:
        font = small_font(self.font(), -1.0)
        return font, QFontMetrics(font)

    def _scale(self) -> tuple[int, int]:
        """(axis maximum, step) for the data on screen."""
        if self._scale_of is not self.data:
            self._scale_of, self._scale_cache = self.data, self._compute_scale()
        return self._scale_cache

    def _compute_scale(self) -> tuple[int, int]:
        d = self.data
        if d is None or not d.size:
            return 4, 1
        if d.stacked:
            top = max((d.total(i) for i in range(d.size)), default=0)
        else:
            top = max((max(s.values, default=0) for s in d.series), default=0)
        step = nice_step(top)
        ticks = max(1, math.ceil(top / step))
        return ticks * step, step

    def plot_rect(self) -> QRect:
        """The area the bars live in (below it the bucket labels, left of it the axis)."""
        key = (self.width(), self.height(), self.font().key())
        if self._plot_of is not self.data or key != self._plot_key:
            self._plot_of, self._plot_key = self.data, key
            self._plot = self._compute_plot_rect()
        return QRect(self._plot)

    def _compute_plot_rect(self) -> QRect:
        _, fm = self._fonts()
        top, step = self._scale()
        axis = self.data.axis_text if self.data is not None else str
        widest = max(fm.horizontalAdvance(axis(v)) for v in range(0, top + 1, step))
        left = widest + _Y_LABEL_GAP + 2
        bottom = fm.height() + _X_LABEL_GAP + 2
        return QRect(
            left, _PLOT_TOP, max(10, self.width() - left - 4), self.height() - _PLOT_TOP - bottom
        )

    def _column(self, plot: QRect, i: int) -> tuple[float, float]:
        n = self.data.size if self.data else 1
        width = plot.width() / n
        return plot.left() + i * width, width

    def bar_rect(self, bucket: int, series: int | str) -> QRectF:
        """Where bar ``series`` (an index or key) of ``bucket`` is drawn (empty when 0)."""
        d = self.data
        assert d is not None
        si = series if isinstance(series, int) else [s.key for s in d.series].index(series)
        plot = self.plot_rect()
        top, _ = self._scale()
        x, width = self._column(plot, bucket)
        per = plot.height() / top

        def y(v: float) -> float:
            return plot.bottom() + 1 - v * per

        if d.stacked:
            bar_w = max(1.0, min(width * 0.72, 36.0))
            below = sum(s.values[bucket] for s in d.series[:si])
            value = d.series[si].values[bucket]
            left = x + (width - bar_w) / 2
            return QRectF(left, y(below + value), bar_w, value * per)
        group = max(1.0, min(width * 0.8, 18.0 * len(d.series)))
        bar_w = max(1.0, group / len(d.series) - (1 if group > 6 else 0))
        left = x + (width - group) / 2 + si * (group / len(d.series))
        value = d.series[si].values[bucket]
        return QRectF(left, y(value), bar_w, value * per)

    def hit(self, pos: QPoint | QPointF) -> tuple[int, int | None] | None:
        """(bucket, series) under ``pos``; series None inside a column but on no bar."""
        d = self.data
        if d is None or not d.size:
            return None
        plot = self.plot_rect()
        if not (plot.left() <= pos.x() < plot.right() + 1 and 0 <= pos.y() <= plot.bottom() + 1):
            return None
        _, width = self._column(plot, 0)
        bucket = min(d.size - 1, max(0, int((pos.x() - plot.left()) // width)))
        if not d.stacked:
            # Grouped bars are thin: the whole height of a bar's slot counts as the bar.
            for si, s in enumerate(d.series):
                r = self.bar_rect(bucket, si)
                if r.left() - 1 <= pos.x() <= r.right() + 1 and s.values[bucket]:
                    return bucket, si
            return bucket, None
        best: tuple[float, int] | None = None
        for si, s in enumerate(d.series):
            if not s.values[bucket]:
                continue
            r = self.bar_rect(bucket, si)
            if (
                r.top() <= pos.y() <= r.bottom()
                and r.left() - _HIT_SLOP <= pos.x() <= r.right() + _HIT_SLOP
            ):
                return bucket, si
            distance = min(abs(pos.y() - r.top()), abs(pos.y() - r.bottom()))
            if distance <= _HIT_SLOP and (best is None or distance < best[0]):
                best = (distance, si)
        return bucket, (best[1] if best else None)

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        font, fm = self._fonts()
        painter.setFont(font)
        plot = self.plot_rect()
        d = self.data
        muted = theme.colour("muted")
        top, step = self._scale()
        per = plot.height() / top
        grid = "border" if theme.is_dark() else "border_faint"

        # Gridlines and value labels; crisp 1 px lines on the pixel grid.
        for v in range(0, top + 1, step):
            yy = round(plot.bottom() + 1 - v * per)
            painter.setPen(QPen(theme.colour("border_strong" if v == 0 else grid), 1))
            painter.drawLine(plot.left(), yy, plot.right(), yy)
            if d is not None and (v == 0 or self._has_values()):
                painter.setPen(muted)
                label = d.axis_text(v)
                painter.drawText(
                    QRect(0, yy - fm.height() // 2, plot.left() - _Y_LABEL_GAP, fm.height()),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    label,
                )
        if d is None or not d.size:
            painter.end()
            return

        # The hovered column, behind its bars.
        if self._hover is not None:
            x, width = self._column(plot, self._hover[0])
            band = QColor(theme.colour("hover"))
            band.setAlpha(150)
            painter.fillRect(QRectF(x, plot.top(), width, plot.height() + 1), band)

        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        for i in range(d.size):
            top_index = max((si for si, s in enumerate(d.series) if s.values[i]), default=None)
            for si, s in enumerate(d.series):
                if not s.values[i]:
                    continue
                r = self.bar_rect(i, si)
                colour = series_colour(s.key)
                if self._hover == (i, si):
                    colour = colour.lighter(118) if not theme.is_dark() else colour.lighter(125)
                painter.setBrush(colour)
                rounded = not d.stacked or si == top_index
                painter.drawPath(_bar_path(r, rounded))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

        if not self._has_values():
            painter.setPen(muted)
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, d.empty_text)

        # Bucket labels, thinned to what fits.
        _, width = self._column(plot, 0)
        widest = max((fm.horizontalAdvance(t) for t in d.labels if t), default=0) + 10
        step_x = next((s for s in d.label_steps if s * width >= widest), d.label_steps[-1])
        painter.setPen(muted)
        label_top = plot.bottom() + _X_LABEL_GAP
        for i, text in enumerate(d.labels):
            if not text or d.label_keys[i] % step_x:
                continue
            x, w = self._column(plot, i)
            centre = x + w / 2
            half = fm.horizontalAdvance(text) / 2 + 2
            left = max(0.0, min(centre - half, self.width() - 2 * half))
            painter.drawText(
                QRectF(left, label_top, 2 * half, fm.height()), Qt.AlignmentFlag.AlignCenter, text
            )
        if self.hasFocus() and self._hover is not None:
            x, width = self._column(plot, self._hover[0])
            pen = QPen(theme.colour("accent"), 1, Qt.PenStyle.DotLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(x, plot.top(), width - 1, plot.height()))
        painter.end()

    def _has_values(self) -> bool:
        return self.data is not None and any(any(s.values) for s in self.data.series)

    # -- hover, tooltip, click -------------------------------------------------------------
    def tooltip_html(self, bucket: int, series: int | None) -> str:
        """The tooltip of ``bucket``: a row per series (``series`` in bold), each text's
        " · "-separated parts in columns of their own so figures line up."""
        d = self.data
        assert d is not None
        muted = theme.colour("muted").name()

        def row(mark: str, name: str, text: str, style: str) -> str:
            cells = "".join(
                f"<td align='right' style='{style}white-space:nowrap;padding-left:10px'>"
                f"{escape(part)}</td>"
                for part in text.split(" · ")
            )
            return f"<tr><td>{mark}</td><td style='{style}white-space:nowrap'>{escape(name)}</td>{cells}</tr>"

        rows = [
            row(
                f"<span style='color:{series_colour(s.key).name()}'>■</span>",
                s.name,
                s.texts[bucket],
                "font-weight:600;" if si == series else "",
            )
            for si, s in enumerate(d.series)
        ]
        if d.footer and d.footer[bucket]:
            rows.append(row("", d.footer_name, d.footer[bucket], f"color:{muted};"))
        return (
            f"<b>{escape(d.titles[bucket])}</b>"
            f"<table cellspacing='0' cellpadding='1'>{''.join(rows)}</table>"
        )

    def tooltip_plain(self, bucket: int) -> str:
        d = self.data
        assert d is not None
        lines = [d.titles[bucket]] + [f"{s.name}: {s.texts[bucket]}" for s in d.series]
        if d.footer and d.footer[bucket]:
            lines.append(f"{d.footer_name}: {d.footer[bucket]}")
        return "\n".join(lines)

    def _set_hover(self, target: tuple[int, int | None] | None) -> None:
        if target == self._hover:
            return
        self._hover = target
        self.update()
        self.hover_text = self.tooltip_plain(target[0]) if target is not None else ""
        self.hovered.emit(self.hover_text)

    def _show_tooltip(self, pos: QPoint) -> None:
        if self._hover is None or self.data is None:
            QToolTip.hideText()
            return
        bucket, series = self._hover
        plot = self.plot_rect()
        x, width = self._column(plot, bucket)
        area = QRect(int(x), plot.top(), max(1, int(width)), plot.height())
        QToolTip.showText(self.mapToGlobal(pos), self.tooltip_html(bucket, series), self, area)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        target = self.hit(pos)
        if target == self._hover:
            return  # the tooltip stays up while the pointer is over the same bar
        self._set_hover(target)
        shape = (
            Qt.CursorShape.PointingHandCursor
            if target is not None and self._link_of(target) is not None
            else Qt.CursorShape.ArrowCursor
        )
        if self.cursor().shape() != shape:
            self.setCursor(shape)
        self._show_tooltip(pos)

    def leaveEvent(self, event: QEvent) -> None:
        self._set_hover(None)
        QToolTip.hideText()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed = self.hit(event.position().toPoint())
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pressed, self._pressed = self._pressed, None
        if event.button() != Qt.MouseButton.LeftButton or pressed is None:
            return
        if self.hit(event.position().toPoint()) == pressed:
            self._activate(pressed)

    def _link_of(self, target: tuple[int, int | None]) -> object | None:
        d = self.data
        if d is None:
            return None
        bucket, series = target
        if series is not None:
            return d.series[series].links[bucket]
        return d.column_links[bucket] if d.column_links else None

    def _activate(self, target: tuple[int, int | None]) -> None:
        link = self._link_of(target)
        if link is not None:
            QToolTip.hideText()
            self.activated.emit(link)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        d = self.data
        key = event.key()
        if d is None or not d.size:
            super().keyPressEvent(event)
            return
        current = self._hover[0] if self._hover is not None else d.size - 1
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            step = -1 if key == Qt.Key.Key_Left else 1
            bucket = min(d.size - 1, max(0, current + step if self._hover else current))
            self._set_hover((bucket, None))
            plot = self.plot_rect()
            x, width = self._column(plot, bucket)
            self._show_tooltip(QPoint(int(x + width / 2), plot.top() + plot.height() // 3))
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self._hover:
            self._activate(self._hover)
        else:
            super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.update()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self.update()


def _bar_path(r: QRectF, rounded: bool) -> QPainterPath:
    """A bar; the top corners rounded when it is the top of its stack and wide enough."""
    path = QPainterPath()
    radius = min(3.0, r.width() / 3, r.height())
    if not rounded or radius < 1:
        path.addRect(r)
        return path
    path.moveTo(r.left(), r.bottom())
    path.lineTo(r.left(), r.top() + radius)
    path.quadTo(r.left(), r.top(), r.left() + radius, r.top())
    path.lineTo(r.right() - radius, r.top())
    path.quadTo(r.right(), r.top(), r.right(), r.top() + radius)
    path.lineTo(r.right(), r.bottom())
    path.closeSubpath()
    return path


# -- a chart on a card ------------------------------------------------------------------------------


class ElidedLabel(QWidget):
    """One line of muted text, cut with an ellipsis where it does not fit (the whole text is
    its tooltip)."""

    def __init__(self, parent: QWidget | None = None, *, delta: float = -1.0) -> None:
        super().__init__(parent)
        self.setFont(small_font(self.font(), delta))
        self._text = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        self._text = text
        self.setToolTip(text)
        self.setAccessibleName(text)
        self.update()

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance(self._text), fm.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(theme.colour("muted"))
        fm = self.fontMetrics()
        painter.drawText(
            self.rect(),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(self._text, Qt.TextElideMode.ElideRight, self.width()),
        )
        painter.end()


class ChartCard(Card):
    """A card with a title, a headline figure and what it means, a ``BarChart`` and its
    legend."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 14, 10)
        lay.setSpacing(2)
        self.title = QLabel(title, self)
        self.title.setFont(small_font(self.font(), 0.0, QFont.Weight.DemiBold))
        lay.addWidget(self.title)
        self.headline = QLabel("", self)
        self.headline.setFont(small_font(self.font(), 4.0, QFont.Weight.Bold))
        lay.addWidget(self.headline)
        self.detail = ElidedLabel(self)
        lay.addWidget(self.detail)
        lay.addSpacing(6)
        self.chart = BarChart(self)
        lay.addWidget(self.chart, 1)
        self.legend = QLabel("", self)
        self.legend.setFont(small_font(self.font(), -1.0))
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        lay.addSpacing(2)
        lay.addWidget(self.legend)

    @property
    def summary(self) -> str:
        return f"{self.headline.text()} {self.detail.text()}".strip()

    def set_data(self, data: BarData | None, headline: str, detail: str) -> None:
        self.headline.setText(headline)
        self.detail.setText(detail)
        self.chart.set_data(data)
        self._render_legend()

    def _render_legend(self) -> None:
        d = self.chart.data
        if d is None:
            self.legend.setText("")
            return
        text = theme.colour("muted").name()
        self.legend.setText(
            "&nbsp;&nbsp;&nbsp;&nbsp;".join(
                f"<span style='color:{series_colour(s.key).name()}'>■</span>"
                f"<span style='color:{text}'>&nbsp;{escape(s.name)}</span>"
                for s in d.series
            )
        )

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._render_legend()
