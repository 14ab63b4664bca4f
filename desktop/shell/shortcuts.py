"""Every keyboard shortcut of the app, in one table (docs/keyboard.md).

The shell's menus take their keys from the constants here; the Help → Keyboard shortcuts
window lists ``table()``. Keys a view binds itself (the Refunds view's Approve and Reject) are
read from that view's module, so the list cannot drift from what the keys do. Keys the
platform decides (Find, Refresh, Quit) are standard keys and shown as this platform writes
them.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QKeySequence

from desktop.shell import views

NEXT_VIEW = QKeySequence("Ctrl+Tab")
# Qt reports Shift+Tab as Backtab; both spellings are bound so either keyboard reaches it.
PREVIOUS_VIEW = (QKeySequence("Ctrl+Shift+Tab"), QKeySequence("Ctrl+Shift+Backtab"))
CONNECTION = QKeySequence("Ctrl+Shift+D")
KEYBOARD_HELP = QKeySequence("Ctrl+/")


# The platform's standard keys are known once the application (its platform theme) is up.
def find() -> QKeySequence:
    return QKeySequence(QKeySequence.StandardKey.Find)


def refresh() -> QKeySequence:
    return QKeySequence(QKeySequence.StandardKey.Refresh)


def quit_keys() -> QKeySequence:
    # Platforms without a standard Quit key (a bare X session) get the common one.
    keys = QKeySequence(QKeySequence.StandardKey.Quit)
    return keys if not keys.isEmpty() else QKeySequence("Ctrl+Q")


def documentation() -> QKeySequence:
    return QKeySequence(QKeySequence.StandardKey.HelpContents)


EVERYWHERE = "Everywhere"
LISTS = "Views with a list"


@dataclass(frozen=True)
class Shortcut:
    """One line of the table: the keys, what they do, and where they work."""

    keys: tuple[QKeySequence, ...]
    what: str
    where: str = EVERYWHERE

    def text(self) -> str:
        """The keys as this platform writes them (``Ctrl+1``, ``⌘1``)."""
        return " / ".join(native(k) for k in self.keys if not k.isEmpty())


def native(keys: QKeySequence) -> str:
    return keys.toString(QKeySequence.SequenceFormat.NativeText)


def view_key(index: int) -> QKeySequence:
    """The key of the ``index``-th view in navigation order (Ctrl+1 … Ctrl+9)."""
    return QKeySequence(f"Ctrl+{index + 1}") if index < 9 else QKeySequence()


def navigation_tip(index: int, title: str) -> str:
    """The navigation item's tooltip: the view and its key."""
    keys = view_key(index)
    return f"{title} ({native(keys)})" if not keys.isEmpty() else title


def table() -> list[Shortcut]:
    """Every shortcut of the app, the window's first, then the views' own."""
    # The Refunds view's module is read when the table is wanted (the Help window), not at
    # start: views are imported when first opened.
    from desktop.refunds.view import APPROVE_KEYS, REJECT_KEYS
    from desktop.webhooks.view import RETRY_KEYS

    rows = [
        Shortcut((view_key(i),), f"Open {spec.title}")
        for i, spec in enumerate(views.VIEWS)
        if not view_key(i).isEmpty()
    ]
    rows += [
        Shortcut((NEXT_VIEW,), "Next view"),
        Shortcut(PREVIOUS_VIEW[:1], "Previous view"),
        Shortcut((find(),), "Find: go to the view's search field", LISTS),
        Shortcut((refresh(),), "Refresh: read the view's data again"),
        Shortcut((CONNECTION,), "Database connection…"),
        Shortcut((KEYBOARD_HELP,), "Keyboard shortcuts (this window)"),
        Shortcut((documentation(),), "Documentation"),
        Shortcut((quit_keys(),), "Quit Paydesk"),
        Shortcut((APPROVE_KEYS,), "Approve the selected refunds", "Refunds"),
        Shortcut((REJECT_KEYS,), "Reject the selected refunds…", "Refunds"),
        Shortcut((RETRY_KEYS,), "Retry the selected delivery", "Webhooks"),
    ]
    return [row for row in rows if row.text()]


# Keys handled by the widgets themselves rather than bound as shortcuts: listed in the same
# window so a person finds them in one place.
WIDGET_KEYS: tuple[tuple[str, str, str], ...] = (
    ("↑ / ↓", "Move between views (navigation focused) or rows (table focused)", EVERYWHERE),
    ("Tab / Shift+Tab", "Move to the next / previous control", EVERYWHERE),
    ("Enter / Space", "Open the list behind a tile", "Overview"),
    ("← / →", "Move between a chart's bars; Enter opens the bar's list", "Overview"),
    ("↑ / ↓, Alt+↓", "Change a filter's choice; Alt+↓ opens its list", LISTS),
    ("Escape", "Close a dialog", EVERYWHERE),
)
