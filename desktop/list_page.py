"""The parts the list pages (Refunds, Webhooks, Activity) are built of, so the three look and
behave alike: the filter bar with its title row, the search box, the Refresh and Clear
buttons, a dismissable message bar, the table's plain settings, the empty and loading pages,
and the merge of a live first page that keeps the person's scroll position."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import theme
from desktop.keyset_model import KeysetTableModel


def filter_bar(page: QWidget, title: str) -> tuple[QVBoxLayout, QVBoxLayout, QHBoxLayout, QLabel]:
    """Lay ``page`` out as a filter bar above the rest. Returns the page's layout (the bar is
    in it already), the bar's layout, the bar's title row and the row counter in it."""
    root = QVBoxLayout(page)
    root.setContentsMargins(0, 0, 0, 0)
    root.setSpacing(0)
    bar = QFrame(page, objectName="FilterBar")
    bar_lay = QVBoxLayout(bar)
    bar_lay.setContentsMargins(16, 12, 16, 10)
    bar_lay.setSpacing(10)
    root.addWidget(bar)

    title_row = QHBoxLayout()
    title_row.setSpacing(8)
    title_row.addWidget(QLabel(title, objectName="PageTitle"))
    counter = QLabel("", objectName="Counter")
    title_row.addWidget(counter)
    title_row.addStretch(1)
    bar_lay.addLayout(title_row)
    return root, bar_lay, title_row, counter


def counter_text(count: int, has_more: bool) -> str:
    """``1,200 shown · scroll for more``; nothing when no row is shown."""
    if count == 0:
        return ""
    more = " · scroll for more" if has_more else ""
    return f"{count:,} shown{more}"


def refresh_button(parent: QWidget, refresh: Callable[[], None]) -> QToolButton:
    button = QToolButton(parent)
    button.setIcon(theme.icon("refresh"))
    button.setToolTip("Reload (F5)")
    button.clicked.connect(refresh)
    return button


def debounce_timer(parent: QWidget, ms: int, slot: Callable[[], None]) -> QTimer:
    """A single-shot timer that runs ``slot`` once typing has paused for ``ms``."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return timer


def search_box(
    parent: QWidget, placeholder: str, min_width: int, debounce: QTimer, apply: Callable[[], None]
) -> QLineEdit:
    """A search field that applies after a pause in typing (``debounce``) or on Return."""
    search = QLineEdit(parent)
    search.setPlaceholderText(placeholder)
    search.setClearButtonEnabled(True)
    search.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
    search.setMinimumWidth(min_width)
    search.textChanged.connect(lambda _t: debounce.start())
    search.returnPressed.connect(apply)
    return search


def clear_button(parent: QWidget, clear: Callable[[], None]) -> QToolButton:
    button = QToolButton(parent)
    button.setText("Clear")
    button.setToolTip("Clear every filter")
    button.clicked.connect(clear)
    return button


def fit_combos(*combos: QComboBox, length: int = 12) -> None:
    """Combos of names (merchants, people) keep a sensible width whatever they hold."""
    for combo in combos:
        combo.setMinimumContentsLength(length)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)


def refill_combo(combo: QComboBox, everything: str, items: list[tuple[str, str]]) -> None:
    """Replace a filter list's ``(data, text)`` items, keeping the choice when it is still
    there; ``everything`` is the first item, meaning no filter."""
    current = combo.currentData()
    combo.clear()
    combo.addItem(everything, None)
    for data, text in items:
        combo.addItem(text, data)
    combo.setCurrentIndex(max(0, combo.findData(current)) if current else 0)


def message_bar(parent: QWidget, name: str) -> tuple[QFrame, QLabel]:
    """A hidden, dismissable bar (style sheet name ``name``) and the label of its sentence;
    the sentence can be selected, so a person can copy an error."""
    frame = QFrame(parent, objectName=name)
    lay = QHBoxLayout(frame)
    lay.setContentsMargins(10, 6, 6, 6)
    text = QLabel("")
    text.setWordWrap(True)
    text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    dismiss = QToolButton(frame)
    dismiss.setIcon(theme.icon("clear"))
    dismiss.setAutoRaise(True)
    dismiss.setToolTip("Dismiss")
    dismiss.clicked.connect(frame.hide)
    lay.addWidget(text, 1)
    lay.addWidget(dismiss)
    frame.hide()
    return frame, text


def list_table(
    parent: QWidget, model: KeysetTableModel[Any], selection: QAbstractItemView.SelectionMode
) -> QTableView:
    """A read-only table of whole rows over ``model``, scrolling by pixel, rows of one
    height that follows the font."""
    table = QTableView(parent)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(selection)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    vh = table.verticalHeader()
    vh.hide()
    vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vh.setDefaultSectionSize(max(26, table.fontMetrics().height() + 12))
    hh = table.horizontalHeader()
    hh.setHighlightSections(False)
    return table


def state_page(
    parent: QWidget, icon: str, title: str, text: str
) -> tuple[QWidget, QVBoxLayout, QLabel, QLabel]:
    """A page in place of the table (nothing found, loading): a large icon, a title and a
    sentence, centred. Returns the page, its layout (to add to) and the two labels."""
    page = QWidget(parent, objectName="Page")
    lay = QVBoxLayout(page)
    lay.addStretch(2)
    pic = QLabel(page)
    pic.setPixmap(theme.icon(icon).pixmap(56, 56))
    pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lay.addWidget(pic)
    head = QLabel(title, objectName="EmptyTitle")
    head.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lay.addWidget(head)
    body = QLabel(text, objectName="EmptyText")
    body.setAlignment(Qt.AlignmentFlag.AlignCenter)
    body.setWordWrap(True)
    lay.addWidget(body)
    lay.addSpacing(8)
    return page, lay, head, body


def empty_page(
    parent: QWidget, icon: str, title: str, show_all: str, clear: Callable[[], None]
) -> tuple[QWidget, QLabel, QLabel, QPushButton]:
    """The page shown when a query found nothing, with a button that clears the filters.
    Returns the page, its title and sentence labels, and the button."""
    page, lay, head, body = state_page(parent, icon, title, "")
    button = QPushButton(show_all, page)
    button.clicked.connect(clear)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(button)
    row.addStretch(1)
    lay.addLayout(row)
    lay.addStretch(3)
    return page, head, body, button


def loading_page(parent: QWidget, icon: str, title: str) -> QWidget:
    page, lay, _h, _b = state_page(parent, icon, title, "")
    lay.addStretch(3)
    return page


def add_shortcut(widget: QWidget, keys: QKeySequence.StandardKey, slot: Callable[[], Any]) -> None:
    """Run ``slot`` on ``keys`` while ``widget`` (or a child of it) has the focus."""
    action = QAction(widget)
    action.setShortcut(keys)
    action.triggered.connect(slot)
    widget.addAction(action)


def merge_first_page(
    table: QTableView, pages: QStackedWidget, model: KeysetTableModel[Any], rows: list[Any]
) -> None:
    """Put the rows of a fresh first page that are not shown yet in their place, keeping the
    rows the person is looking at where they were, and show the table once it has rows."""
    bar = table.verticalScrollBar()
    top = model.row_at(table.rowAt(0))
    offset = bar.value()
    added = model.insert_new(rows)
    if added and top is not None and offset > 0:
        now_at = model.row_of(model.row_id(top))
        before = table.rowAt(0)
        if now_at is not None and before >= 0:
            bar.setValue(offset + (now_at - before) * table.rowHeight(now_at))
    if model.rowCount() and pages.currentWidget() is not table:
        pages.setCurrentWidget(table)
