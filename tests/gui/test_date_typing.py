"""The date filter's popup as a person uses it: a day typed into From or To filters the list,
and the calendar draws its weekday header and every day whole."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCalendarWidget, QTableView

from desktop.lists.filter_buttons import DateRangeButton
from tests.gui.test_payments_view import open_view

pytestmark = pytest.mark.gui


def test_a_day_typed_into_from_filters_the_payments(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    QTest.mouseClick(view.dates, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(view.dates.popup.isVisible, timeout=2000)
    start = view.dates.popup.start
    newest = seeded_payments.newest.astimezone()
    after = QDate(newest.year, newest.month, newest.day).addDays(1)
    with qtbot.waitSignal(view.loaded, timeout=5000) as signal:
        QTest.keyClicks(start, after.toString("dd MMM yyyy"))  # from the day after: nothing
        QTest.keyClick(start, Qt.Key.Key_Return)
    assert start.date() == after
    assert signal.args == [0]
    assert view.dates.text() == f"Created: from {after.toString('d MMM yyyy')}"
    with qtbot.waitSignal(view.loaded, timeout=5000):
        QTest.mouseClick(view.clear_button, Qt.MouseButton.LeftButton)
    assert view.model.rowCount() > 0


def test_typing_works_with_or_without_spaces_and_tells_one_change(qtbot):
    dates = DateRangeButton("Days")
    qtbot.addWidget(dates)
    dates.show()
    dates.open_popup()
    changes: list[None] = []
    dates.rangeChanged.connect(lambda: changes.append(None))
    end = dates.popup.end
    end.setFocus()
    QTest.keyClicks(end, "09Mar2026")
    QTest.keyClick(end, Qt.Key.Key_Return)
    assert dates.range() == (None, QDate(2026, 3, 9))
    QTest.keyClicks(dates.popup.start, "3 Mar 2026")
    QTest.keyClick(dates.popup.start, Qt.Key.Key_Return)
    assert dates.range() == (QDate(2026, 3, 3), QDate(2026, 3, 9))
    assert dates.text() == "Days: 3 Mar – 9 Mar 2026"
    assert len(changes) <= 6  # once per valid day typed, not once per signal of the edit


def test_the_calendar_shows_weekday_letters_and_whole_days(qtbot):
    dates = DateRangeButton("Days")
    qtbot.addWidget(dates)
    dates.show()
    dates.open_popup()
    start = dates.popup.start
    QTest.mouseClick(start, Qt.MouseButton.LeftButton)  # the calendar is made for its popup
    calendar = start.calendarWidget()
    assert (
        calendar.horizontalHeaderFormat()
        == QCalendarWidget.HorizontalHeaderFormat.SingleLetterDayNames
    )
    calendar.show()
    qtbot.waitExposed(calendar)
    table = calendar.findChild(QTableView)
    assert table is not None
    widest = calendar.fontMetrics().horizontalAdvance("30")
    model = table.model()
    for col in range(model.columnCount()):
        assert table.visualRect(model.index(1, col)).width() >= widest + 8
