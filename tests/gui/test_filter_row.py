"""The filter bars' row of filters wraps onto another line in a narrow window and stays one
line, the search field taking the room left, in a wide one."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLineEdit, QPushButton, QVBoxLayout, QWidget

from desktop.lists.filter_row import FilterRow

pytestmark = pytest.mark.gui


def built(qtbot) -> tuple[QWidget, QLineEdit, list[QPushButton], FilterRow]:
    page = QWidget()
    qtbot.addWidget(page)
    outer = QVBoxLayout(page)
    row = FilterRow()
    search = QLineEdit()
    search.setMinimumWidth(200)
    row.addWidget(search, 3)
    buttons = [QPushButton(f"Filter number {i}") for i in range(4)]
    for b in buttons:
        row.addWidget(b)
    outer.addLayout(row)
    outer.addStretch(1)
    return page, search, buttons, row


def test_a_wide_row_is_one_line_with_the_search_taking_the_room_left(qtbot):
    page, search, buttons, _row = built(qtbot)
    page.resize(1400, 200)
    page.show()
    qtbot.waitExposed(page)
    tops = {w.geometry().top() for w in (search, *buttons)}
    assert len(tops) == 1
    assert search.width() > search.sizeHint().width()
    assert buttons[-1].geometry().right() <= page.width()


def test_a_narrow_row_wraps_and_nothing_is_cut_off(qtbot):
    page, search, buttons, _row = built(qtbot)
    assert page.minimumSizeHint().width() < sum(b.sizeHint().width() for b in buttons)
    page.resize(420, 300)
    page.show()
    qtbot.waitExposed(page)
    assert len({w.geometry().top() for w in (search, *buttons)}) > 1
    for w in (search, *buttons):
        assert w.geometry().right() <= page.width() and w.isVisible()
        assert w.width() >= w.minimumSizeHint().width()


def test_a_widget_inserted_before_another_and_a_hidden_one(qtbot):
    page, _search, buttons, row = built(qtbot)
    chip = QPushButton("Chip")
    row.insertWidget(row.indexOf(buttons[0]), chip)
    assert row.indexOf(chip) == 1 and row.indexOf(buttons[0]) == 2
    buttons[1].hide()
    page.resize(1400, 200)
    page.show()
    qtbot.waitExposed(page)
    assert chip.geometry().right() < buttons[0].geometry().left()
    assert buttons[2].geometry().left() - buttons[0].geometry().right() < 30  # no gap
