"""The main window from the keyboard: Ctrl+1 … Ctrl+N open the views in navigation order (and
the navigation's tooltips say so), the navigation takes focus and moves with the arrows,
Ctrl+Tab and Ctrl+Shift+Tab cycle, Find and Refresh act on the view on screen from the key
and from the menu, the Actions menu mirrors the view's keyed buttons, the status bar says who
is acting, and ``--view`` takes the names the navigation shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit

from core.clock import FrozenClock
from core.context import Context
from core.errors import InputError
from core.store.db import open_database
from core.store.migrate import upgrade
from desktop.shell import shortcuts, views
from desktop.shell.app import Launcher, _check_view
from desktop.shell.main_window import MainWindow
from desktop.shell.runner import TaskRunner
from tests.gui.conftest import write_payments
from tests.test_refunds import add_payment, add_staff, request

pytestmark = pytest.mark.gui

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def demo_like_database(path: Path) -> str:
    """A SQLite file with staff, 120 payments and a refund awaiting approval."""
    url = f"sqlite:///{path}"
    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db, clock=FrozenClock(), client_id="seeder")
    add_staff(ctx)
    write_payments(ctx, 120, FrozenClock().now())
    request(ctx, add_payment(ctx), amount=1_000)
    db.dispose()
    return url


def opened_window(qtbot, url: str, size: tuple[int, int] = (1280, 800)) -> MainWindow:
    """The main window on ``url`` (no scheduler), shown and with its first view built."""
    window = MainWindow(TaskRunner())
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    launcher = Launcher(window, url, start_scheduler=False)
    with qtbot.waitSignal(launcher.ready, timeout=30_000):
        launcher.start()
    return window


def close_window(window: MainWindow) -> None:
    window.shutdown()
    window.runner.wait(10_000)
    QApplication.processEvents()


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("PAYDESK_ACTOR", "bob")  # finance
    win = opened_window(qtbot, demo_like_database(tmp_path / "desk.sqlite3"))
    yield win
    close_window(win)


def shown_key(window: MainWindow) -> str:
    item = window.nav.currentItem()
    assert window.stack.currentWidget() is window.view(item.data(Qt.ItemDataRole.UserRole))
    return item.data(Qt.ItemDataRole.UserRole)


def test_ctrl_number_opens_each_view_in_navigation_order(qtbot, window):
    for i, spec in enumerate(views.VIEWS):
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{i + 1}"), CTRL)
        assert shown_key(window) == spec.key
        assert window.menus.view_actions[spec.key].isChecked()


def test_navigation_tooltips_name_the_key(window):
    tips = [window.nav.item(i).toolTip() for i in range(window.nav.count())]
    assert tips[0] == "Overview (Ctrl+1)"
    assert tips[-1] == f"{views.VIEWS[-1].title} (Ctrl+{len(views.VIEWS)})"


def test_the_navigation_takes_focus_and_moves_with_the_arrows(qtbot, window):
    window.nav.setFocus()
    assert window.nav.hasFocus()
    qtbot.keyClick(window.nav, Qt.Key.Key_Down)
    assert shown_key(window) == "payments"
    qtbot.keyClick(window.nav, Qt.Key.Key_Down)
    assert shown_key(window) == "refunds"
    qtbot.keyClick(window.nav, Qt.Key.Key_Up)
    assert shown_key(window) == "payments"


def test_ctrl_tab_and_ctrl_shift_tab_cycle_the_views(qtbot, window):
    assert shown_key(window) == "dashboard"
    qtbot.keyClick(window, Qt.Key.Key_Tab, CTRL)
    assert shown_key(window) == "payments"
    qtbot.keyClick(window, Qt.Key.Key_Backtab, CTRL | SHIFT)
    assert shown_key(window) == "dashboard"
    qtbot.keyClick(window, Qt.Key.Key_Backtab, CTRL | SHIFT)  # from the first to the last
    assert shown_key(window) == views.VIEWS[-1].key
    qtbot.keyClick(window, Qt.Key.Key_Tab, CTRL)
    assert shown_key(window) == "dashboard"


def test_ctrl_f_goes_to_the_search_field_of_the_view_on_screen(qtbot, window):
    for key in ("payments", "refunds", "webhooks", "recon", "activity"):
        view = window.open_view(key)
        qtbot.waitUntil(lambda v=view: v.isVisible())
        search = views.search_of(view)
        assert isinstance(search, QLineEdit)
        window.nav.setFocus()
        qtbot.keyClick(window, Qt.Key.Key_F, CTRL)
        assert search.hasFocus(), key
        assert window.menus.find_action.isEnabled()


def test_find_in_the_edit_menu_shows_its_key_and_is_off_without_a_search(qtbot, window):
    assert window.menus.find_action.shortcut() == shortcuts.find()
    window.open_view("jobs")
    assert not window.menus.find_action.isEnabled()
    window.open_view("payments")
    assert window.menus.find_action.isEnabled()
    window.menus.find_action.trigger()
    assert window.view("payments").search.hasFocus()


def test_f5_refreshes_the_view_on_screen_once_even_where_the_view_has_no_key(
    qtbot, window, monkeypatch
):
    for key in ("jobs", "payments"):
        view = window.open_view(key)
        calls: list[str] = []
        monkeypatch.setattr(view, "refresh", lambda k=key, c=calls: c.append(k))
        window.menus.update_for(view)
        qtbot.keyClick(window, Qt.Key.Key_F5)
        if key == "jobs":  # the window's own F5: the Jobs view binds none
            assert calls == ["jobs"]
        window.menus.refresh_action.trigger()
        assert calls[-1] == key


def test_the_actions_menu_mirrors_approve_and_reject_with_their_keys(qtbot, window):
    view = window.open_view("refunds")
    qtbot.waitUntil(lambda: getattr(view, "is_loaded", False), timeout=10_000)
    assert window.menus.actions_menu.menuAction().isEnabled()
    window.menus.actions_menu.aboutToShow.emit()
    items = {a.text(): a for a in window.menus.actions_menu.actions()}
    assert items["Approve"].shortcut().toString() == "Ctrl+Return"
    assert items["Reject…"].shortcut().toString() == "Ctrl+Backspace"
    assert items["Approve"].isEnabled() == view.approve_button.isEnabled()
    window.open_view("jobs")
    assert not window.menus.actions_menu.menuAction().isEnabled()


def test_the_status_bar_says_who_is_acting_and_their_role(qtbot, window):
    qtbot.waitUntil(lambda: window.identity_label.text() == "bob · finance", timeout=10_000)
    assert "finance" in window.identity_label.toolTip()


def test_someone_without_a_role_reads_so(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PAYDESK_ACTOR", "zoe")
    win = opened_window(qtbot, demo_like_database(tmp_path / "desk.sqlite3"))
    try:
        qtbot.waitUntil(lambda: win.identity_label.text() == "zoe · no role", timeout=10_000)
    finally:
        close_window(win)


def test_the_status_bar_names_the_database_login_in_shared_mode(qtbot, pg_schema_url):
    db = open_database(pg_schema_url)
    upgrade(db)
    db.dispose()
    win = opened_window(qtbot, pg_schema_url)
    try:
        # The test server's login owns the schema: an admin.
        qtbot.waitUntil(lambda: win.identity_label.text() == "postgres · admin", timeout=10_000)
    finally:
        close_window(win)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("overview", "dashboard"),
        ("Overview", "dashboard"),
        ("dashboard", "dashboard"),
        ("  RECONCILIATION ", "recon"),
        ("recon", "recon"),
        ("Jobs", "jobs"),
    ],
)
def test_view_option_takes_the_names_the_navigation_shows(name, key):
    assert _check_view(name) == key


def test_an_unknown_view_lists_the_names_shown():
    with pytest.raises(InputError) as refused:
        _check_view("ledger")
    assert "overview, payments, refunds, webhooks, reconciliation, activity, jobs" in str(
        refused.value.message
    )
