"""The Gateways dialog (Database menu): every gateway connection with what ``show`` prints
(URL, key masked, where this copy finds the secret, capabilities, last sync time and outcome,
counts, last error), and Add…, Sync now and Remove.

Adding, syncing and removing are for admin staff: for anyone else the buttons are off and a
line says why. The role is read off the UI thread (``core.access.acting``); every read and
action runs in the pool through ``core.gateway``, and a failure is one sentence in the dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.access import roles
from core.errors import sentence
from core.gateway import connections, secrets
from core.gateway.connections import ConnectionInfo
from core.gateway.sync import SyncResult, sync_now
from desktop.gateways.add_dialog import AddGatewayDialog, offers_text
from desktop.gateways.result_line import ResultLine
from desktop.lists.detail_pane import field_grid, fill_fields
from desktop.shell import theme
from desktop.shell.acting_dialog import ActingDialog
from desktop.shell.named import named
from desktop.shell.views import AppServices

RUN_KEY = "gateways"
SECRET_WHERE = {
    "keyring": "in the system keyring",
    "memory": "in memory until Paydesk quits",
    "environment": "from the environment",
    "missing": "not on this computer: another copy syncs it",
}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "never"


def detail_fields(c: ConnectionInfo) -> list[tuple[str, str]]:
    """What the dialog shows of one connection, in the order ``gateways show`` prints it."""
    secret = SECRET_WHERE.get(c.secret, c.secret)
    if c.secret == "missing":
        secret += f" (or set {secrets.env_var(c.name)})"
    return [
        ("URL", c.url),
        ("API key", c.api_key_masked),
        ("API secret", secret),
        ("Added", f"{_when(c.added_at)} by {c.added_by}"),
        ("Last sync", _when(c.last_sync_at)),
        ("Outcome", c.last_sync_outcome or "not synced yet"),
        ("Last sync found", f"{c.last_added} added, {c.last_updated} updated"),
        ("Counts", f"{c.payments} payments, {c.refunds} refunds, {c.logs} webhook logs"),
        ("Last error", c.last_error or "none"),
        ("Offers", offers_text(c.capabilities)),
    ]


class GatewaysDialog(ActingDialog):
    # ok, the sentence shown (for tests and screen readers)
    finishedWork = Signal(bool, str)
    loaded = Signal()

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(services.ctx, services.runner, services.ctx.default_actor(), parent)
        self.rows: list[ConnectionInfo] = []
        self.is_admin = False
        self.is_loaded = False
        self._busy = False
        self.add_dialog: AddGatewayDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.setWindowTitle("Gateways")
        self.resize(860, 560)
        self._build()
        self._update()
        self.refresh()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(12)
        heading = QLabel("Gateway connections")
        heading.setStyleSheet("font-size: 13pt; font-weight: 700;")
        lay.addWidget(heading)
        intro = named(
            QLabel(
                "Paydesk keeps a copy of each merchant gateway account's payments, refunds and "
                "webhook logs, synced every 30 seconds by the copies that hold its secret."
            ),
            "Muted",
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.role_line = named(QLabel(""), "GatewayRoleLine")
        self.role_line.setWordWrap(True)
        fg, _bg = theme.status_colours("pending")
        self.role_line.setStyleSheet(f"color: {fg.name()};")
        self.role_line.hide()
        lay.addWidget(self.role_line)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        self.list = named(QListWidget(), "GatewayList")
        self.list.setAccessibleName("Gateway connections")
        self.list.setMinimumWidth(200)
        self.list.currentRowChanged.connect(self._show_current)
        split.addWidget(self.list)
        pane = QWidget()
        pane_lay = QVBoxLayout(pane)
        pane_lay.setContentsMargins(12, 0, 0, 0)
        self.title = named(QLabel(""), "GatewayTitle")
        self.title.setStyleSheet("font-size: 12pt; font-weight: 600;")
        pane_lay.addWidget(self.title)
        self.grid = field_grid()
        pane_lay.addLayout(self.grid)
        pane_lay.addStretch(1)
        self.empty = named(
            QLabel("No gateway connection yet. An admin adds one with Add…."), "Muted"
        )
        self.empty.setWordWrap(True)
        pane_lay.addWidget(self.empty)
        split.addWidget(pane)
        split.setStretchFactor(1, 1)
        split.setSizes([240, 600])
        lay.addWidget(split, 1)
        self.values: dict[str, QLabel] = {}

        self.outcome = ResultLine("GatewaysResult", self)
        lay.addWidget(self.outcome)

        buttons = QHBoxLayout()
        self.add_button = self._button("Add…", "AddGateway", self.open_add)
        self.sync_button = self._button("Sync now", "SyncGateway", self.sync_selected)
        self.remove_button = self._button("Remove", "RemoveGateway", self.remove_selected)
        for b in (self.add_button, self.sync_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        close_button = close.button(QDialogButtonBox.StandardButton.Close)
        if close_button is not None:
            close_button.setAccessibleName("Close")
        buttons.addWidget(close)
        lay.addLayout(buttons)

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = named(QPushButton(text), name)
        button.setAccessibleName(text.rstrip("…"))
        button.clicked.connect(lambda _checked=False: slot())
        return button

    # -- reading -----------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """Read who is acting and every connection, off the UI thread."""
        ctx, actor = self.ctx, self.actor
        keep = select or self.selected_name()

        def work() -> tuple[roles.Identity, list[ConnectionInfo]]:
            from core.access.acting import acting

            return acting(ctx.db, actor), connections.list_connections(ctx, actor)

        self.runner.submit(work, lambda got: self._loaded(got, keep), self._failed, key=RUN_KEY)

    def _loaded(self, got: tuple[roles.Identity, list[ConnectionInfo]], keep: str | None) -> None:
        who, self.rows = got
        self.is_admin = "admin" in who.roles and not who.refusal
        if self.is_admin:
            self.role_line.hide()
        else:
            held = " and ".join(who.roles) or "not on the staff list"
            why = who.refusal or f"you act as {who.actor}, who is {held}"
            self.role_line.setText(
                f"Only admin staff can add, sync or remove gateway connections; {why}."
            )
            self.role_line.show()
        self.list.blockSignals(True)
        self.list.clear()
        for c in self.rows:
            item = QListWidgetItem(f"{c.name}\n{c.last_sync_outcome or 'not synced yet'}")
            item.setData(Qt.ItemDataRole.UserRole, c.name)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{c.name}, {c.url}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        names = [c.name for c in self.rows]
        row = names.index(keep) if keep in names else (0 if names else -1)
        self.list.setCurrentRow(row)
        self._show_current(row)
        self.is_loaded = True
        self._update()
        self.loaded.emit()

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def selected(self) -> ConnectionInfo | None:
        name = self.selected_name()
        return next((c for c in self.rows if c.name == name), None)

    def _show_current(self, _row: int = -1) -> None:
        c = self.selected()
        self.empty.setVisible(not self.rows)
        self.title.setText(c.name if c else "")
        self.values = fill_fields(self.grid, detail_fields(c) if c else [])
        for label in self.values.values():
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._update()

    def field(self, name: str) -> str:
        """What the pane shows for ``name`` (e.g. "Counts")."""
        label = self.values.get(name)
        return label.text() if label is not None else ""

    def _update(self) -> None:
        chosen = self.selected() is not None
        self.add_button.setEnabled(self.is_admin and not self._busy)
        self.sync_button.setEnabled(self.is_admin and chosen and not self._busy)
        self.remove_button.setEnabled(self.is_admin and chosen and not self._busy)
        why = "" if self.is_admin else self.role_line.text()
        for b in (self.add_button, self.sync_button, self.remove_button):
            b.setToolTip(why)

    # -- outcomes ----------------------------------------------------------------------------
    def _say(self, ok: bool | None, text: str) -> None:
        self.outcome.show_result(ok, text)
        if ok is not None:
            self.finishedWork.emit(ok, text)

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self._say(False, sentence(exc))
        self._update()

    def _run(self, line: str, work: Callable[[], object], done: Callable[[object], None]) -> None:
        self._busy = True
        self._update()
        self._say(None, line)
        self.runner.submit(work, done, self._failed, key=f"{RUN_KEY}-action")

    # -- add ---------------------------------------------------------------------------------
    def open_add(self) -> None:
        if not self.add_button.isEnabled():
            return
        dialog = AddGatewayDialog(self.ctx, self.runner, self.actor, self)

        def finished(_result: int) -> None:
            self.add_dialog = None
            dialog.deleteLater()
            if dialog.added is not None:
                text = f"Connected {dialog.added.name} at {dialog.added.url}."
                if dialog.kept == "memory":
                    text += (
                        " No keyring is available: the secret is kept in memory until Paydesk "
                        f"quits; workers read it from {secrets.env_var(dialog.added.name)}."
                    )
                self._say(True, text)
                self.refresh(select=dialog.added.name)

        dialog.finished.connect(finished)
        self.add_dialog = dialog
        dialog.open()

    # -- sync --------------------------------------------------------------------------------
    def sync_selected(self) -> None:
        c = self.selected()
        if c is None or not self.sync_button.isEnabled():
            return
        ctx, actor, name = self.ctx, self.actor, c.name
        self._run(f"Syncing {name}…", lambda: sync_now(ctx, actor, name), self._synced)

    def _synced(self, results: object) -> None:
        self._busy = False
        done = results if isinstance(results, list) else []
        said = [r.sentence() for r in done if isinstance(r, SyncResult)]
        failed = any(isinstance(r, SyncResult) and r.error for r in done)
        self._say(not failed, " ".join(said) or "Nothing was synced.")
        self.refresh()

    # -- remove ------------------------------------------------------------------------------
    def remove_selected(self) -> None:
        c = self.selected()
        if c is None or not self.remove_button.isEnabled():
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Remove gateway connection")
        box.setText(f"Remove the gateway connection {c.name}?")
        box.setInformativeText(
            "Paydesk stops syncing it and forgets its secret. The payments, refunds and "
            "webhook logs it synced stay, marked as from a removed connection."
        )
        yes = box.addButton("Remove", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole)
        ctx, actor, name = self.ctx, self.actor, c.name

        def finished(_result: int) -> None:
            self.confirm_box = None
            if box.clickedButton() is yes:
                self._run(
                    f"Removing {name}…",
                    lambda: connections.remove_connection(ctx, actor, name),
                    self._removed,
                )

        box.finished.connect(finished)
        self.confirm_box = box
        box.open()

    def _removed(self, gone: object) -> None:
        self._busy = False
        name = gone.name if isinstance(gone, ConnectionInfo) else "The connection"
        self._say(
            True,
            f"Removed {name}: it is no longer synced and its secret is forgotten; its rows stay.",
        )
        self.refresh()
