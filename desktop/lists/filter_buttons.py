"""Filter-bar choices that cost little until a person opens them.

A ``QComboBox`` builds its popup list (a view, its scroll bars and a frame, each polished by
the style sheet) as soon as it is given an item. A filter bar holds several, and opening a
view paid for every popup before its first rows were on screen. ``ChoiceButton`` looks and
behaves like a combo (the current choice on a button, a list of the choices below it, the
arrow keys stepping through them while it has focus) and offers the part of
``QComboBox``'s API the views use; its menu of choices is filled when first opened.

``DateRangeButton`` holds a "from" and a "to" day, each optional, in the same button shape:
it reads "Created: any" or the days chosen, and opens a small popup with two date edits
(typed or picked from a calendar) when clicked. The popup is built when first needed.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QDate, QEvent, QObject, QPoint, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeyEvent, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QCalendarWidget,
    QDateEdit,
    QDateTimeEdit,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QMenu,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyleOptionButton,
    QStylePainter,
    QWidget,
)

from desktop.shell import theme

ANY_DATE = QDate(2000, 1, 1)  # a date edit at this value means "no bound"


class ChoiceButton(QPushButton):
    """One choice of several, as a button with a drop-down menu (see the module docstring).

    Items are ``(text, data)`` pairs; ``currentIndexChanged`` is emitted when the choice
    changes, by the person or by ``setCurrentIndex``."""

    currentIndexChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None, *, min_chars: int = 0) -> None:
        super().__init__(parent)
        self.setObjectName("Choice")
        self._items: list[tuple[str, Any]] = []
        self._index = -1
        self._min_chars = min_chars
        # Made when first opened, and filled when about to be shown from the items then.
        self._menu: QMenu | None = None
        self._menu_stale = True  # the items changed since the menu was filled
        self._size: QSize | None = None  # the size hint, until the items or font change
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    # -- QComboBox's API ---------------------------------------------------------------------
    def addItem(self, text: str, data: Any = None) -> None:
        self._items.append((text, data))
        self._items_changed()
        if self._index < 0:
            self.setCurrentIndex(0)

    def clear(self) -> None:
        had = self._index >= 0
        self._items = []
        self._index = -1
        self._items_changed()
        self.setText("")
        if had:
            self.currentIndexChanged.emit(-1)

    def count(self) -> int:
        return len(self._items)

    def currentIndex(self) -> int:
        return self._index

    def currentText(self) -> str:
        return self._items[self._index][0] if self._index >= 0 else ""

    def currentData(self) -> Any:
        return self._items[self._index][1] if self._index >= 0 else None

    def findData(self, data: Any) -> int:
        return next((i for i, (_t, d) in enumerate(self._items) if d == data), -1)

    def setCurrentIndex(self, index: int) -> None:
        if index < -1 or index >= len(self._items):
            index = -1
        if index == self._index:
            return
        self._index = index
        self.setText(self.currentText())
        self.currentIndexChanged.emit(index)

    # -- the button --------------------------------------------------------------------------
    @property
    def menu_of_choices(self) -> QMenu:
        """The drop-down list (made now if it was not yet)."""
        if self._menu is None:
            self._menu = QMenu(self)
            self._menu.aboutToShow.connect(self._fill_menu)
            self.setMenu(self._menu)
        return self._menu

    def _items_changed(self) -> None:
        self._menu_stale = True
        if self._size is not None:
            self._size = None
            self.updateGeometry()

    def mousePressEvent(self, event: Any) -> None:
        self.menu_of_choices  # noqa: B018 - a button with a menu opens it when pressed
        super().mousePressEvent(event)

    def _fill_menu(self) -> None:
        menu = self.menu_of_choices
        if self._menu_stale:
            menu.clear()
            group = QActionGroup(menu)
            group.setExclusive(True)
            for i, (text, _data) in enumerate(self._items):
                action = QAction(text, menu, checkable=True)
                action.setData(i)
                group.addAction(action)
                menu.addAction(action)
            group.triggered.connect(lambda action: self.setCurrentIndex(int(action.data())))
            self._menu_stale = False
        menu.setMinimumWidth(self.width())
        actions = menu.actions()
        for action in actions:
            action.setChecked(int(action.data()) == self._index)
        if 0 <= self._index < len(actions):
            menu.setActiveAction(actions[self._index])

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # As on a combo: the arrow keys, Home and End change the choice without opening it.
        step = {
            Qt.Key.Key_Up: -1,
            Qt.Key.Key_Down: 1,
            Qt.Key.Key_Home: -len(self._items),
            Qt.Key.Key_End: len(self._items),
        }.get(Qt.Key(event.key()))
        alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if alt and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            self.menu_of_choices  # noqa: B018 - Alt+Down opens the list, as on a combo
            self.showMenu()
            return
        if step is None or alt:
            if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Select):
                self.menu_of_choices  # noqa: B018 - a button with a menu opens it on Space
            super().keyPressEvent(event)
            return
        if self._items:
            self.setCurrentIndex(max(0, min(len(self._items) - 1, self._index + step)))
        event.accept()

    def sizeHint(self) -> QSize:
        # As wide as the longest choice (or ``min_chars`` characters), like a combo: the
        # button keeps its width whatever is chosen.
        if self._size is None:
            metrics = self.fontMetrics()
            if self._min_chars:
                widest = metrics.horizontalAdvance("x") * self._min_chars
            else:
                widest = max((metrics.horizontalAdvance(t) for t, _d in self._items), default=0)
            self._size = _choice_size(self, widest)
        return QSize(self._size)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._items_changed()  # measured in another font now

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, _event: QPaintEvent) -> None:
        _paint_choice(self)


class OptionalDateEdit(QDateEdit):
    """A date edit whose lowest value reads as ``any_text`` ("Any") and means no date; its
    calendar opens on today."""

    def __init__(self, any_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCalendarPopup(True)
        self.setMinimumDate(ANY_DATE)
        self.setSpecialValueText(any_text)
        self.setDisplayFormat("dd MMM yyyy")
        self.setDate(ANY_DATE)
        self._watching = False

    def _watch_calendar(self) -> None:
        # The calendar is built when its popup first opens, not with the edit.
        if not self._watching:
            self._watching = True
            calendar = self.calendarWidget()
            calendar.installEventFilter(self)
            # Full day names do not fit the cells at the style sheet's font (they read "…"):
            # one letter a day, no week numbers, and cells wide enough for "30".
            calendar.setHorizontalHeaderFormat(
                QCalendarWidget.HorizontalHeaderFormat.SingleLetterDayNames
            )
            calendar.setVerticalHeaderFormat(QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
            # The lists' item padding (resources/style.qss) would leave "…" in the cells.
            calendar.setStyleSheet("QTableView::item { padding: 0 2px; }")
            cell = calendar.fontMetrics().horizontalAdvance("300") + 16
            calendar.setMinimumSize(7 * cell, 7 * (calendar.fontMetrics().height() + 10))

    def mousePressEvent(self, event: Any) -> None:
        self._watch_calendar()
        super().mousePressEvent(event)

    def keyPressEvent(self, event: Any) -> None:
        self._watch_calendar()
        typed = event.text()[:1]
        if typed.isdigit() and self.value() is None:
            # "Any" cannot be typed over: the digits replace the day of today's date, and the
            # change is told once the person has typed a valid date (or leaves the field).
            self.blockSignals(True)
            self.setDate(QDate.currentDate())
            self.blockSignals(False)
            self.setSelectedSection(QDateTimeEdit.Section.DaySection)
        elif typed == " ":
            # The separator shown moves on to the next part, as typing "05 Jan 2026" expects
            # (unless the part typed was complete and the edit moved on by itself).
            line = self.lineEdit()
            at = line.selectionStart() if line.hasSelectedText() else line.cursorPosition()
            after_separator = at > 0 and line.text()[at - 1] == " "
            last = self.currentSectionIndex() >= self.sectionCount() - 1
            if not after_separator and not last:
                self.setCurrentSectionIndex(self.currentSectionIndex() + 1)
                self.setSelectedSection(self.currentSection())
            return
        super().keyPressEvent(event)

    def value(self) -> QDate | None:
        return None if self.date() == ANY_DATE else self.date()

    def clear_value(self) -> None:
        self.setDate(ANY_DATE)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and self.value() is None:
            today = QDate.currentDate()
            self.calendarWidget().setCurrentPage(today.year(), today.month())
        return False


class _RangePopup(QFrame):
    """The popup of a ``DateRangeButton``: a "from" and a "to" date edit, Clear and Done."""

    def __init__(self, owner: DateRangeButton, tips: tuple[str, str]) -> None:
        super().__init__(owner, Qt.WindowType.Popup)
        self.setObjectName("RangePopup")
        form = QFormLayout(self)
        form.setContentsMargins(12, 12, 12, 12)
        form.setSpacing(8)
        self.start = OptionalDateEdit("Any", self)
        self.end = OptionalDateEdit("Any", self)
        for edit, tip in zip((self.start, self.end), tips, strict=True):
            edit.setToolTip(tip)
            edit.setMinimumWidth(150)
        form.addRow("From", self.start)
        form.addRow("To", self.end)
        buttons = QHBoxLayout()
        self.clear_button = QPushButton("Clear", self)
        self.done_button = QPushButton("Done", self)
        self.done_button.setDefault(True)
        self.done_button.clicked.connect(self.close)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(self.done_button)
        form.addRow(buttons)


class DateRangeButton(QPushButton):
    """An optional range of whole days, both ends inclusive (see the module docstring).

    ``rangeChanged`` is emitted when either day changes, by the person or in code."""

    rangeChanged = Signal()

    def __init__(
        self,
        label: str,
        parent: QWidget | None = None,
        *,
        tips: tuple[str, str] = ("On or after", "On or before"),
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Choice")
        self._label = label
        self._tips = tips
        self._popup: _RangePopup | None = None
        self._told: tuple[QDate | None, QDate | None] = (None, None)  # the last range emitted
        self.setToolTip(f"{label}: {tips[0].lower()} the first day, {tips[1].lower()} the last")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.clicked.connect(self.open_popup)
        self._update_text()

    @property
    def popup(self) -> _RangePopup:
        if self._popup is None:
            popup = _RangePopup(self, self._tips)
            for edit in (popup.start, popup.end):
                edit.dateChanged.connect(self._edited)
                edit.editingFinished.connect(self._edited)  # a typed day that is today's
            popup.clear_button.clicked.connect(self.clear_range)
            self._popup = popup
        return self._popup

    @property
    def start_edit(self) -> OptionalDateEdit:
        return self.popup.start

    @property
    def end_edit(self) -> OptionalDateEdit:
        return self.popup.end

    def range(self) -> tuple[QDate | None, QDate | None]:
        if self._popup is None:
            return None, None
        return self._popup.start.value(), self._popup.end.value()

    def set_range(self, start: QDate | None, end: QDate | None) -> None:
        """Set both days at once (None: no bound), with one ``rangeChanged`` if either
        changed."""
        if (start, end) == self.range():
            return
        popup = self.popup
        for edit, day in ((popup.start, start), (popup.end, end)):
            edit.blockSignals(True)
            edit.setDate(day if day is not None else ANY_DATE)
            edit.blockSignals(False)
        self._edited()

    def clear_range(self) -> None:
        self.set_range(None, None)

    @Slot()
    def open_popup(self) -> None:
        popup = self.popup
        popup.adjustSize()
        below = self.mapToGlobal(QPoint(0, self.height()))
        popup.move(below)
        popup.show()
        popup.start.setFocus()

    def _edited(self, *_: object) -> None:
        if self.range() == self._told:
            return  # told already (a date edit says a change more than once)
        self._told = self.range()
        self._update_text()
        self.rangeChanged.emit()

    def _update_text(self) -> None:
        start, end = self.range()
        if start is None and end is None:
            shown = "any"
        elif end is None:
            shown = f"from {_day(start)}"
        elif start is None:
            shown = f"to {_day(end)}"
        elif start == end:
            shown = _day(start)
        elif start.year() == end.year():
            shown = f"{start.toString('d MMM')} – {_day(end)}"
        else:
            shown = f"{_day(start)} – {_day(end)}"
        self.setText(f"{self._label}: {shown}")
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        # Room for a range within a year, so choosing days seldom moves what is beside it.
        sample = f"{self._label}: 30 Sep – 30 Sep 2026"
        return _choice_size(self, self.fontMetrics().horizontalAdvance(sample))

    def paintEvent(self, _event: QPaintEvent) -> None:
        _paint_choice(self)


# Where a choice's text and arrow sit: the inputs' padding inside their 1 px border, and the
# arrow's box at the right.
_INSET = 8
_ARROW = 9


def _choice_size(button: QPushButton, text_width: int) -> QSize:
    """A choice button's size for ``text_width`` of text: as tall as a plain button."""
    height = QPushButton.sizeHint(button).height()
    return QSize(2 + _INSET + text_width + _INSET + _ARROW + _INSET + 2, height)


def _paint_choice(button: QPushButton) -> None:
    """Paint ``button`` as an input with a drop-down: its box as the style sheet draws a
    button, the text at the left (elided to fit) and an arrow at the right. (A push button's
    own label ignores the style sheet's padding once its text is aligned left.)"""
    painter = QStylePainter(button)
    option = QStyleOptionButton()
    button.initStyleOption(option)
    text = option.text
    option.text = ""
    option.features &= ~QStyleOptionButton.ButtonFeature.HasMenu
    painter.drawControl(QStyle.ControlElement.CE_PushButtonBevel, option)
    box = button.rect()
    room = box.adjusted(1 + _INSET, 0, -(1 + _INSET + _ARROW + _INSET), 0)
    painter.setPen(option.palette.color(QPalette.ColorRole.ButtonText))
    elided = button.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, room.width())
    painter.drawText(room, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)
    arrow = QRect(box.right() - _INSET - _ARROW + 1, box.center().y() - _ARROW // 2, _ARROW, _ARROW)
    theme.arrow_down_icon(theme.is_dark()).paint(painter, arrow)  # the combos' arrow


def _day(day: QDate | None) -> str:
    assert day is not None
    return day.toString("d MMM yyyy")
