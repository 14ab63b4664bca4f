"""View → Theme (System/Light/Dark) switches the running app as a person would expect: the
palette, the status badges already on screen and the reconnect banner follow at once, the
menu marks the choice, and the next start comes up in it (the settings file remembers it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from core import settings
from desktop.lists.status_badge import StatusLabel
from desktop.shell import theme
from tests.gui.test_shell_keyboard import close_window, demo_like_database, opened_window

pytestmark = pytest.mark.gui


@pytest.fixture
def watched(qtbot, monkeypatch) -> Iterator[theme.ThemeWatcher]:
    """The app's theme watcher, as ``make_application`` installs it; afterwards the
    application is left as the other tests find it (no style sheet, its own palette)."""
    monkeypatch.delenv("PAYDESK_THEME", raising=False)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette, sheet = QPalette(app.palette()), app.styleSheet()
    theme._choice["value"] = None
    watcher = theme.ThemeWatcher(app)
    app._paydesk_theme = watcher  # type: ignore[attr-defined]
    yield watcher
    del app._paydesk_theme  # type: ignore[attr-defined]
    watcher.deleteLater()
    theme._choice["value"] = None
    theme._state["dark"] = False
    app.setStyleSheet(sheet)
    app.setPalette(palette)
    theme.icon.cache_clear()


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, watched):
    monkeypatch.setenv("PAYDESK_ACTOR", "bob")
    win = opened_window(qtbot, demo_like_database(tmp_path / "desk.sqlite3"))
    yield win
    close_window(win)


def _window_colour() -> str:
    return QApplication.palette().color(QPalette.ColorRole.Window).name()


def test_choosing_dark_and_back_switches_everything_on_screen(qtbot, window):
    menus = window.menus
    assert menus.theme_actions["system"].isChecked()  # offscreen: the system is light
    badge = StatusLabel(window)
    badge.set_status("pending_approval", "Awaiting approval")
    light_badge = badge.styleSheet()
    assert theme.LIGHT["window"] == _window_colour()
    menus.theme_menu.aboutToShow.emit()
    menus.theme_actions["dark"].trigger()
    assert theme.is_dark() and _window_colour() == theme.DARK["window"]
    assert menus.theme_actions["dark"].isChecked()
    # The badge already on screen and the reconnect banner take the dark colours.
    fg, bg = theme.status_colours("pending_approval")
    assert badge.styleSheet() != light_badge
    assert fg.name() in badge.styleSheet() and bg.name() in badge.styleSheet()
    assert theme.status_colours("pending")[1].name() in window.banner.styleSheet()
    assert settings.load().extra["theme"] == "dark"
    menus.theme_actions["light"].trigger()
    assert not theme.is_dark() and badge.styleSheet() == light_badge
    menus.theme_actions["system"].trigger()
    assert not theme.is_dark() and settings.load().extra["theme"] == "system"


def test_the_next_start_comes_up_in_the_remembered_theme(qtbot, watched):
    app = QApplication.instance()
    theme.choose(app, "dark")
    theme._choice["value"] = None  # a new run reads the settings file again
    theme.apply(app, False)
    assert not theme.is_dark()
    started = theme.ThemeWatcher(app)  # what make_application does on the next start
    try:
        assert theme.choice() == "dark" and theme.is_dark()
        assert _window_colour() == theme.DARK["window"]
    finally:
        started.deleteLater()


def test_paydesk_theme_overrides_what_is_remembered_when_the_app_starts(monkeypatch, watched):
    settings.save(settings.Settings(extra={"theme": "dark"}))
    monkeypatch.setenv("PAYDESK_THEME", "light")
    theme._choice["value"] = None
    assert theme.choice() == "light"
