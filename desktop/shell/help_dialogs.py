"""The Help menu's windows: Keyboard shortcuts (``shortcuts.table()``), About (version,
database, mode, the bundled libraries and their licences) and where the documentation is.

A frozen build carries what ``build_spec.spec`` bundles beside the program
(``core.paths.bundle_root()``); from a source tree that is the checkout, with docs/ and
README.md.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

import core
from core import paths
from desktop.shell import shortcuts
from desktop.shell.named import named


@dataclass(frozen=True)
class DatabaseFacts:
    """What About says of the open database."""

    masked_url: str  # the password replaced by ***
    mode: str  # "Standalone" or "Shared"


@dataclass(frozen=True)
class Library:
    """A library the app bundles: the distributions that may hold its metadata, and the
    licence it is used under when the metadata does not say (or offers a choice)."""

    title: str
    distributions: tuple[str, ...]
    licence: str


LIBRARIES = (
    Library("PySide6 / Qt", ("PySide6", "PySide6_Essentials", "shiboken6"), "LGPL-3.0-only"),
    Library("SQLAlchemy", ("SQLAlchemy",), "MIT"),
    Library("Alembic", ("alembic",), "MIT"),
    Library("psycopg", ("psycopg",), "LGPL-3.0-only"),
    Library("httpx", ("httpx",), "BSD-3-Clause"),
    Library("APScheduler", ("APScheduler",), "MIT"),
    Library("keyring", ("keyring",), "MIT"),
    Library("platformdirs", ("platformdirs",), "MIT"),
)


def _field(meta: importlib.metadata.PackageMetadata, name: str) -> str:
    values = meta.get_all(name) or []
    return str(values[0]) if values else ""


def library_version_and_licence(library: Library) -> tuple[str, str]:
    """The installed version (or "—") and the licence: the metadata's single licence, else
    the one Paydesk uses it under (a frozen build may carry no metadata)."""
    for name in library.distributions:
        try:
            meta = importlib.metadata.metadata(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        said = (_field(meta, "License-Expression") or _field(meta, "License")).strip()
        if not said or " OR " in said or len(said) > 40:
            # A choice (Qt: LGPL or GPL) or a whole licence text: name the one used.
            said = library.licence
        return _field(meta, "Version") or "—", said
    return "—", library.licence


def documentation_path() -> Path | None:
    """The docs folder bundled with this copy, else its README, else None."""
    root = paths.bundle_root()
    for candidate in (root / "docs", root / "README.md"):
        if candidate.exists():
            return candidate
    return None


def open_documentation() -> bool:
    """Open the documentation with the desktop's file browser or viewer; False when this copy
    has none."""
    where = documentation_path()
    if where is None:
        return False
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(where)))


def _table(parent: QWidget, headers: list[str], rows: list[list[str]], name: str) -> QTableWidget:
    table = named(QTableWidget(len(rows), len(headers), parent), name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setTabKeyNavigation(False)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _text(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    return item.text() if item is not None else ""


def _close_buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    close = buttons.button(QDialogButtonBox.StandardButton.Close)
    close.setAccessibleName("Close")
    return buttons


class ShortcutsDialog(QDialog):
    """Every shortcut of the app, and the keys the widgets themselves answer to."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(620, 520)
        lay = QVBoxLayout(self)
        rows = [[s.text(), s.what, s.where] for s in shortcuts.table()]
        rows += [list(keys) for keys in shortcuts.WIDGET_KEYS]
        self.table = _table(self, ["Keys", "What it does", "Where"], rows, "ShortcutsTable")
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setAccessibleDescription("Each row: the keys, what they do, where they work.")
        lay.addWidget(self.table, 1)
        lay.addWidget(_close_buttons(self))

    def keys_listed(self) -> list[str]:
        return [_text(self.table, r, 0) for r in range(self.table.rowCount())]


class AboutDialog(QDialog):
    """Version, the open database (masked) and mode, and the bundled libraries' licences."""

    def __init__(self, database: DatabaseFacts | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Paydesk")
        self.resize(560, 460)
        lay = QVBoxLayout(self)
        title = named(QLabel(f"Paydesk {core.__version__}"), "EmptyTitle")
        lay.addWidget(title)
        if database is None:
            where = "No database is open."
        else:
            where = f"Database: {database.masked_url}\nMode: {database.mode}"
        self.database_label = QLabel(where, self)
        self.database_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.database_label.setWordWrap(True)
        lay.addWidget(self.database_label)
        lay.addWidget(named(QLabel("Bundled libraries and their licences"), "Muted"))
        rows = [[lib.title, *library_version_and_licence(lib)] for lib in LIBRARIES]
        self.libraries = _table(self, ["Library", "Version", "Licence"], rows, "LicenceTable")
        self.libraries.setAccessibleName("Bundled libraries")
        self.libraries.setAccessibleDescription("Each row: a library, its version, its licence.")
        lay.addWidget(self.libraries, 1)
        lay.addWidget(_close_buttons(self))

    def licences(self) -> dict[str, str]:
        table = self.libraries
        return {_text(table, r, 0): _text(table, r, 2) for r in range(table.rowCount())}
