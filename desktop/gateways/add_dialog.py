"""Add a gateway connection: its name, the API base URL, the merchant's API key and secret.

"Test connection" checks the key and secret and shows what the gateway offers, saving nothing
(``core.gateway.connections.test_connection``). "Add" checks the same way and saves the
connection (``add_connection``): the key in the database, the secret in the OS keyring, or in
this run's memory where the machine has no keyring (the dialog says so up front). Any failure
is one sentence under the fields and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.context import Context
from core.errors import sentence
from core.gateway import connections
from core.gateway.capabilities import Capabilities
from core.gateway.connections import ConnectionInfo
from core.store import passwords
from desktop.gateways.result_line import ResultLine
from desktop.shell import theme
from desktop.shell.acting_dialog import ActingDialog
from desktop.shell.named import named
from desktop.shell.runner import TaskRunner

NO_KEYRING_NOTE = (
    "This computer has no password keyring: the API secret is kept in memory only, until "
    "Paydesk quits. A worker reads it from its environment variable."
)
RUN_KEY = "gateway-add"


def offers_text(caps: Capabilities) -> str:
    """What a gateway offers, one capability a line."""
    return "\n".join(caps.lines())


class AddGatewayDialog(ActingDialog):
    """After ``accept()``, ``added`` is the new connection and ``kept`` where its secret went
    (``keyring`` or ``memory``)."""

    # ok, the sentence shown
    finishedWork = Signal(bool, str)

    def __init__(
        self, ctx: Context, runner: TaskRunner, actor: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(ctx, runner, actor, parent)
        self.added: ConnectionInfo | None = None
        self.kept = ""
        self._busy = False
        self.setWindowTitle("Add a gateway connection")
        self.setMinimumWidth(520)
        self._build()
        self._update()

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(12)
        intro = named(
            QLabel(
                "Paydesk reads the merchant's payments, refunds and webhook logs from the "
                "gateway's API with this key and secret."
            ),
            "Muted",
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.name_edit = self._field("GatewayName", "Name", "acme")
        self.url_edit = self._field("GatewayUrl", "API base URL", "https://gateway.example.com")
        self.key_edit = self._field("GatewayKey", "API key", "key_live_…")
        self.secret_edit = self._field("GatewaySecret", "API secret", "")
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        for label, edit in (
            ("Name", self.name_edit),
            ("API base URL", self.url_edit),
            ("API key", self.key_edit),
            ("API secret", self.secret_edit),
        ):
            caption = QLabel(label)
            caption.setBuddy(edit)
            form.addRow(caption, edit)
            edit.textChanged.connect(self._update)
        lay.addLayout(form)
        self.keyring_note = named(QLabel(NO_KEYRING_NOTE), "KeyringNote")
        self.keyring_note.setWordWrap(True)
        fg, _bg = theme.status_colours("pending")
        self.keyring_note.setStyleSheet(f"color: {fg.name()};")
        self.keyring_note.setVisible(not passwords.keyring_available())
        lay.addWidget(self.keyring_note)
        self.outcome = ResultLine("GatewayAddResult", self)
        lay.addWidget(self.outcome)
        buttons = QHBoxLayout()
        self.test_button = self._button("Test connection", "TestGateway", self.test)
        self.test_button.setToolTip("Check the key and secret and see what the gateway offers.")
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        self.cancel_button = self._button("Cancel", "CancelAdd", self.reject)
        self.add_button = self._button("Add", "Primary", self.add)
        self.add_button.setDefault(True)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.add_button)
        lay.addLayout(buttons)

    def _field(self, name: str, accessible: str, placeholder: str) -> QLineEdit:
        edit = named(QLineEdit(), name)
        edit.setAccessibleName(accessible)
        edit.setPlaceholderText(placeholder)
        return edit

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = named(QPushButton(text), name)
        button.setAccessibleName(text)
        button.clicked.connect(slot)
        return button

    def _typed(self) -> tuple[str, str, str, str]:
        return (
            self.name_edit.text(),
            self.url_edit.text(),
            self.key_edit.text(),
            self.secret_edit.text(),
        )

    def _update(self, *_: object) -> None:
        name, url, key, secret = (t.strip() for t in self._typed())
        self.test_button.setEnabled(not self._busy and bool(url and key and secret))
        self.add_button.setEnabled(not self._busy and bool(name and url and key and secret))

    def _set_busy(self, busy: bool, line: str = "") -> None:
        self._busy = busy
        if busy:
            self.outcome.show_result(None, line)
        self._update()

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        text = sentence(exc)
        self.outcome.show_result(False, text)
        self.finishedWork.emit(False, text)

    # -- test --------------------------------------------------------------------------------
    def test(self) -> None:
        _name, url, key, secret = self._typed()
        self._set_busy(True, "Checking the key and secret…")
        self.runner.submit(
            lambda: connections.test_connection(url, key, secret),
            self._tested,
            self._failed,
            key=RUN_KEY,
        )

    def _tested(self, found: tuple[str, Capabilities]) -> None:
        self._set_busy(False)
        base, caps = found
        text = f"The gateway at {base} accepts this key and secret. It offers:\n" + offers_text(
            caps
        )
        self.outcome.show_result(True, text)
        self.finishedWork.emit(True, text)

    # -- add ---------------------------------------------------------------------------------
    def add(self) -> None:
        name, url, key, secret = self._typed()
        ctx, actor = self.ctx, self.actor
        self._set_busy(True, "Checking the key and secret…")
        self.runner.submit(
            lambda: connections.add_connection(ctx, actor, name, url, key, secret),
            self._added,
            self._failed,
            key=RUN_KEY,
        )

    def _added(self, done: tuple[ConnectionInfo, str]) -> None:
        self._set_busy(False)
        self.added, self.kept = done
        text = f"Connected {self.added.name} at {self.added.url}."
        self.outcome.show_result(True, text)
        self.finishedWork.emit(True, text)
        self.accept()
