"""The one-sentence outcome line the Gateways dialogs show: green when it worked, red when it
did not, neutral while it runs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from desktop.shell import theme
from desktop.shell.named import named


class ResultLine(QFrame):
    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        self.label = named(QLabel(""), f"{name}Text")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self.hide()

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

    def show_result(self, ok: bool | None, text: str) -> None:
        status = {True: "success", False: "failed", None: "running"}[ok]
        fg, bg = theme.status_colours(status)
        name = self.objectName()
        self.setStyleSheet(
            f"QFrame#{name} {{ background: {bg.name()}; border-radius: 6px; }}"
            f" QFrame#{name} QLabel {{ color: {fg.name()}; }}"
        )
        self.label.setText(text)
        self.setAccessibleDescription(text)
        self.show()

    def clear(self) -> None:
        self.label.setText("")
        self.hide()
