"""The main window comes back where it was left: size, position, maximised or not, the view
it showed and each list view's splitter and column widths (``desktop.lists.layout_memory``),
per database kind (``core.settings.window_state``).

A remembered place that no screen shows any more (a monitor unplugged) is dropped for the
window centred on the primary screen; a size larger than the screen is shrunk to fit.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow

from core import settings
from desktop.shell import views


class PlacedWindow(Protocol):
    """What is remembered of the window besides its geometry."""

    def current_key(self) -> str | None: ...

    def set_pending_view(self, key: str) -> None: ...

    def view_layouts(self) -> dict[str, settings.ViewLayout]: ...


def capture(window: QMainWindow, view: str | None) -> settings.WindowState:
    """The window's state now (its normal geometry when maximised)."""
    maximized = window.isMaximized()
    rect = window.normalGeometry() if maximized else window.geometry()
    return settings.WindowState(
        width=rect.width(),
        height=rect.height(),
        x=rect.x(),
        y=rect.y(),
        maximized=maximized,
        view=view or "",
    )


def fitted(state: settings.WindowState, minimum: tuple[int, int]) -> QRect | None:
    """Where the window goes for ``state``: on a screen that shows it, no larger than that
    screen and no smaller than ``minimum``; None when no size was remembered."""
    if state.width <= 0 or state.height <= 0:
        return None
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return None
    width, height = max(state.width, minimum[0]), max(state.height, minimum[1])
    if state.x is not None and state.y is not None:
        rect = QRect(state.x, state.y, width, height)
        for other in QGuiApplication.screens():
            area = other.availableGeometry()
            if area.intersects(rect):
                return _within(rect, area)
    area = screen.availableGeometry()
    rect = QRect(0, 0, width, height)
    rect.moveCenter(area.center())
    return _within(rect, area)


def _within(rect: QRect, area: QRect) -> QRect:
    width, height = min(rect.width(), area.width()), min(rect.height(), area.height())
    x = min(max(rect.x(), area.x()), area.right() - width + 1)
    y = min(max(rect.y(), area.y()), area.bottom() - height + 1)
    return QRect(x, y, width, height)


# The window state last read or written, per settings file and database kind: a view built
# later finds its layout here instead of reading the settings file on the UI thread again.
_known: dict[tuple[str, str], settings.WindowState] = {}


def _state(kind: str, *, fresh: bool = False) -> settings.WindowState:
    key = (str(settings.settings_path()), kind)
    if fresh or key not in _known:
        _known[key] = settings.window_state(kind)
    return _known[key]


def restore(window: QMainWindow, host: PlacedWindow, kind: str) -> settings.WindowState:
    """Put the window (before it is shown) as it was left for ``kind``."""
    state = _state(kind, fresh=True)
    minimum = window.minimumSizeHint()
    rect = fitted(state, (minimum.width(), minimum.height()))
    if rect is not None:
        window.setGeometry(rect)
    if state.maximized:
        window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)
    if views.find(state.view) is not None:
        host.set_pending_view(state.view)
    return state


def remember(window: QMainWindow, host: PlacedWindow, kind: str) -> bool:
    """Write down the window as it is now for ``kind``; the layouts of views not opened this
    time are kept as they were."""
    state = capture(window, host.current_key())
    state.layouts = {**_state(kind, fresh=True).layouts, **host.view_layouts()}
    saved = settings.remember_window(kind, state)
    if saved:
        _known[(str(settings.settings_path()), kind)] = state
    return saved


def saved_layout(url: str | None, view: str) -> settings.ViewLayout | None:
    """The layout remembered for ``view`` on the database kind of ``url``."""
    if not url:
        return None
    return _state(settings.database_kind(url)).layouts.get(view)
