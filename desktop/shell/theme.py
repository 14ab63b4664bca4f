"""Light and dark: colours, the palette, the one style sheet and the icons.

The scheme follows the system (``QStyleHints.colorScheme``, or the platform palette's
lightness where the platform does not say) and is re-read when the application palette
changes. View → Theme (System/Light/Dark) chooses for the person and is remembered in the
settings file (``theme = "dark"``); ``PAYDESK_THEME=light|dark`` overrides the remembered choice
when the app starts (screenshots of both), and the menu overrides both while it runs.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

from core import paths

LIGHT: dict[str, str] = {
    "window": "#f6f7f9",
    "base": "#ffffff",
    "alt_base": "#f9fafb",
    "raised": "#ffffff",
    "nav": "#eef1f5",
    "header": "#f3f5f7",
    "text": "#1f2328",
    "muted": "#636c76",
    "border": "#dde2e8",
    "border_faint": "#eceff3",
    "border_strong": "#cbd2da",
    "hover": "#e4e8ee",
    "pressed": "#d6dce4",
    "accent": "#2563eb",
    "accent_hover": "#1d4ed8",
    "accent_soft": "#dbe6fd",
    "accent_text": "#1e40af",
    "selection": "#dce8fe",
    "scroll": "#c4cbd4",
    "danger_soft": "#fff0ef",
    "danger_border": "#f5c2bf",
    "danger_text": "#a4161a",
}

DARK: dict[str, str] = {
    "window": "#1a1d22",
    "base": "#15171b",
    "alt_base": "#1b1e23",
    "raised": "#23272e",
    "nav": "#121418",
    "header": "#1f2228",
    "text": "#e6e8eb",
    "muted": "#969ea8",
    "border": "#2d3239",
    "border_faint": "#24282e",
    "border_strong": "#3a4048",
    "hover": "#2a2f37",
    "pressed": "#333942",
    "accent": "#3b82f6",
    "accent_hover": "#5b96f7",
    "accent_soft": "#1e3357",
    "accent_text": "#cfe0ff",
    "selection": "#203a64",
    "scroll": "#3d444d",
    "danger_soft": "#3a1d1f",
    "danger_border": "#6e2b2e",
    "danger_text": "#ffb3ae",
}

# Status -> (text, badge background) per scheme. Badges are pale tints in light mode and
# deep tints in dark mode so the text keeps its contrast in both.
_STATUS_LIGHT: dict[str, tuple[str, str]] = {
    "success": ("#116329", "#dcf5e3"),
    "ok": ("#116329", "#dcf5e3"),
    "processed": ("#116329", "#dcf5e3"),
    "pending": ("#8a5a00", "#fdf1c7"),
    "pending_approval": ("#8a5a00", "#fdf1c7"),
    "running": ("#1e4fc2", "#dbe6fd"),
    "approved": ("#1e4fc2", "#dbe6fd"),
    "processing": ("#1e4fc2", "#dbe6fd"),
    "failed": ("#b42318", "#fde4e1"),
    "error": ("#b42318", "#fde4e1"),
    "rejected": ("#6b4fbb", "#ece6fb"),
    "cancelled": ("#57606a", "#eaeef2"),
}
_STATUS_DARK: dict[str, tuple[str, str]] = {
    "success": ("#6fdd8b", "#173a24"),
    "ok": ("#6fdd8b", "#173a24"),
    "processed": ("#6fdd8b", "#173a24"),
    "pending": ("#f2c94c", "#3d3112"),
    "pending_approval": ("#f2c94c", "#3d3112"),
    "running": ("#9cc0ff", "#1e3357"),
    "approved": ("#9cc0ff", "#1e3357"),
    "processing": ("#9cc0ff", "#1e3357"),
    "failed": ("#ff8e86", "#471c1d"),
    "error": ("#ff8e86", "#471c1d"),
    "rejected": ("#c6b3ff", "#2f2650"),
    "cancelled": ("#a8b1bb", "#2a2f36"),
}

_state = {"dark": False, "applying": False}
CHOICES = ("system", "light", "dark")
# The person's choice for this run (View → Theme); None: not read yet (environment, settings).
_choice: dict[str, str | None] = {"value": None}


def saved_choice() -> str:
    """The choice the settings file remembers (``system`` when none or unreadable)."""
    from core import settings
    from core.errors import InputError

    try:
        value = settings.load().extra.get("theme")
    except InputError:
        return "system"
    return value if isinstance(value, str) and value in CHOICES else "system"


def remember_choice(value: str) -> bool:
    """Write the choice into the settings file, keeping every other setting (False: the file
    cannot be read and is left alone)."""
    from core import settings
    from core.errors import InputError

    try:
        current = settings.load()
    except InputError:
        return False
    current.extra["theme"] = value
    settings.save(current)
    return True


def choice() -> str:
    """``system``, ``light`` or ``dark``: the menu's choice this run, else ``PAYDESK_THEME``,
    else the remembered one."""
    if _choice["value"] is None:
        forced = os.environ.get("PAYDESK_THEME", "").lower()
        _choice["value"] = forced if forced in ("dark", "light") else saved_choice()
    return _choice["value"] or "system"


def choose(app: QApplication, value: str) -> bool:
    """Switch to ``value`` now (every open window, badge and banner follows) and remember it.
    Returns whether the scheme changed."""
    if value not in CHOICES:
        raise ValueError(f"{value!r} is not one of {', '.join(CHOICES)}")
    _choice["value"] = value
    remember_choice(value)
    watcher = getattr(app, "_paydesk_theme", None)
    if isinstance(watcher, ThemeWatcher):
        return watcher.refresh_now()
    dark = system_prefers_dark(app, app.palette())
    if dark == _state["dark"]:
        return False
    apply(app, dark)
    return True


def is_dark() -> bool:
    return _state["dark"]


def colour(name: str) -> QColor:
    return QColor((DARK if _state["dark"] else LIGHT)[name])


def status_colours(status: str) -> tuple[QColor, QColor]:
    """Text and badge colours for a status in the current scheme."""
    table = _STATUS_DARK if _state["dark"] else _STATUS_LIGHT
    fg, bg = table.get(status, table["cancelled"])
    return QColor(fg), QColor(bg)


def system_prefers_dark(app: QGuiApplication, system_palette: QPalette) -> bool:
    forced = choice()
    if forced in ("dark", "light"):
        return forced == "dark"
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return system_palette.color(QPalette.ColorRole.Window).lightness() < 128


def build_palette(tokens: dict[str, str]) -> QPalette:
    pal = QPalette()
    role = QPalette.ColorRole
    text = QColor(tokens["text"])
    for r, name in (
        (role.Window, "window"),
        (role.Base, "base"),
        (role.AlternateBase, "alt_base"),
        (role.Button, "raised"),
        (role.ToolTipBase, "raised"),
        (role.Highlight, "accent"),
        (role.Link, "accent"),
        (role.PlaceholderText, "muted"),
        (role.Mid, "border"),
        (role.Midlight, "border_faint"),
        (role.Dark, "border_strong"),
    ):
        pal.setColor(r, QColor(tokens[name]))
    for r in (role.WindowText, role.Text, role.ButtonText, role.ToolTipText, role.BrightText):
        pal.setColor(r, text)
    pal.setColor(role.HighlightedText, QColor("#ffffff"))
    muted = QColor(tokens["muted"])
    for r in (role.WindowText, role.Text, role.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, muted)
    return pal


@lru_cache(maxsize=1)
def _style_template() -> str:
    return (paths.resources_dir() / "style.qss").read_text(encoding="utf-8")


def arrow_down_path(dark: bool) -> Path:
    """The drop-down arrow of combos and choice buttons, drawn in the scheme's muted colour
    (a file, as a style sheet's ``image:`` needs one; its colour is ``muted``'s)."""
    return paths.resources_dir() / "icons" / f"arrow-down-{'dark' if dark else 'light'}.svg"


@lru_cache(maxsize=2)
def arrow_down_icon(dark: bool) -> QIcon:
    return QIcon(str(arrow_down_path(dark)))


def style_sheet(dark: bool) -> str:
    tokens = {**(DARK if dark else LIGHT), "arrow_down": arrow_down_path(dark).as_posix()}
    # Longest names first is not needed: \b stops "@border" matching inside "@border_strong".
    return re.sub(r"@([a-z_]+)\b", lambda m: tokens.get(m.group(1), m.group(0)), _style_template())


def apply(app: QApplication, dark: bool) -> None:
    """Put the scheme's palette and style sheet on the application."""
    _state["dark"] = dark
    _state["applying"] = True
    try:
        app.setPalette(build_palette(DARK if dark else LIGHT))
        app.setStyleSheet(style_sheet(dark))
    finally:
        _state["applying"] = False
    icon.cache_clear()


