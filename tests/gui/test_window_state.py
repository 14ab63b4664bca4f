"""Where the window was left comes back: size, position, maximised and the last view, per
database kind, in the settings file; a place no screen shows is re-centred; the window fits a
1000 px wide screen with every view built."""

from __future__ import annotations

from argparse import Namespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from core import settings
from desktop.shell import views, window_state
from desktop.shell.app import _first_run
from desktop.shell.main_window import NAV_WIDTH, MainWindow
from desktop.shell.runner import TaskRunner
from tests.gui.test_shell_keyboard import close_window, demo_like_database, opened_window

pytestmark = pytest.mark.gui


def test_each_database_kind_keeps_its_own_window():
    settings.save(settings.Settings(database_url="sqlite:///x.sqlite3"))
    laptop = settings.WindowState(1100, 720, 40, 30, False, "refunds")
    office = settings.WindowState(1400, 900, 0, 0, True, "payments")
    assert settings.remember_window("standalone", laptop)
    assert settings.remember_window("shared", office)
    assert settings.window_state("standalone") == laptop
    assert settings.window_state("shared") == office
    assert settings.load().database_url == "sqlite:///x.sqlite3"  # the rest is kept
    assert "[window.standalone]" in settings.settings_path().read_text()


def test_nothing_remembered_reads_as_defaults_and_a_broken_file_is_left_alone():
    assert settings.window_state("standalone") == settings.WindowState()
    settings.settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings.settings_path().write_text("not = [valid")
    assert settings.window_state("standalone") == settings.WindowState()
    assert not settings.remember_window("standalone", settings.WindowState(900, 700))
    assert settings.settings_path().read_text() == "not = [valid"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:////tmp/a.sqlite3", "standalone"),
        ("postgresql://bob@db/pay", "shared"),
        ("postgresql+psycopg://db/pay", "shared"),
    ],
)
def test_the_kind_is_read_from_the_url(url, kind):
    assert settings.database_kind(url) == kind


def test_closing_the_window_writes_down_its_place_and_view(qtbot, tmp_path):
    window = opened_window(qtbot, demo_like_database(tmp_path / "desk.sqlite3"), (1100, 720))
    window.remembers_place = True
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)  # Refunds
    rect = window.geometry()
    window.close()
    close_window(window)
    saved = settings.window_state("standalone")
    assert (saved.width, saved.height, saved.x, saved.y) == (
        rect.width(),
        rect.height(),
        rect.x(),
        rect.y(),
    )
    assert saved.view == "refunds" and not saved.maximized
    assert settings.window_state("shared") == settings.WindowState()


def test_a_window_comes_back_where_it_was_with_its_last_view(qtbot):
    # Within the offscreen platform's one 800 × 600 screen.
    settings.remember_window("standalone", settings.WindowState(700, 500, 30, 40, False, "refunds"))
    window = MainWindow(TaskRunner())
    qtbot.addWidget(window)
    window_state.restore(window, window, "standalone")
    assert window.current_key() == "refunds"
    assert window.geometry().getRect() == (30, 40, 700, 500)
    window.shutdown()


def test_a_place_no_screen_shows_is_centred_and_shrunk_to_fit():
    area = QGuiApplication.primaryScreen().availableGeometry()
    gone = settings.WindowState(area.width() + 500, 700, 20_000, 20_000)
    rect = window_state.fitted(gone, (800, 600))
    assert rect is not None and area.contains(rect)
    assert rect.width() == area.width()
    assert window_state.fitted(settings.WindowState(), (800, 600)) is None


def test_a_maximised_window_comes_back_maximised(qtbot):
    settings.remember_window("shared", settings.WindowState(1000, 700, 0, 0, True, "jobs"))
    window = MainWindow(TaskRunner())
    qtbot.addWidget(window)
    window_state.restore(window, window, "shared")
    assert window.windowState() & Qt.WindowState.WindowMaximized
    assert window.current_key() == "jobs"
    window.shutdown()


def test_a_settings_file_holding_only_the_window_is_still_a_first_run():
    settings.remember_window("standalone", settings.WindowState(1000, 700))
    assert _first_run(Namespace(database=None, demo=False))


def test_the_window_fits_a_1000_px_screen_with_every_view_built(qtbot, tmp_path):
    window = opened_window(qtbot, demo_like_database(tmp_path / "desk.sqlite3"), (1024, 700))
    try:
        qtbot.waitUntil(lambda: window.identity_label.text() != "", timeout=10_000)
        too_wide = {}
        for spec in views.VIEWS:
            view = window.open_view(spec.key)
            qtbot.wait(20)
            width = window.minimumSizeHint().width()
            # The shell adds the navigation and nothing that holds the window wider.
            assert width <= max(1000, view.minimumSizeHint().width() + NAV_WIDTH + 4), spec.key
            if width > 1000:
                too_wide[spec.key] = width
        assert not too_wide
        window.open_view("dashboard")
        qtbot.wait(20)
        assert window.minimumSizeHint().width() <= 1000  # wide views shown before do not count
    finally:
        close_window(window)
