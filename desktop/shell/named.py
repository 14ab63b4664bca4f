"""``named(widget, "tileTitle")``: a widget with its object name set, in one expression.

The stylesheet (``desktop.shell.theme``) and the GUI tests find widgets by object name. PySide6
accepts ``objectName=`` as a constructor keyword, but its type stubs do not declare it, so the
name is set here instead of at each constructor."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QObject

W = TypeVar("W", bound=QObject)


def named(widget: W, name: str) -> W:
    widget.setObjectName(name)
    return widget