@lru_cache(maxsize=128)
def icon(name: str, tint: str | None = None) -> QIcon:
    """An icon from resources/icons, drawn in ``tint`` (a colour token or #hex; default: muted)."""
    colour_hex = (tint if tint and tint.startswith("#") else None) or (
        (DARK if _state["dark"] else LIGHT)[tint or "muted"]
    )
    return _render_icon(paths.resources_dir() / "icons" / f"{name}.svg", colour_hex)


def app_icon() -> QIcon:
    return _render_icon(paths.resources_dir() / "paydesk.svg", None)


def _render_icon(path: os.PathLike[str], colour_hex: str | None) -> QIcon:
    from PySide6.QtSvg import QSvgRenderer  # only when an icon is first drawn

    data = open(path, encoding="utf-8").read()  # noqa: SIM115 - tiny file
    if colour_hex:
        data = data.replace("currentColor", colour_hex)
    renderer = QSvgRenderer(QByteArray(data.encode("utf-8")))
    result = QIcon()
    for size in (16, 20, 24, 32, 48, 64, 128):
        pix = QPixmap(QSize(size, size))
        pix.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pix)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        result.addPixmap(pix)
    return result


class ThemeWatcher(QObject):
    """Re-reads the system scheme when it changes and re-applies palette and style sheet."""

    changed = Signal(bool)

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._app = app
        self._system_palette = QPalette(app.palette())
        apply(app, system_prefers_dark(app, self._system_palette))
        app.styleHints().colorSchemeChanged.connect(self._refresh)
        # Where the platform reports no scheme, a new system palette is the sign. A signal,
        # not an application-wide event filter: that would call into Python for every event
        # of every widget, and each call takes the GIL from the threads reading the database.
        app.paletteChanged.connect(self._palette_changed)

    def _palette_changed(self, palette: QPalette) -> None:
        if not _state["applying"]:
            self._system_palette = QPalette(palette)
            self._refresh()

    def _refresh(self, *_: object) -> None:
        self.refresh_now()

    def refresh_now(self) -> bool:
        """Apply the scheme the choice and the system call for; True when it changed."""
        dark = system_prefers_dark(self._app, self._system_palette)
        if dark == _state["dark"]:
            return False
        apply(self._app, dark)
        self.changed.emit(dark)
        return True
