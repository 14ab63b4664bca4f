"""The Webhooks view in a laptop's window: at 1024×700 its filters wrap instead of being cut
off, the window may be narrower than 1000 px, and opening the detail pane keeps the table's key
columns (created, log, status) whole and never leaves it scrolled sideways: the other columns
give way first. Its controls all have accessible names and descriptions."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QComboBox, QWidget

from core.context import Context
from core.store.db import open_database
from core.store.models import Merchant
from desktop.shell.main_window import MainWindow
from desktop.webhooks.model import COLUMN
from desktop.webhooks.view import KEY_COLUMNS, WebhooksView
from tests.gui.test_accessibility import unnamed
from tests.gui.test_shell_keyboard import close_window, demo_like_database, opened_window
from tests.test_webhooks import set_status
from tests.webhook_receiver import add_log, add_merchant

pytestmark = pytest.mark.gui


def _with_deliveries(url: str) -> str:
    db = open_database(url)
    ctx = Context(db=db, client_id="seeder")
    add_merchant(ctx, "mer_A")
    add_merchant(ctx, "mer_B")
    with ctx.db.write() as s:  # an endpoint, written as a migration would (no admin here)
        s.get(Merchant, "mer_A").webhook_url = "https://a.example/hooks"
    for i in range(30):
        log_id = add_log(ctx, "mer_A" if i % 3 else "mer_B", entity_id=f"pay_{i:04d}")
        if i % 2:
            set_status(ctx, log_id, "failed", response_code=500, last_error="HTTP 500")
    db.dispose()
    return url


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("PAYDESK_ACTOR", "root")  # admin: every control is shown
    url = _with_deliveries(demo_like_database(tmp_path / "desk.sqlite3"))
    win = opened_window(qtbot, url, size=(1024, 700))
    yield win
    close_window(win)


def _opened(qtbot, window: MainWindow) -> WebhooksView:
    view = window.open_view("webhooks")
    assert isinstance(view, WebhooksView)
    qtbot.waitUntil(lambda: view.is_loaded and view.model.rowCount() == 30, timeout=10_000)
    return view


def _cut_off(view: WebhooksView, widgets: list[QWidget]) -> list[str]:
    """The widgets that are hidden, squeezed below their least width or reach past the view."""
    out = []
    for w in widgets:
        right = w.mapTo(view, QPoint(w.width(), w.height()))
        if w.isHidden() or w.width() < w.minimumSizeHint().width() or right.x() > view.width():
            out.append(w.accessibleName() or type(w).__name__)
        elif right.y() > view.height():
            out.append(w.accessibleName())
    return out


def test_the_view_fits_a_1024_by_700_window_with_every_filter_whole(qtbot, window):
    view = _opened(qtbot, window)
    assert view.minimumSizeHint().width() <= 1000
    assert window.minimumSizeHint().width() <= 1000
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024)
    filters: list[QWidget] = [view.search, *view.findChildren(QComboBox), view.clear_button]
    filters = [w for w in filters if w.parentWidget() is not None and not w.isHidden()]
    assert len(filters) == 6
    assert _cut_off(view, filters) == []
    buttons = [view.test_button, view.endpoints_button, view.bulk_button, view.refresh_button]
    assert _cut_off(view, buttons) == []
    # The table reads without a sideways scroll bar.
    assert view.table.horizontalScrollBar().maximum() == 0
    if shots := os.environ.get("PAYDESK_SHOTS"):
        window.grab().save(f"{shots}/webhooks-1024-list.png")


def test_opening_the_detail_keeps_the_key_columns_and_scrolls_back(qtbot, window):
    view = _opened(qtbot, window)
    table = view.table
    natural = {k: table.columnWidth(COLUMN[k]) for k in KEY_COLUMNS}
    table.horizontalScrollBar().setValue(table.horizontalScrollBar().maximum())
    rect = table.visualRect(view.model.index(0, COLUMN["created"]))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.detail.data is not None)
    qtbot.waitUntil(lambda: table.viewport().width() < 700)
    assert table.horizontalScrollBar().value() == 0
    assert table.horizontalScrollBar().maximum() == 0
    for key in KEY_COLUMNS:
        assert not table.isColumnHidden(COLUMN[key])
        assert table.columnWidth(COLUMN[key]) >= natural[key]  # the last one stretches
    shown = [c for c in range(view.model.columnCount()) if not table.isColumnHidden(c)]
    # The columns shown fit the table: nothing to its right is out of reach.
    edge = max(table.columnViewportPosition(c) + table.columnWidth(c) for c in shown)
    assert edge <= table.viewport().width()
    # The id is whole, not elided.
    index = view.model.index(0, COLUMN["id"])
    text = index.data()
    assert table.fontMetrics().horizontalAdvance(text) < table.columnWidth(COLUMN["id"])
    # Closing the pane brings the other columns back.
    qtbot.keyClick(view.detail, Qt.Key.Key_Escape)
    view.close_detail()
    qtbot.waitUntil(lambda: not table.isColumnHidden(COLUMN["merchant"]))
    if shots := os.environ.get("PAYDESK_SHOTS"):
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.waitUntil(lambda: view.detail.data is not None)
        window.grab().save(f"{shots}/webhooks-1024-detail.png")


def test_every_control_of_the_view_has_a_name_and_a_description(qtbot, window):
    view = _opened(qtbot, window)
    rect = view.table.visualRect(view.model.index(1, COLUMN["id"]))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.detail.data is not None)
    assert unnamed(view) == []
    for widget in (view.search, view.status_combo, view.merchant_combo, view.event_combo,
                   view.range_combo, view.table, view.refresh_button, view.clear_button,
                   view.test_button, view.endpoints_button, view.bulk_button,
                   view.detail.retry_button, view.detail.copy_button, view.detail.payload):  # fmt: skip
        assert widget.accessibleName().strip(), widget
        assert widget.accessibleDescription().strip(), widget.accessibleName()


def test_the_actions_menu_holds_retry_with_its_key_and_says_why_it_is_off(qtbot, window):
    view = _opened(qtbot, window)
    rows = [view.model.row_at(i) for i in range(view.model.rowCount())]
    shop_b = next(r for r in rows if r.merchant_id == "mer_B")
    rect = view.table.visualRect(view.model.index(view.model.row_of(shop_b.id), COLUMN["id"]))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.detail.data is not None and view.detail.data.row.id == shop_b.id)
    window.menus.actions_menu.aboutToShow.emit()
    items = {a.text(): a for a in window.menus.actions_menu.actions()}
    retry = items["Retry now"]
    assert retry.shortcut().toString() == "Ctrl+Return" and not retry.isEnabled()
    assert retry.toolTip() == "Shop B has no webhook endpoint; an admin can set one."
    # With the pane closed there is nothing to retry, and it says so.
    view.close_detail()
    window.menus.actions_menu.aboutToShow.emit()
    items = {a.text(): a for a in window.menus.actions_menu.actions()}
    assert items["Retry now"].toolTip() == "Select a delivery to retry it."
    assert not items["Retry now"].isEnabled()


def test_ctrl_return_acts_on_the_view_on_screen_only(qtbot, qtlog, window):
    view = _opened(qtbot, window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    with qtbot.waitSignal(view.message) as said:
        qtbot.keyClick(view.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert said.args == ["Select a delivery to retry it."]
    refunds = window.open_view("refunds")
    qtbot.waitUntil(lambda: getattr(refunds, "is_loaded", True), timeout=10_000)
    heard: list[str] = []
    view.message.connect(heard.append)
    qtbot.keyClick(refunds.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    QApplication.processEvents()
    assert heard == []  # the hidden Webhooks view did not take the key
    assert not [r for r in qtlog.records if "Ambiguous" in r.message]
