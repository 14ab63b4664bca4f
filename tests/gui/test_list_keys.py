"""The list pages from the keyboard (issue 18): Tab leaves the table for the next control
instead of moving from cell to cell (the arrows move between rows), Enter on a row opens its
detail, and Escape closes the detail pane and then clears the search. Driven on the
Reconciliation view, a list page with a search field and a detail pane."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.gui.test_recon_view import import_and_wait, open_view, services, two_lines  # noqa: F401

pytestmark = pytest.mark.gui


def test_tab_enter_and_escape_as_a_person_uses_them(
    qtbot, services, monkeypatch, tmp_path  # noqa: F811
):
    _p, path = two_lines(services.ctx, tmp_path)
    view = open_view(qtbot, services, monkeypatch)
    import_and_wait(qtbot, view, path)
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)
    view.activateWindow()
    table = view.table
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    # The arrows move between rows; Enter opens the row's detail.
    table.setCurrentIndex(view.model.index(0, 0))
    qtbot.keyClick(table, Qt.Key.Key_Down)
    assert table.currentIndex().row() == 1
    view.close_detail()  # the row stays current, its pane is closed
    qtbot.wait(50)
    assert view.detail.isHidden()
    with qtbot.waitSignal(view.detailShown, timeout=10_000):
        qtbot.keyClick(table, Qt.Key.Key_Return)
    assert not view.detail.isHidden()
    assert table.currentIndex().row() == 1
    # Tab leaves the table (it does not walk its cells).
    column = table.currentIndex().column()
    qtbot.keyClick(table, Qt.Key.Key_Tab)
    assert not table.hasFocus()
    assert table.currentIndex().column() == column
    # Escape closes the pane first, then clears the search.
    view.search.setFocus()
    qtbot.keyClicks(view.search, "pay_unknown000001")
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.apply_filters()
    assert view.model.rowCount() == 1
    table.setFocus()
    with qtbot.waitSignal(view.detailShown, timeout=10_000):
        qtbot.keyClick(table, Qt.Key.Key_Down)  # the one row, and its detail
    assert not view.detail.isHidden()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert view.detail.isHidden()
    assert view.search.text() == "pay_unknown000001"
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert view.search.text() == ""
    assert view.model.rowCount() == 2
