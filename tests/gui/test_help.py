"""The Help menu: Keyboard shortcuts lists every key the app binds (walked from the views
themselves, so a new shortcut without a line in the table fails here), Documentation opens
the bundled docs, and About names the version, the database (password masked), the mode and
the bundled libraries' licences."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QAbstractButton

import core
from desktop.shell import help_dialogs, shortcuts, views
from desktop.shell.main_window import MainWindow
from tests.gui.test_shell_keyboard import close_window, demo_like_database, opened_window

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("PAYDESK_ACTOR", "bob")
    win = opened_window(qtbot, demo_like_database(tmp_path / "desk.sqlite3"))
    yield win
    close_window(win)


def bound_keys(window: MainWindow) -> set[str]:
    """Every key sequence an action or button of the window (every view built) answers to."""
    for spec in views.VIEWS:
        window.open_view(spec.key)
    found: set[QKeySequence] = set()
    for action in window.findChildren(QAction):
        found.update(k for k in action.shortcuts() if not k.isEmpty())
    for button in window.findChildren(QAbstractButton):
        if not button.shortcut().isEmpty():
            found.add(button.shortcut())
    return {shortcuts.native(k) for k in found} - {"Ctrl+Shift+Backtab"}


def test_keyboard_shortcuts_lists_every_key_the_app_binds(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    dialog = window.menus.shortcuts_dialog
    assert isinstance(dialog, help_dialogs.ShortcutsDialog) and dialog.isVisible()
    listed = set()
    for keys in dialog.keys_listed():
        listed.update(keys.split(" / "))
    missing = bound_keys(window) - listed
    assert not missing, f"bound but not in desktop.shell.shortcuts.table(): {missing}"
    for wanted in ("Ctrl+1", "Ctrl+7", "Ctrl+Tab", "Ctrl+F", "F5", "Ctrl+Return"):
        assert wanted in listed
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_documentation_opens_the_docs_folder(window, monkeypatch):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    window.menus.documentation_action.trigger()
    assert [u.toLocalFile() for u in opened] == [str(core.paths.bundle_root() / "docs")]


def test_documentation_says_so_when_this_copy_has_none(window, monkeypatch, tmp_path):
    monkeypatch.setattr(core.paths, "bundle_root", lambda: tmp_path / "bare")
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    window.menus.documentation_action.trigger()
    assert opened == []
    assert "No documentation" in window.statusBar().currentMessage()


def test_about_names_version_database_mode_and_licences(window):
    window.menus.about_action.trigger()
    about = window.menus.about_dialog
    assert isinstance(about, help_dialogs.AboutDialog) and about.isVisible()
    said = about.database_label.text()
    assert "Mode: Standalone" in said and "desk.sqlite3" in said
    assert about.findChild(type(about.database_label), "EmptyTitle").text() == (
        f"Paydesk {core.__version__}"
    )
    assert about.licences() == {
        "PySide6 / Qt": "LGPL-3.0-only",
        "SQLAlchemy": "MIT",
        "Alembic": "MIT",
        "psycopg": "LGPL-3.0-only",
        "httpx": "BSD-3-Clause",
        "APScheduler": "MIT",
        "keyring": "MIT",
        "platformdirs": "MIT",
    }


def test_about_masks_a_shared_database_password(qtbot):
    facts = help_dialogs.DatabaseFacts("postgresql://bob:***@db.example/paydesk", "Shared")
    about = help_dialogs.AboutDialog(facts)
    qtbot.addWidget(about)
    assert "bob:***@db.example" in about.database_label.text()
    assert "Mode: Shared" in about.database_label.text()


def test_a_library_without_metadata_keeps_its_licence():
    lib = help_dialogs.Library("Nothing", ("no-such-distribution",), "MIT")
    assert help_dialogs.library_version_and_licence(lib) == ("—", "MIT")
