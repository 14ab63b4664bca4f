"""The Connection dialog: which database this copy of Paydesk uses.

Standalone (a file on this computer: the path shown, "Open another file…") or Shared Postgres
(host, port, database, user, password, SSL mode). "Test connection" runs
``core.store.connection.test_connection`` in the pool and shows the server version and round trip,
or the one sentence that says what is wrong. "Save" tests the same way and, when the database
answers, stores it with ``core.store.connection.save_connection``: the password in the OS keyring
(or this run's memory when the machine has none, which the dialog says up front), the rest in
the settings file. Every URL shown is masked. The window switches to the saved database.

From a standalone database, "Move this standalone database to shared Postgres…" copies it
into the Postgres the form names (``desktop.connection.move_dialog``) and can then switch to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIntValidator, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import URL

from core import paths
from core.errors import InputError, PaydeskError
from core.store import connection, dburl, passwords
from desktop.shell import theme
from desktop.shell.named import named
from desktop.shell.runner import TaskRunner

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_SSL = "prefer"  # libpq's own default, so it is left out of the URL
NO_KEYRING_NOTE = (
    "This computer has no password keyring: the password is kept in memory only, "
    "until Paydesk quits, and asked for again at each start."
)
TEST_KEY = "connection-test"


@dataclass(frozen=True)
class _Form:
    """What the form describes: the URL without password, and the password typed (if any)."""

    url: str
    password: str | None
    shared: bool


def same_database(a: str | None, b: str | None) -> bool:
    """Do two URLs (as typed or stored) name the same database? Passwords are ignored."""
    if not a or not b:
        return False
    try:
        ua, ub = dburl.parse(a).url, dburl.parse(b).url
    except InputError:
        return a == b
    if ua.get_backend_name() != ub.get_backend_name():
        return False
    if ua.get_backend_name() == "sqlite":
        return Path(ua.database or "").resolve() == Path(ub.database or "").resolve()
    return (ua.host or "localhost", ua.port or 5432, ua.database, ua.username, dict(ua.query)) == (
        ub.host or "localhost",
        ub.port or 5432,
        ub.database,
        ub.username,
        dict(ub.query),
    )


class ConnectionDialog(QDialog):
    """Choose, test and save the database. After ``accept()``, ``chosen_url`` is the saved URL
    (no password) and ``password_changed`` says whether a new password was given."""

    # ok, the line shown (summary or sentence)
    testFinished = Signal(bool, str)
    saveFinished = Signal(bool, str)

    def __init__(
        self,
        runner: TaskRunner,
        current_url: str | None = None,
        parent: QWidget | None = None,
        *,
        first_run: bool = False,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.current_url = current_url
        self.first_run = first_run
        self.chosen_url: str | None = None
        self.password_changed = False
        self.saved: connection.SavedConnection | None = None
        self._extra_query: dict[str, Any] = {}
        self._busy = False
        self.move_dialog: QDialog | None = None
        self.file_dialog: QFileDialog | None = None
        self.setWindowTitle("Connection")
        self.setMinimumWidth(600)
        self._build()
        self._load(current_url)
        self._update()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(12)
        heading = QLabel(
            "Choose the database for Paydesk" if self.first_run else "Database connection"
        )
        heading.setStyleSheet("font-size: 13pt; font-weight: 700;")
        lay.addWidget(heading)
        intro = named(
            QLabel(
                "Standalone keeps the data in a file on this computer. Shared connects every "
                "staff machine to one PostgreSQL database, so the team sees the same refunds "
                "and deliveries."
            ),
            "Muted",
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)

        # Two checkable buttons side by side: the choice reads at a glance in both schemes.
        modes = QHBoxLayout()
        modes.setSpacing(0)
        self.standalone_choice = QPushButton(theme.icon("database"), "Standalone (this computer)")
        self.shared_choice = QPushButton(theme.icon("jobs"), "Shared PostgreSQL")
        group = QButtonGroup(self)
        for i, button in enumerate((self.standalone_choice, self.shared_choice)):
            button.setCheckable(True)
            button.setObjectName("ModeChoice")
            button.setProperty("side", "left" if i == 0 else "right")
            group.addButton(button)
            modes.addWidget(button)
        modes.addStretch(1)
        self._style_choices()
        lay.addLayout(modes)
        self.standalone_choice.toggled.connect(self._mode_changed)

        # Both pages sit in the layout; the one not chosen is hidden, so the dialog is as tall
        # as what it shows.
        self.standalone_page = self._build_standalone()
        self.shared_page = self._build_shared()
        lay.addWidget(self.standalone_page)
        lay.addWidget(self.shared_page)

        url_row = QHBoxLayout()
        caption = named(QLabel("Connects to"), "Muted")
        self.url_label = QLabel("")
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.url_label.setStyleSheet("font-family: monospace;")
        url_row.addWidget(caption)
        url_row.addWidget(self.url_label, 1)
        lay.addLayout(url_row)

        self.result_frame = QFrame(self)
        self.result_frame.setObjectName("ConnectionResult")
        result_lay = QHBoxLayout(self.result_frame)
        result_lay.setContentsMargins(10, 8, 10, 8)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        result_lay.addWidget(self.result_label, 1)
        self.result_frame.hide()
        lay.addWidget(self.result_frame)

        buttons = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Not now" if self.first_run else "Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.save_button = named(QPushButton("Save and connect"), "Primary")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        lay.addLayout(buttons)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update()

    def _style_choices(self) -> None:
        accent_soft, accent_text = theme.colour("accent_soft").name(), theme.colour("accent_text")
        border = theme.colour("accent").name()
        self.setStyleSheet(
            f"QPushButton#ModeChoice:checked {{ background: {accent_soft};"
            f" color: {accent_text.name()}; border: 1px solid {border}; }}"
            ' QPushButton#ModeChoice[side="left"] { border-top-right-radius: 0;'
            " border-bottom-right-radius: 0; }"
            ' QPushButton#ModeChoice[side="right"] { border-top-left-radius: 0;'
            " border-bottom-left-radius: 0; }"
        )

    def _build_standalone(self) -> QWidget:
        page = QWidget(self)
        outer = QVBoxLayout(page)
        outer.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        outer.addLayout(form)
        row = QHBoxLayout()
        self.file_edit = QLineEdit()
        self.file_edit.setReadOnly(True)
        self.open_file_button = QPushButton("Open another file…")
        self.open_file_button.clicked.connect(self._choose_file)
        row.addWidget(self.file_edit, 1)
        row.addWidget(self.open_file_button)
        form.addRow(_label("Database file", self.file_edit), row)
        note = named(
            QLabel(
                "Only this computer uses it; a copy is backed up every day. A file that does not "
                "exist yet is created and set up."
            ),
            "Muted",
        )
        note.setWordWrap(True)
        outer.addWidget(note)
        return page

    def _build_shared(self) -> QWidget:
        page = QWidget(self)
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.host_edit = QLineEdit()
        self.host_edit.setPlaceholderText("db.example.internal")
        self.port_edit = QLineEdit("5432")
        self.port_edit.setValidator(QIntValidator(1, 65535, self.port_edit))
        self.port_edit.setMaximumWidth(90)
        self.database_edit = QLineEdit()
        self.database_edit.setPlaceholderText("paydesk")
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("your database login")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("leave empty to use the saved password")
        self.ssl_combo = QComboBox()
        self.ssl_combo.addItems(SSL_MODES)
        self.ssl_combo.setCurrentText(DEFAULT_SSL)
        form.addRow(_label("Host", self.host_edit), self.host_edit)
        form.addRow(_label("Port", self.port_edit), self.port_edit)
        form.addRow(_label("Database", self.database_edit), self.database_edit)
        form.addRow(_label("User", self.user_edit), self.user_edit)
        form.addRow(_label("Password", self.password_edit), self.password_edit)
        form.addRow(_label("SSL mode", self.ssl_combo), self.ssl_combo)
        lay.addLayout(form)
        for edit in (
            self.host_edit,
            self.port_edit,
            self.database_edit,
            self.user_edit,
            self.password_edit,
        ):
            edit.textChanged.connect(self._update)
        self.ssl_combo.currentTextChanged.connect(self._update)
        self.keyring_note = QLabel(NO_KEYRING_NOTE)
        self.keyring_note.setWordWrap(True)
        fg, _bg = theme.status_colours("pending")
        self.keyring_note.setStyleSheet(f"color: {fg.name()};")
        self.keyring_note.setVisible(not passwords.keyring_available())
        lay.addWidget(self.keyring_note)
        self.move_button = QPushButton("Move this standalone database to shared Postgres…")
        self.move_button.clicked.connect(self.move_to_shared)
        move_row = QHBoxLayout()
        move_row.addWidget(self.move_button)
        move_row.addStretch(1)
        lay.addLayout(move_row)
        return page

    # -- the form ----------------------------------------------------------------------------
    def _load(self, url_text: str | None) -> None:
        default_file = str(paths.default_database_path())
        self.file_edit.setText(default_file)
        target = None
        if url_text:
            try:
                target = dburl.parse(url_text)
            except InputError:
                target = None
        if target is not None and target.is_postgres:
            u = target.url
            self.shared_choice.setChecked(True)
            self.host_edit.setText(u.host or "localhost")
            self.port_edit.setText(str(u.port or 5432))
            self.database_edit.setText(u.database or "")
            self.user_edit.setText(u.username or "")
            query = dict(u.query)
            ssl = query.pop("sslmode", DEFAULT_SSL)
            self.ssl_combo.setCurrentText(ssl if isinstance(ssl, str) else DEFAULT_SSL)
            # Options the form has no field for (search_path, timeouts) are kept as they were.
            self._extra_query = query
        else:
            self.standalone_choice.setChecked(True)
            if target is not None and target.sqlite_path is not None:
                self.file_edit.setText(str(target.sqlite_path))
        self.move_button.setVisible(self._current_is_standalone())

    def _current_is_standalone(self) -> bool:
        try:
            return bool(self.current_url) and dburl.parse(self.current_url or "").is_sqlite
        except InputError:
            return False

    def set_file(self, path: str | Path) -> None:
        """Use the standalone file ``path`` (what "Open another file…" does)."""
        self.standalone_choice.setChecked(True)
        self.file_edit.setText(str(Path(path).expanduser()))
        self._update()

    def _choose_file(self) -> None:
        folder = str(Path(self.file_edit.text()).parent)
        dialog = QFileDialog(self, "Open a Paydesk database", folder)
        dialog.setNameFilters(["Paydesk databases (*.sqlite3 *.sqlite *.db)", "All files (*)"])
        # AnyFile: a name that does not exist yet starts a new standalone database.
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.fileSelected.connect(self.set_file)
        self.file_dialog = dialog
        dialog.open()

    def form(self) -> _Form:
        """The database the form describes; InputError names the missing field."""
        if self.standalone_choice.isChecked():
            path = self.file_edit.text().strip()
            if not path:
                raise InputError("Choose the database file.")
            return _Form(f"sqlite:///{Path(path).expanduser()}", None, shared=False)
        host = self.host_edit.text().strip()
        database = self.database_edit.text().strip()
        user = self.user_edit.text().strip()
        if not host:
            raise InputError("Enter the host of the PostgreSQL server.")
        port = self.port_edit.text().strip()
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InputError("Enter the port as a number from 1 to 65535 (usually 5432).")
        if not database:
            raise InputError("Enter the name of the database.")
        if not user:
            raise InputError("Enter your database login.")
        query = dict(self._extra_query)
        ssl = self.ssl_combo.currentText()
        if ssl != DEFAULT_SSL:
            query["sslmode"] = ssl
        url = URL.create(
            "postgresql",
            username=user,
            host=host,
            port=int(port),
            database=database,
            query=query,
        )
        password = self.password_edit.text() or None
        return _Form(url.render_as_string(hide_password=False), password, shared=True)

    def _mode_changed(self, *_: Any) -> None:
        self._update()
        self._fit()

    def _fit(self) -> None:
        # Wrapped labels need their height for the dialog's width; the layout's minimum size
        # does not ask for it, so grow (or shrink) the dialog to what it now shows.
        layout = self.layout()
        if self.isVisible() and layout is not None:
            layout.activate()
            self.resize(self.width(), self.heightForWidth(self.width()))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit()

    def _update(self, *_: Any) -> None:
        shared = self.shared_choice.isChecked()
        self.standalone_page.setVisible(not shared)
        self.shared_page.setVisible(shared)
        try:
            f = self.form()
        except InputError:
            shown_text = "—"
        else:
            target = dburl.parse(f.url)
            if target.is_sqlite:
                shown_text = f"{target.sqlite_path} (a file on this computer)"
            else:
                url = target.url.set(password=f.password) if f.password else target.url
                shown_text = dburl.mask(url)
        self.url_label.setToolTip(shown_text)
        metrics = self.url_label.fontMetrics()
        width = max(200, self.url_label.width())
        self.url_label.setText(metrics.elidedText(shown_text, Qt.TextElideMode.ElideMiddle, width))

        for button in (self.test_button, self.save_button, self.move_button):
            button.setEnabled(not self._busy)

    # -- test and save ---------------------------------------------------------------------------
    def _show_result(self, ok: bool | None, text: str) -> None:
        status = {True: "success", False: "failed", None: "running"}[ok]
        fg, bg = theme.status_colours(status)
        self.result_frame.setStyleSheet(
            f"QFrame#ConnectionResult {{ background: {bg.name()}; border-radius: 6px; }}"
            f" QFrame#ConnectionResult QLabel {{ color: {fg.name()}; }}"
        )
        self.result_label.setText(text)
        self.result_frame.show()
        self._fit()

    def show_message(self, sentence: str) -> None:
        """Say why the dialog opened (e.g. the saved database could not be opened)."""
        self._show_result(False, sentence)
        if self.shared_choice.isChecked() and not self.password_edit.text():
            self.password_edit.setFocus()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update()

    def test(self) -> None:
        """Try the database the form describes, off the UI thread."""
        try:
            f = self.form()
        except InputError as exc:
            self._show_result(False, exc.message)
            self.testFinished.emit(False, exc.message)
            return
        self._set_busy(True)
        self._show_result(None, "Testing the connection…")
        self.runner.submit(
            lambda: connection.test_connection(f.url, password=f.password),
            self._tested,
            self._test_failed,
            key=TEST_KEY,
        )

    def _tested(self, report: connection.ConnectionReport) -> None:
        self._set_busy(False)
        text = f"Connected: {report.summary()}."
        self._show_result(True, text)
        self.testFinished.emit(True, text)

    def _test_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        sentence = _sentence(exc)
        self._show_result(False, sentence)
        self.testFinished.emit(False, sentence)

    def save(self) -> None:
        """Test, then store the connection (password to the keyring or memory); accept."""
        try:
            f = self.form()
        except InputError as exc:
            self._show_result(False, exc.message)
            self.saveFinished.emit(False, exc.message)
            return
        self._set_busy(True)
        self._show_result(None, "Connecting…")

        def work() -> connection.SavedConnection:
            # Nothing is saved for a database this copy could not open anyway.
            connection.test_connection(f.url, password=f.password)
            return connection.save_connection(f.url, f.password)

        self.runner.submit(
            work, lambda saved: self._saved(saved, f), self._save_failed, key=TEST_KEY
        )

    def _saved(self, saved: connection.SavedConnection, f: _Form) -> None:
        self._set_busy(False)
        self.saved = saved
        self.chosen_url = saved.url
        self.password_changed = bool(f.password)
        where = {
            "keyring": " The password is in the system keyring.",
            "memory": " The password is kept in memory until Paydesk quits.",
            "none": "",
        }[saved.password_in]
        text = f"Saved {dburl.mask(saved.url)}.{where}"
        self._show_result(True, text)
        self.saveFinished.emit(True, text)
        self.accept()

    def _save_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        sentence = _sentence(exc)
        self._show_result(False, sentence)
        self.saveFinished.emit(False, sentence)

    # -- moving up -------------------------------------------------------------------------------
    def move_to_shared(self) -> None:
        """Copy the open standalone file into the Postgres the form names; offer to switch."""
        from desktop.connection.move_dialog import MoveDialog

        if not self._current_is_standalone():
            return
        self.shared_choice.setChecked(True)
        try:
            f = self.form()
        except InputError as exc:
            self._show_result(False, exc.message)
            return
        target = dburl.parse(f.url).url
        if f.password:
            target = target.set(password=f.password)
        dialog = MoveDialog(
            self.runner,
            dburl.strip_password(self.current_url or ""),
            target.render_as_string(hide_password=False),
            self,
        )

        def finished(_result: int) -> None:
            self.move_dialog = None
            dialog.deleteLater()
            if dialog.switch_requested:
                self.save()

        dialog.finished.connect(finished)
        self.move_dialog = dialog
        dialog.open()


def _label(text: str, field: QWidget) -> QLabel:
    # As tall as its field and centred on it: QFormLayout aligns labels to the field's top.
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    label.setMinimumHeight(field.sizeHint().height())
    label.setBuddy(field)
    return label


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, PaydeskError):
        return exc.message
    return f"The connection could not be tried: {type(exc).__name__}."
