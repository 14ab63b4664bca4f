"""The main window's menu bar and its window-wide keys (docs/keyboard.md).

Database (Connection…, Gateways…, Quit), Edit (Find), View (every view with Ctrl+1 …
Ctrl+N, next and previous view, Refresh, Theme: System/Light/Dark, Rupee grouping), Actions (the keyed buttons of the view on screen,
such as Approve and Reject) and Help (Keyboard shortcuts, Documentation, About).

Find and Refresh act on the view on screen. Most views bind those keys themselves; two
bindings of one key in one window would cancel each other out (Qt calls that ambiguous and
runs neither), so the menu items show their keys without binding them, and the window binds
a key only while the view on screen does not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractButton, QMainWindow, QMenu, QWidget

from desktop.shell import help_dialogs, shortcuts, theme, views


class MenuHost(Protocol):
    """What the menus ask of the window."""

    services: views.AppServices | None

    def open_view(self, key: str) -> QWidget | None: ...

    def current_view(self) -> QWidget | None: ...

    def current_key(self) -> str | None: ...

    def open_connection_dialog(self) -> QWidget: ...

    def about_database(self) -> help_dialogs.DatabaseFacts | None: ...


def binds(view: QWidget, keys: QKeySequence) -> bool:
    """Whether ``view`` (or a widget in it) has a shortcut of its own on ``keys``."""
    for action in (*view.actions(), *view.findChildren(QAction)):
        if keys in action.shortcuts():
            return True
    return any(button.shortcut() == keys for button in view.findChildren(QAbstractButton))


def keyed_buttons(view: QWidget | None) -> list[QAbstractButton]:
    """The buttons of ``view`` that carry a shortcut, other than Find and Refresh (which the
    Edit and View menus hold)."""
    if view is None:
        return []
    return [
        button
        for button in view.findChildren(QAbstractButton)
        if not button.shortcut().isEmpty()
        and button.shortcut() not in (shortcuts.find(), shortcuts.refresh())
        and not button.isHidden()
    ]


class ShellMenus(QObject):
    def __init__(self, window: QMainWindow, host: MenuHost) -> None:
        super().__init__(window)
        self.window = window
        self.host = host
        self.shortcuts_dialog: QWidget | None = None
        self.about_dialog: QWidget | None = None
        self.gateways_dialog: QWidget | None = None
        bar = window.menuBar()

        database = bar.addMenu("&Database")
        self.connection_action = self._action(
            database, "Connection…", shortcuts.CONNECTION, lambda: host.open_connection_dialog()
        )
        self.gateways_action = self._action(
            database, "Gateways…", QKeySequence(), self.open_gateways
        )
        database.addSeparator()
        self.quit_action = self._action(database, "Quit", shortcuts.quit_keys(), window.close)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit = bar.addMenu("&Edit")
        self.find_action = self._shown_keys(edit, "Find", shortcuts.find(), self.find)
        self.find_action.setIcon(theme.icon("search"))

        view_menu = bar.addMenu("&View")
        group = QActionGroup(self)
        group.setExclusive(True)
        self.view_actions: dict[str, QAction] = {}
        for i, spec in enumerate(views.VIEWS):
            action = self._action(
                view_menu, spec.title, shortcuts.view_key(i), self._opener(spec.key)
            )
            action.setIcon(theme.icon(spec.icon))
            action.setCheckable(True)
            group.addAction(action)
            self.view_actions[spec.key] = action
        view_menu.addSeparator()
        self.next_action = self._action(
            view_menu, "Next view", shortcuts.NEXT_VIEW, lambda: self.cycle(1)
        )
        self.previous_action = self._action(
            view_menu, "Previous view", shortcuts.PREVIOUS_VIEW[0], lambda: self.cycle(-1)
        )
        self.previous_action.setShortcuts(list(shortcuts.PREVIOUS_VIEW))
        view_menu.addSeparator()
        self.refresh_action = self._shown_keys(
            view_menu, "Refresh", shortcuts.refresh(), self.refresh
        )
        self.refresh_action.setIcon(theme.icon("refresh"))
        view_menu.addSeparator()
        self.theme_menu = view_menu.addMenu("Theme")
        themes = QActionGroup(self)
        themes.setExclusive(True)
        self.theme_actions: dict[str, QAction] = {}
        for key, title in (("system", "System"), ("light", "Light"), ("dark", "Dark")):
            action = QAction(title, self.theme_menu)
            action.setCheckable(True)
            action.setToolTip(
                f"Paydesk in the {title.lower()} colours"
                if key != "system"
                else "Paydesk follows the system's colours"
            )
            action.triggered.connect(lambda _checked=False, k=key: self.choose_theme(k))
            themes.addAction(action)
            self.theme_menu.addAction(action)
            self.theme_actions[key] = action
        self.theme_menu.aboutToShow.connect(self._mark_theme)
        self._mark_theme()
        self.grouping_menu = view_menu.addMenu("Rupee grouping")
        groupings = QActionGroup(self)
        groupings.setExclusive(True)
        self.grouping_actions: dict[str, QAction] = {}
        for key, title in (
            ("locale", "As the locale writes them"),
            ("indian", "Indian: ₹1,00,000.00, lakh and crore"),
            ("western", "Western: ₹100,000.00, K and M"),
        ):
            action = QAction(title, self.grouping_menu)
            action.setCheckable(True)
            action.triggered.connect(lambda _checked=False, k=key: self.choose_grouping(k))
            groupings.addAction(action)
            self.grouping_menu.addAction(action)
            self.grouping_actions[key] = action
        self.grouping_menu.aboutToShow.connect(self._mark_grouping)
        self._mark_grouping()

        self.actions_menu = bar.addMenu("&Actions")
        self.actions_menu.setToolTipsVisible(True)
        self.actions_menu.aboutToShow.connect(self._fill_actions)

        help_menu = bar.addMenu("&Help")
        self.keyboard_action = self._action(
            help_menu, "Keyboard shortcuts", shortcuts.KEYBOARD_HELP, self.show_shortcuts
        )
        self.documentation_action = self._action(
            help_menu, "Documentation", shortcuts.documentation(), self.open_documentation
        )
        help_menu.addSeparator()
        self.about_action = self._action(help_menu, "About Paydesk", QKeySequence(), self.about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

        # The window's own Find and Refresh, armed only while the view on screen has none.
        self.own_find = QShortcut(shortcuts.find(), window, self.find)
        self.own_refresh = QShortcut(shortcuts.refresh(), window, self.refresh)
        self.update_for(None)

    # -- theme -------------------------------------------------------------------------------
    def _mark_theme(self) -> None:
        self.theme_actions[theme.choice()].setChecked(True)

    def choose_theme(self, key: str) -> None:
        """System, Light or Dark now, for every window, and remembered for the next start."""
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.choose(app, key)
        self._mark_theme()

    def _mark_grouping(self) -> None:
        from desktop.shell import grouping

        self.grouping_actions[grouping.saved_choice()].setChecked(True)

    def choose_grouping(self, key: str) -> None:
        """Rupees grouped the Indian or the Western way in every table, tile and chart axis:
        every open view reads its figures again, and the choice is remembered."""
        from desktop.shell import grouping

        grouping.choose(key)
        self._mark_grouping()
        built = getattr(self.host, "view", None)
        for view_key in views.view_keys():
            widget = built(view_key) if built is not None else None
            again = views.refresh_of(widget) if widget is not None else None
            if again is not None:
                again()

    # -- building ----------------------------------------------------------------------------
    def _action(
        self, menu: QMenu, text: str, keys: QKeySequence, slot: Callable[[], object]
    ) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(keys)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        # Also on the window, so the key works while the menu bar is hidden or native.
        self.window.addAction(action)
        return action

    def _shown_keys(
        self, menu: QMenu, text: str, keys: QKeySequence, slot: Callable[[], object]
    ) -> QAction:
        """A menu item that shows ``keys`` but leaves the key itself to the view on screen
        (or to the window's own shortcut when the view has none)."""
        action = QAction(text, menu)
        action.setShortcut(keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _opener(self, key: str) -> Callable[[], object]:
        return lambda: self.host.open_view(key)

    # -- following the window ----------------------------------------------------------------
    def update_for(self, view: QWidget | None) -> None:
        """Bring the menus up to date with ``view``, the view on screen (None: no database
        is open)."""
        key = self.host.current_key() if view is not None else None
        for view_key, action in self.view_actions.items():
            action.setEnabled(view is not None)
            action.setChecked(view_key == key)
        self.next_action.setEnabled(view is not None)
        self.gateways_action.setEnabled(view is not None)
        self.previous_action.setEnabled(view is not None)
        search = views.search_of(view)
        again = views.refresh_of(view)
        self.find_action.setEnabled(search is not None)
        self.refresh_action.setEnabled(again is not None)
        self.own_find.setEnabled(
            search is not None and view is not None and not binds(view, shortcuts.find())
        )
        self.own_refresh.setEnabled(
            again is not None and view is not None and not binds(view, shortcuts.refresh())
        )
        self.actions_menu.menuAction().setEnabled(bool(keyed_buttons(view)))

    def _fill_actions(self) -> None:
        menu = self.actions_menu
        menu.clear()
        for button in keyed_buttons(self.host.current_view()):
            action = menu.addAction(button.icon(), button.text())
            action.setShortcut(button.shortcut())
            # The button keeps the key; the item shows it and says why it is off.
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.setEnabled(button.isEnabled())
            action.setToolTip(button.toolTip())
            action.setStatusTip(button.toolTip())
            action.triggered.connect(button.click)
        if menu.isEmpty():
            menu.addAction("Nothing to do here in this view").setEnabled(False)

    # -- what the items do -------------------------------------------------------------------
    def cycle(self, step: int) -> None:
        keys = views.view_keys()
        current = self.host.current_key()
        if current is None or self.host.current_view() is None:
            return
        self.host.open_view(keys[(keys.index(current) + step) % len(keys)])

    def find(self) -> None:
        search = views.search_of(self.host.current_view())
        if search is not None:
            search.setFocus(Qt.FocusReason.ShortcutFocusReason)
            search.selectAll()

    def refresh(self) -> None:
        again = views.refresh_of(self.host.current_view())
        if again is not None:
            again()

    def open_gateways(self) -> None:
        """The Gateways dialog for the open database (nothing while none is open)."""
        from desktop.gateways.dialog import GatewaysDialog

        services = self.host.services
        if services is None:
            return
        if self.gateways_dialog is not None:
            self.gateways_dialog.deleteLater()
        self.gateways_dialog = GatewaysDialog(services, self.window)
        self.gateways_dialog.show()

    def show_shortcuts(self) -> None:
        if self.shortcuts_dialog is None:
            self.shortcuts_dialog = help_dialogs.ShortcutsDialog(self.window)
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()

    def open_documentation(self) -> None:
        if not help_dialogs.open_documentation():
            self.window.statusBar().showMessage(
                "No documentation was found beside this copy of Paydesk.", 8000
            )

    def about(self) -> None:
        if self.about_dialog is not None:
            self.about_dialog.deleteLater()
        self.about_dialog = help_dialogs.AboutDialog(self.host.about_database(), self.window)
        self.about_dialog.show()
