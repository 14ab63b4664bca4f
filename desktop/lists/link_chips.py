"""Removable chips for what a link narrowed a list view to that its filter bar has no widget
for ("Failing now", "Currency: INR", "Processed on 15 Jan 2026"). A click on a chip's ✕
removes it and tells the view which narrowing to drop."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

from desktop.lists.time_range import range_text
from desktop.shell import theme
from desktop.shell.named import named


def span_text(start: datetime | None, end: datetime | None) -> str:
    """A half-open time range in the person's time zone: ``on 15 Jan 2026`` for one whole
    local day, else ``15 Jan 2026, 14:00–15:00`` and the like."""
    if start is not None and end is not None:
        a, b = start.astimezone(), end.astimezone()
        whole = a.time() == time(0) and b.time() == time(0)
        if whole and b.date() == a.date() + timedelta(days=1):
            return f"on {a:%d %b %Y}"
    return range_text(start, end)


class LinkChips(QWidget):
    """A row of chips keyed by the narrowing they stand for; hidden while it has none.
    ``removed(key)`` fires when the person removes one."""

    removed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(6)
        self._chips: dict[str, QToolButton] = {}
        self.hide()

    def chip(self, key: str) -> QToolButton | None:
        """The chip of ``key`` while it is shown."""
        chip = self._chips.get(key)
        return chip if chip is not None and not chip.isHidden() else None

    def keys(self) -> list[str]:
        """The narrowings shown, left to right."""
        return [k for k, c in self._chips.items() if not c.isHidden()]

    def set_chip(self, key: str, text: str | None, tip: str = "") -> None:
        """Show ``text`` as the chip of ``key``; None hides it."""
        chip = self._chips.get(key)
        if chip is None:
            if text is None:
                return
            chip = named(QToolButton(self), "Chip")
            chip.setIcon(theme.icon("clear"))
            chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            chip.setLayoutDirection(Qt.LayoutDirection.RightToLeft)  # the ✕ after the words
            chip.clicked.connect(lambda _checked=False, k=key: self._remove(k))
            self._row.addWidget(chip)
            self._chips[key] = chip
        chip.setText(text or "")
        chip.setToolTip(tip)
        chip.setVisible(text is not None)
        self.setVisible(bool(self.keys()))

    def clear(self) -> None:
        """Hide every chip (the view dropped its link)."""
        for key in list(self._chips):
            self.set_chip(key, None)

    def _remove(self, key: str) -> None:
        self.set_chip(key, None)
        self.removed.emit(key)
