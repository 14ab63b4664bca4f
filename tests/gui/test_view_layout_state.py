"""Each list view's splitter and the column widths a person dragged come back in the next
window on the same database kind, from the settings file; the automatic fits keep a dragged
width; a remembered width never makes a table scroll sideways; a corrupt entry is ignored."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from core import settings
from desktop.activity.view import COLUMN as ACTIVITY
from desktop.payments.model import COLUMN as PAYMENTS
from desktop.refunds.model import COLUMN as REFUNDS
from desktop.shell import window_state
from desktop.shell.main_window import MainWindow
from desktop.webhooks.model import COLUMN as WEBHOOKS
from tests.gui.test_shell_keyboard import close_window, demo_like_database, opened_window
from tests.gui.test_webhooks_layout import _with_deliveries

pytestmark = pytest.mark.gui


@pytest.fixture
def url(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("PAYDESK_ACTOR", "bob")  # finance: the refund awaiting approval shows
    return demo_like_database(tmp_path / "desk.sqlite3")


def shown_view(qtbot, window: MainWindow, key: str):
    view = window.open_view(key)
    qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=10_000)
    qtbot.wait(20)  # laid out
    return view


def open_detail(qtbot, view) -> None:
    rect = view.table.visualRect(view.model.index(0, 0))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.splitter.sizes()[1] > 0, timeout=5_000)


def closed(window: MainWindow) -> None:
    window.close()
    close_window(window)


def scrolls_sideways(table: QTableView) -> bool:
    return table.horizontalScrollBar().maximum() > 0


def test_the_layout_is_written_per_kind_and_read_back():
    layout = settings.ViewLayout(splitter=[700, 380], columns=[0, 210, 0])
    state = settings.WindowState(1100, 720, 10, 10, False, "refunds", {"refunds": layout})
    assert settings.remember_window("standalone", state)
    assert settings.window_state("standalone").layouts == {"refunds": layout}
    assert settings.window_state("shared").layouts == {}
    assert "[window.standalone.layouts.refunds]" in settings.settings_path().read_text()


def test_a_dragged_column_and_splitter_come_back_in_the_next_window(qtbot, url):
    window = opened_window(qtbot, url)
    window.remembers_place = True
    view = shown_view(qtbot, window, "refunds")
    header = view.table.horizontalHeader()
    amount = REFUNDS["amount"]
    usual = header.sectionSize(amount)
    header.resizeSection(amount, usual + 60)  # the person drags the header's edge
    open_detail(qtbot, view)
    view.splitter.moveSplitter(view.splitter.sizes()[0] - 120, 1)  # and the pane wider
    pane = view.splitter.sizes()[1]
    assert pane > 300  # the usual width
    closed(window)

    again = opened_window(qtbot, url)
    try:
        view = shown_view(qtbot, again, "refunds")
        assert view.table.horizontalHeader().sectionSize(amount) == usual + 60
        open_detail(qtbot, view)
        assert view.splitter.sizes()[1] == pane
        # Narrower, the automatic fit hides columns but keeps the person's width.
        again.resize(1024, 700)
        qtbot.waitUntil(lambda: view.columns.hidden != ())
        assert view.table.horizontalHeader().sectionSize(amount) == usual + 60
    finally:
        close_window(again)
    # The office's database is another kind: nothing of this comes to its window.
    assert window_state.saved_layout("postgresql://db/pay", "refunds") is None
    assert window_state.saved_layout(url, "refunds") is not None


def test_the_payments_table_keeps_a_dragged_column_and_never_scrolls_sideways(qtbot, url):
    window = opened_window(qtbot, url, (1024, 700))
    window.remembers_place = True
    view = shown_view(qtbot, window, "payments")
    # At 1024 the columns that give way go altogether rather than the table scrolling.
    assert not scrolls_sideways(view.table)
    window.resize(1280, 800)
    qtbot.wait(20)
    header = view.table.horizontalHeader()
    order = PAYMENTS["order"]
    usual = header.sectionSize(order)
    header.resizeSection(order, usual + 50)
    assert not scrolls_sideways(view.table)
    closed(window)
    saved = window_state.saved_layout(url, "payments")
    assert saved is not None and saved.columns[order] == usual + 50
    # The customer column takes what is left: resized by the fit, never remembered.
    assert saved.columns[PAYMENTS["customer"]] == 0

    again = opened_window(qtbot, url)
    try:
        view = shown_view(qtbot, again, "payments")
        assert view.table.horizontalHeader().sectionSize(order) == usual + 50
        assert not scrolls_sideways(view.table)
    finally:
        close_window(again)
    narrow = opened_window(qtbot, url, (1024, 700))
    try:
        view = shown_view(qtbot, narrow, "payments")
        assert not scrolls_sideways(view.table)
    finally:
        close_window(narrow)


def test_a_remembered_width_wider_than_the_window_is_cut_to_the_room(qtbot, url):
    columns = [0] * len(ACTIVITY)
    columns[ACTIVITY["action"]] = 5_000
    layout = settings.ViewLayout(columns=columns)
    settings.remember_window("standalone", settings.WindowState(layouts={"activity": layout}))
    window = opened_window(qtbot, url)
    try:
        view = shown_view(qtbot, window, "activity")
        width = view.table.horizontalHeader().sectionSize(ACTIVITY["action"])
        assert 200 < width < view.table.viewport().width()
        assert not scrolls_sideways(view.table)
    finally:
        close_window(window)


@pytest.mark.parametrize(
    "entry",
    [
        'columns = ["wide", 90]\nsplitter = [-5, 400]',
        "columns = [120, 130]\nsplitter = [1, 2, 3]",  # counts this view does not have
        'columns = "wide"\nsplitter = 400',
    ],
)
def test_a_corrupt_layout_entry_is_ignored(qtbot, url, entry):
    window = opened_window(qtbot, url)
    view = shown_view(qtbot, window, "refunds")
    usual = [view.table.columnWidth(c) for c in range(len(REFUNDS))]
    open_detail(qtbot, view)
    pane = view.splitter.sizes()[1]
    close_window(window)
    path = settings.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[window.standalone.layouts.refunds]\n{entry}\n")

    again = opened_window(qtbot, url)
    try:
        view = shown_view(qtbot, again, "refunds")
        assert [view.table.columnWidth(c) for c in range(len(REFUNDS))] == usual
        open_detail(qtbot, view)
        assert view.splitter.sizes()[1] == pane
    finally:
        close_window(again)


def test_the_webhooks_fit_keeps_a_dragged_width(qtbot, url):
    window = opened_window(qtbot, _with_deliveries(url))
    try:
        view = shown_view(qtbot, window, "webhooks")
        header = view.table.horizontalHeader()
        event = WEBHOOKS["event"]
        usual = header.sectionSize(event)
        header.resizeSection(event, usual + 40)
        width = view.table.viewport().width()
        window.resize(1240, 800)  # the fit runs again on the new width
        qtbot.waitUntil(lambda: view.table.viewport().width() < width)
        assert header.sectionSize(event) == usual + 40
    finally:
        close_window(window)
