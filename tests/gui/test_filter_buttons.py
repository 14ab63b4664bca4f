"""The filter bar's choice and date-range buttons (desktop.lists.filter_buttons), driven as a person
drives them: the mouse opens their lists and popups, the keyboard steps through choices, and
the Payments view filters by what they say."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMenu

from desktop.lists.filter_buttons import ChoiceButton, DateRangeButton
from tests.gui.test_payments_view import open_view

pytestmark = pytest.mark.gui


@pytest.fixture
def choice(qtbot) -> ChoiceButton:
    button = ChoiceButton()
    qtbot.addWidget(button)
    for text, data in (("All statuses", None), ("Success", "success"), ("Failed", "failed")):
        button.addItem(text, data)
    button.show()
    qtbot.waitExposed(button)
    return button


def with_menu_open(qtbot, button: ChoiceButton, act: Callable[[QMenu], None]) -> None:
    """Click ``button`` and, while its list is open, ``act`` on the list; then close it."""
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    menu = button.menu()
    assert menu is not None
    qtbot.waitUntil(menu.isVisible, timeout=2000)
    try:
        act(menu)
    finally:
        menu.close()


def test_a_choice_shows_the_first_item_until_another_is_chosen(choice):
    assert choice.text() == "All statuses"
    assert choice.currentIndex() == 0 and choice.currentData() is None
    assert choice.count() == 3 and choice.findData("failed") == 2 and choice.findData("x") == -1


def test_the_list_opens_on_a_click_with_the_current_choice_checked(qtbot, choice):
    choice.setCurrentIndex(1)
    assert choice.menu() is None  # made when first opened, not with the button
    seen: list[tuple[str, bool]] = []
    with_menu_open(
        qtbot, choice, lambda menu: seen.extend((a.text(), a.isChecked()) for a in menu.actions())
    )
    assert seen == [("All statuses", False), ("Success", True), ("Failed", False)]
    assert choice.currentIndex() == 1  # closing the list chose nothing


def test_choosing_from_the_list_changes_the_choice(qtbot, choice):
    with qtbot.waitSignal(choice.currentIndexChanged, timeout=3000) as signal:
        with_menu_open(qtbot, choice, lambda menu: menu.actions()[2].trigger())
    assert signal.args == [2]
    assert choice.text() == "Failed" and choice.currentData() == "failed"


def test_arrow_keys_step_through_the_choices_without_opening_the_list(qtbot, choice):
    choice.setFocus()
    with qtbot.waitSignal(choice.currentIndexChanged, timeout=1000) as signal:
        QTest.keyClick(choice, Qt.Key.Key_Down)
    assert signal.args == [1] and choice.text() == "Success"
    QTest.keyClick(choice, Qt.Key.Key_End)
    assert choice.currentData() == "failed"
    QTest.keyClick(choice, Qt.Key.Key_Down)  # already the last: stays
    assert choice.currentIndex() == 2
    QTest.keyClick(choice, Qt.Key.Key_Home)
    assert choice.currentIndex() == 0
    assert choice.menu() is None or not choice.menu().isVisible()


def test_clearing_the_choices_leaves_none_chosen(qtbot, choice):
    with qtbot.waitSignal(choice.currentIndexChanged, timeout=1000) as signal:
        choice.clear()
    assert signal.args == [-1]
    assert choice.count() == 0 and choice.currentData() is None and choice.text() == ""


def test_the_button_keeps_the_width_of_its_longest_choice(choice):
    wide = choice.sizeHint().width()
    choice.setCurrentIndex(2)  # "Failed", shorter than "All statuses"
    assert choice.sizeHint().width() == wide
    choice.addItem("Partially refunded and disputed", "x")
    assert choice.sizeHint().width() > wide


@pytest.fixture
def dates(qtbot) -> DateRangeButton:
    button = DateRangeButton("Created")
    qtbot.addWidget(button)
    button.show()
    qtbot.waitExposed(button)
    return button


def test_a_range_reads_any_until_days_are_chosen(dates):
    assert dates.text() == "Created: any"
    assert dates.range() == (None, None)


def test_clicking_opens_the_popup_and_a_chosen_day_narrows_the_range(qtbot, dates):
    QTest.mouseClick(dates, Qt.MouseButton.LeftButton)
    popup = dates.popup
    qtbot.waitUntil(popup.isVisible, timeout=2000)
    with qtbot.waitSignal(dates.rangeChanged, timeout=1000):
        popup.start.setDate(QDate(2026, 3, 4))
    assert dates.text() == "Created: from 4 Mar 2026"
    with qtbot.waitSignal(dates.rangeChanged, timeout=1000):
        popup.end.setDate(QDate(2026, 3, 9))
    assert dates.text() == "Created: 4 Mar – 9 Mar 2026"
    assert dates.range() == (QDate(2026, 3, 4), QDate(2026, 3, 9))
    QTest.mouseClick(popup.done_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not popup.isVisible(), timeout=2000)


def test_clear_in_the_popup_forgets_both_days_with_one_change(qtbot, dates):
    dates.set_range(QDate(2025, 12, 30), QDate(2026, 1, 2))
    assert dates.text() == "Created: 30 Dec 2025 – 2 Jan 2026"
    changes: list[None] = []
    dates.rangeChanged.connect(lambda: changes.append(None))
    dates.open_popup()
    QTest.mouseClick(dates.popup.clear_button, Qt.MouseButton.LeftButton)
    assert changes == [None]
    assert dates.range() == (None, None) and dates.text() == "Created: any"


def test_setting_the_range_it_already_has_changes_nothing(dates):
    changes: list[None] = []
    dates.rangeChanged.connect(lambda: changes.append(None))
    dates.set_range(None, None)
    dates.set_range(QDate(2026, 5, 1), QDate(2026, 5, 1))
    dates.set_range(QDate(2026, 5, 1), QDate(2026, 5, 1))
    assert len(changes) == 1 and dates.text() == "Created: 1 May 2026"


# -- in the Payments view ---------------------------------------------------------------------


def test_the_status_button_filters_the_payments_from_the_keyboard(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    view.status_combo.setFocus()
    with qtbot.waitSignal(view.loaded, timeout=5000):
        QTest.keyClick(view.status_combo, Qt.Key.Key_Down)  # the first status after "All"
    chosen = view.status_combo.currentData()
    assert chosen is not None
    statuses = {view.model.row_at(r).status for r in range(view.model.rowCount())}
    assert statuses == {chosen}


def test_a_day_chosen_in_the_date_popup_narrows_the_payments(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    QTest.mouseClick(view.dates, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(view.dates.popup.isVisible, timeout=2000)
    newest = seeded_payments.newest.astimezone()
    day = QDate(newest.year, newest.month, newest.day).addDays(1)
    with qtbot.waitSignal(view.loaded, timeout=5000) as signal:
        view.dates.popup.start.setDate(day)  # from tomorrow: nothing yet
    assert signal.args == [0]
    assert view.pages.currentWidget() is view.no_match_page
    with qtbot.waitSignal(view.loaded, timeout=5000):
        QTest.mouseClick(view.clear_button, Qt.MouseButton.LeftButton)
    assert view.model.rowCount() > 0 and view.dates.text() == "Created: any"


def test_space_opens_the_list_from_the_keyboard(qtbot, choice):
    choice.setFocus()
    QTest.keyClick(choice, Qt.Key.Key_Space)
    menu = choice.menu()
    assert menu is not None
    qtbot.waitUntil(menu.isVisible, timeout=2000)
    assert [a.text() for a in menu.actions()] == ["All statuses", "Success", "Failed"]
    menu.close()


@pytest.mark.parametrize("dark", [False, True])
def test_the_drop_down_arrow_is_drawn_in_the_schemes_muted_colour(dark):
    # The style sheet needs the arrow as a file, so its colour is written in it: it must be
    # the colour the scheme's other quiet marks use.
    from desktop.shell import theme

    svg = theme.arrow_down_path(dark).read_text(encoding="utf-8")
    assert (theme.DARK if dark else theme.LIGHT)["muted"] in svg
    assert f'url("{theme.arrow_down_path(dark).as_posix()}")' in theme.style_sheet(dark)
