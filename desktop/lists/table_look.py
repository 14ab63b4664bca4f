"""How every list table looks: the plain settings they share (whole rows selected,
read-only, no grid, scrolling by pixel, rows of one height that follows the font), the font
of their figures and the way they write a time."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView


def set_list_look(
    table: QTableView, model: QAbstractItemModel, selection: QAbstractItemView.SelectionMode
) -> None:
    """Show ``model`` in ``table`` with the list tables' settings."""
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(selection)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    # Tab leaves the table for the next control (the arrows move between rows), as it does
    # between the filter bar, the table and the detail pane.
    table.setTabKeyNavigation(False)
    vh = table.verticalHeader()
    vh.hide()
    vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vh.setDefaultSectionSize(max(26, table.fontMetrics().height() + 12))
    table.horizontalHeader().setHighlightSections(False)


def tabular_font(base: QFont | None = None) -> QFont:
    """Same face, figures of equal width so amounts line up by digit."""
    font = QFont(base) if base is not None else QFont()
    font.setFeature(QFont.Tag("tnum"), 1)
    return font


def local_time(dt: datetime) -> str:
    """A time as the lists show it: the local date and minute."""
    return dt.astimezone().strftime("%Y-%m-%d %H:%M")
