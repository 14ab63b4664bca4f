"""Merchants' webhook endpoints: each one's URL, whether it is enabled (and why not), its
health over the last 24 hours, and its signing secret (masked). Admins set the URL, rotate
the secret, reveal and copy it, enable or disable the endpoint; support and admin staff send
a test event and read what came of it. Other staff only look.

Every read and action runs in the pool through ``core.webhooks.deliveries``; a URL the service refuses
shows its sentence under the field and nothing is written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.context import Context
from core.errors import InputError
from core.store import notify
from core.webhooks import deliveries as webhooks
from core.webhooks import listing
from core.webhooks.deliveries import Endpoint, EndpointHealth
from desktop.lists.detail_pane import field_grid, fill_fields
from desktop.lists.status_badge import StatusLabel
from desktop.shell import theme
from desktop.shell.acting_dialog import ActingDialog
from desktop.shell.named import named
from desktop.shell.runner import TaskRunner
from desktop.webhooks.detail import duration_text

# How long "Send test event" waits for another running copy to make the attempt when this
# one could not (the dispatcher of the app had claimed it first): the delivery timeout and
# room to record it.
TEST_WAIT_SECONDS = 20.0


# -- test events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """What came of a test event: ``ok`` None means it is queued but nobody sent it yet."""

    log_id: str
    merchant: str
    ok: bool | None
    sentence: str


def send_test(ctx: Context, actor: str, merchant_id: str) -> TestResult:
    """Queue a ``test.ping`` for the merchant and send it at once from here, as the command
    line does (runs in the pool). When the app's own dispatcher took it first, wait for that
    attempt to be recorded instead. The answer is one sentence for a person."""
    from core.webhooks.dispatcher import Dispatcher

    wanted: dict[str, str] = {}
    heard = threading.Event()

    def on_notice(n: notify.Notice) -> None:
        if n.table == "webhook_logs" and wanted.get("id") in n.ids:
            heard.set()

    notify.subscribe(on_notice)
    try:
        log_id = webhooks.send_test_event(ctx, actor, merchant_id)
        wanted["id"] = log_id
        name = listing.endpoint_name(ctx.db, merchant_id)
        dispatcher = Dispatcher(ctx, concurrency=1)
        try:
            outcome = dispatcher.deliver([log_id]).get(log_id)
        finally:
            dispatcher.close()
        if outcome is not None:
            if outcome.ok:
                return TestResult(
                    log_id,
                    name,
                    True,
                    f"Test event delivered to {name}: HTTP {outcome.code} in "
                    f"{duration_text(outcome.duration_ms)}.",
                )
            return TestResult(log_id, name, False, f"Test event to {name} failed: {outcome.error}.")
        end = time.monotonic() + TEST_WAIT_SECONDS
        while True:
            heard.clear()
            d = listing.log_detail(ctx.db, log_id, None)
            if d.attempts:
                a = d.attempts[-1]
                if a.ok:
                    return TestResult(
                        log_id,
                        name,
                        True,
                        f"Test event delivered to {name}: HTTP {a.response_code} in "
                        f"{duration_text(a.duration_ms)}.",
                    )
                return TestResult(log_id, name, False, f"Test event to {name} failed: {a.summary}.")
            left = end - time.monotonic()
            if left <= 0:
                return TestResult(
                    log_id,
                    name,
                    None,
                    f"Test event {log_id} to {name} is queued; a running Paydesk sends it.",
                )
            heard.wait(left)
    finally:
        notify.unsubscribe(on_notice)


# -- the dialog ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loaded:
    endpoint: Endpoint
    health: EndpointHealth
    now: datetime


def _when(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M") if dt else "—"


def health_fields(e: Endpoint, h: EndpointHealth) -> list[tuple[str, str]]:
    rate = h.success_rate
    if rate is None:
        success = "No attempts in the last 24 hours"
    else:
        success = f"{rate:.0%} of {h.attempts:,} attempt{'s' if h.attempts != 1 else ''}"
    return [
        ("Delivered (24 h)", success),
        ("Failures in a row", f"{e.consecutive_failures:,}"),
        ("Failing since", _when(e.failing_since) if e.consecutive_failures else "—"),
        ("Last success", _when(e.last_success_at)),
    ]


def endpoint_state(e: Endpoint, h: EndpointHealth) -> str | None:
    """What the endpoint's state means, truthfully beside its history: an endpoint that is
    gone now after deliveries reached it says it was removed after them, not that none was
    ever set up; a disabled one says why and when it last got one."""
    delivered = e.last_success_at is not None or h.successes > 0
    last = f" (the last on {_when(e.last_success_at)})" if e.last_success_at else ""
    if not e.webhook_url:
        if delivered:
            return (
                f"No endpoint is set now. Earlier deliveries reached one{last}; it was "
                "removed after them, so new deliveries wait until an admin sets a URL."
            )
        return "No endpoint is set up yet; deliveries wait until an admin sets a URL."
    if not e.webhook_enabled:
        why = (e.disabled_reason or "").strip().rstrip(".")
        said = f"Disabled: {why}." if why else "Disabled."
        if delivered:
            said += f" Deliveries reached it before it was disabled{last}."
        return said + " New deliveries wait until it is enabled."
    return None


READ_ONLY_NOTE = (
    "Only admin staff can change an endpoint: its URL, secret and whether it is enabled are "
    "read-only for you."
)


class EndpointsDialog(ActingDialog):
    """Merchants on the left, the chosen one's endpoint on the right. ``changed`` after an
    action succeeded (the sentence), ``failed`` with the sentence of one that did not."""

    loaded = Signal()
    endpointShown = Signal(str)
    changed = Signal(str)
    failed = Signal(str)
    testFinished = Signal(str)

    def __init__(
        self,
        ctx: Context,
        runner: TaskRunner,
        actor: str,
        *,
        may_manage: bool,
        may_test: bool,
        merchant_id: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(ctx, runner, actor, parent)
        self.may_manage = may_manage
        self.may_test = may_test
        self.endpoint: Endpoint | None = None
        self.revealed: str | None = None
        self.confirm_box: QMessageBox | None = None
        self._want = merchant_id
        self._busy = False
        self._key = f"endpoint-{id(self)}"
        self.setWindowTitle("Webhook endpoints")
        self.resize(860, 520)
        self._build()
        self.reload()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 12)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.setChildrenCollapsible(False)
        self.list = QListWidget(split)
        self.list.setObjectName("Merchants")
        self.list.setMinimumWidth(250)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setSpacing(1)
        self.list.setIconSize(QSize(18, 18))
        self.list.setAccessibleName("Merchants")
        self.list.setAccessibleDescription("Choose a merchant to see its webhook endpoint")
        self.list.currentItemChanged.connect(self._chosen)
        split.addWidget(self.list)

        panel = named(QFrame(split), "DetailPane")
        p = QVBoxLayout(panel)
        p.setContentsMargins(18, 14, 18, 8)
        p.setSpacing(6)
        head = QHBoxLayout()
        self.title = named(QLabel(""), "DetailTitle")
        self.badge = StatusLabel()
        head.addWidget(self.title)
        head.addSpacing(8)
        head.addWidget(self.badge)
        head.addStretch(1)
        p.addLayout(head)
        self.subtitle = named(QLabel(""), "Muted")
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        p.addWidget(self.subtitle)
        self.disabled_reason = QLabel("", self)
        self.disabled_reason.setWordWrap(True)
        self.disabled_reason.hide()
        p.addWidget(self.disabled_reason)

        p.addWidget(named(QLabel("ENDPOINT"), "SectionTitle"))
        url_row = QHBoxLayout()
        self.url_edit = QLineEdit(self)
        self.url_edit.setPlaceholderText(
            "https://example.com/webhooks" if self.may_manage else "No endpoint set"
        )
        self.url_edit.setClearButtonEnabled(self.may_manage)
        self.url_edit.setReadOnly(not self.may_manage)
        self.url_edit.setAccessibleName("Webhook URL")
        self.url_edit.setAccessibleDescription(
            "Where this merchant's deliveries go; Return saves it"
            if self.may_manage
            else "Read-only: only admin staff can change the webhook URL"
        )
        self.url_edit.setToolTip("" if self.may_manage else READ_ONLY_NOTE)
        self.url_edit.returnPressed.connect(self.save_url)
        url_row.addWidget(self.url_edit, 1)
        self.save_button = QPushButton("Save URL", self)
        self.save_button.setAccessibleDescription("Save the webhook URL (admin)")
        self.save_button.clicked.connect(self.save_url)
        url_row.addWidget(self.save_button)
        p.addLayout(url_row)
        # Support and finance staff look: the fields they cannot change say so.
        self.read_only_note = named(QLabel(READ_ONLY_NOTE), "Muted")
        self.read_only_note.setWordWrap(True)
        self.read_only_note.setAccessibleName("Read-only")
        self.read_only_note.setVisible(not self.may_manage)
        p.addWidget(self.read_only_note)
        self.url_error = QLabel("", self)
        self.url_edit.textEdited.connect(lambda _t: self.url_error.hide())
        self.url_error.setWordWrap(True)
        self.url_error.hide()
        p.addWidget(self.url_error)

        secret_row = QHBoxLayout()
        secret_row.addWidget(named(QLabel("Signing secret"), "FieldName"))
        self.secret = named(QLabel("—"), "FieldValue")
        self.secret.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.secret.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        secret_row.addWidget(self.secret, 1)
        self.reveal_button = QPushButton(theme.icon("search"), "Reveal", self)
        self.reveal_button.clicked.connect(self.reveal)
        self.copy_secret_button = QPushButton(theme.icon("copy"), "Copy", self)
        self.copy_secret_button.clicked.connect(self.copy_secret)
        self.rotate_button = QPushButton(theme.icon("key"), "Rotate…", self)
        self.rotate_button.clicked.connect(self.rotate)
        self.secret.setAccessibleName("Signing secret")
        for b, what in (
            (self.reveal_button, "Show the whole signing secret (admin; audited)"),
            (self.copy_secret_button, "Copy the revealed signing secret"),
            (self.rotate_button, "Make a new signing secret (admin)"),
        ):
            b.setAccessibleDescription(what)
            secret_row.addWidget(b)
        p.addLayout(secret_row)

        p.addWidget(named(QLabel("HEALTH"), "SectionTitle"))
        self.grid = field_grid()
        self.values: dict[str, QLabel] = {}
        p.addLayout(self.grid)
        p.addSpacing(8)

        actions = QHBoxLayout()
        self.enable_button = QPushButton(theme.icon("approve"), "Enable", self)
        self.enable_button.clicked.connect(self.toggle_enabled)
        self.test_button = QPushButton(theme.icon("delivery"), "Send test event", self)
        self.test_button.clicked.connect(self.send_test_event)
        self.enable_button.setAccessibleDescription("Enable or disable this endpoint (admin)")
        self.test_button.setAccessibleDescription("Send a test.ping to this endpoint")
        actions.addWidget(self.enable_button)
        actions.addWidget(self.test_button)
        actions.addStretch(1)
        p.addLayout(actions)
        self.test_result = QLabel("", self)
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.hide()
        p.addWidget(self.test_result)
        p.addStretch(1)
        split.addWidget(panel)
        split.setStretchFactor(1, 1)
        split.setSizes([270, 590])
        c = {
            n: theme.colour(n).name()
            for n in ("base", "border", "accent_soft", "accent_text", "hover", "text")
        }
        self.list.setStyleSheet(
            f"QListWidget#Merchants {{ background: {c['base']}; color: {c['text']}; border: none;"
            f" padding: 6px; outline: 0; }}"
            f"QListWidget#Merchants::item {{ padding: 5px 6px; border-radius: 6px; }}"
            f"QListWidget#Merchants::item:hover {{ background: {c['hover']}; }}"
            f"QListWidget#Merchants::item:selected {{ background: {c['accent_soft']};"
            f" color: {c['accent_text']}; }}"
        )
        lay.addWidget(split, 1)

        # Offer only what the role allows (the services refuse the rest anyway).
        for b in (self.save_button, self.reveal_button, self.copy_secret_button):
            b.setVisible(self.may_manage)
        self.rotate_button.setVisible(self.may_manage)
        self.enable_button.setVisible(self.may_manage)
        self.test_button.setVisible(self.may_test)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName("Close")
        close.setAccessibleDescription("Close the endpoints window")
        buttons.rejected.connect(self.reject)
        buttons.setContentsMargins(12, 0, 12, 0)
        lay.addWidget(buttons)
        self._update_buttons()

    # -- reading ---------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the list of merchants and the one shown."""
        db = self.ctx.db

        def work() -> list[Endpoint]:
            return listing.all_endpoints(db)

        self.runner.submit(work, self._on_list, self._show_failure, key=f"{self._key}-list")

    def _on_list(self, items: list[Endpoint]) -> None:
        current = self._want or (self.endpoint.merchant_id if self.endpoint else None)
        self._want = None
        self.list.blockSignals(True)
        self.list.clear()
        for e in items:
            self._add_item(e)
        self.list.blockSignals(False)
        row = next((i for i, e in enumerate(items) if e.merchant_id == current), 0)
        if items:
            self.list.setCurrentRow(row)
        self.loaded.emit()

    def _add_item(self, e: Endpoint) -> None:
        state = "enabled" if e.webhook_enabled and e.webhook_url else "disabled"
        if not e.webhook_url:
            state = "no endpoint"
        item = QListWidgetItem(f"{e.name}\n{e.merchant_id} · {state}")
        item.setData(Qt.ItemDataRole.UserRole, e.merchant_id)
        item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{e.name}, {state}")
        colour = theme.status_colours(
            "success" if state == "enabled" else ("failed" if e.webhook_url else "cancelled")
        )[0]
        item.setIcon(theme.icon("delivery", colour.name()))
        self.list.addItem(item)

    def _chosen(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            return
        self.load(item.data(Qt.ItemDataRole.UserRole))

    def load(self, merchant_id: str) -> None:
        db, clock = self.ctx.db, self.ctx.clock
        if self.endpoint is None or self.endpoint.merchant_id != merchant_id:
            self.revealed = None
            self.test_result.hide()
            self.url_error.hide()

        def work() -> _Loaded:
            now = clock.now()
            endpoint, health = listing.endpoint_with_health(db, merchant_id, now)
            return _Loaded(endpoint, health, now)

        self.runner.submit(work, self._show, self._show_failure, key=self._key)

    def _show(self, loaded: _Loaded) -> None:
        e = loaded.endpoint
        fresh = self.endpoint is None or self.endpoint.merchant_id != e.merchant_id
        self.endpoint = e
        self.title.setText(e.name)
        if not e.webhook_url:
            self.badge.set_status("cancelled", "No endpoint")
        elif e.webhook_enabled:
            self.badge.set_status("success", "Enabled")
        else:
            self.badge.set_status("failed", "Disabled")
        self.subtitle.setText(e.merchant_id)
        reason = endpoint_state(e, loaded.health)
        self.disabled_reason.setText(reason or "")
        status = "failed" if e.webhook_url else "cancelled"
        self.disabled_reason.setStyleSheet(f"color: {theme.status_colours(status)[0].name()};")
        self.disabled_reason.setVisible(bool(reason))
        if fresh or not self.url_edit.hasFocus():
            self.url_edit.setText(e.webhook_url or "")
        self.secret.setText(self.revealed or e.secret_masked or "No secret yet")
        self._fill_grid(health_fields(e, loaded.health))
        self._update_buttons()
        self.endpointShown.emit(e.merchant_id)

    def _fill_grid(self, fields: list[tuple[str, str]]) -> None:
        self.values = fill_fields(self.grid, fields, wrap=False)

    def value(self, name: str) -> str:
        label = self.values.get(name)
        return label.text() if label is not None else ""

    def _update_buttons(self) -> None:
        e = self.endpoint
        busy = self._busy
        has_url = bool(e and e.webhook_url)
        self.save_button.setEnabled(e is not None and not busy)
        has_secret = bool(e and e.secret_masked)
        self.reveal_button.setEnabled(has_secret and self.revealed is None and not busy)
        self.reveal_button.setToolTip(
            "Show the whole secret (the reveal is audited)"
            if has_secret
            else "There is no secret yet; setting a URL makes one."
        )
        self.copy_secret_button.setEnabled(self.revealed is not None)
        self.copy_secret_button.setToolTip(
            "Copy the secret" if self.revealed else "Reveal the secret first."
        )
        self.rotate_button.setEnabled(has_url and not busy)
        self.rotate_button.setToolTip(
            "Make a new secret; the old one keeps signing alongside it for 24 hours"
            if has_url
            else "Set a URL first."
        )
        enabled = bool(e and e.webhook_enabled)
        self.enable_button.setText("Disable" if enabled and has_url else "Enable")
        self.enable_button.setIcon(theme.icon("pause" if enabled and has_url else "approve"))
        self.enable_button.setEnabled(has_url and not busy)
        self.enable_button.setToolTip(
            "Set a URL first."
            if not has_url
            else (
                "Stop sending; new deliveries wait until it is enabled again"
                if enabled
                else "Send again: waiting deliveries go out at once"
            )
        )
        if not has_url:
            why = (
                f"{e.name if e else 'This merchant'} has no webhook endpoint; an admin can set one."
            )
        elif not enabled:
            why = "The endpoint is disabled; enable it first."
        else:
            why = ""
        self.test_button.setEnabled(bool(e) and not why and not busy)
        self.test_button.setToolTip(why or "Send a test.ping to this endpoint and show the answer")
        self.test_button.setAccessibleDescription(self.test_button.toolTip())

    # -- actions ---------------------------------------------------------------------------
    def _act(self, work: Callable[[], Endpoint], done_sentence: Callable[[Endpoint], str]) -> None:
        """Run an endpoint action in the pool, then show the endpoint as it is now."""
        self._busy = True
        self._update_buttons()

        def done(e: Endpoint) -> None:
            self._busy = False
            sentence = done_sentence(e)
            self.changed.emit(sentence)
            self._refresh_item(e)
            self.load(e.merchant_id)

        def failed(exc: BaseException) -> None:
            self._busy = False
            self._update_buttons()
            self._show_failure(exc)

        self.runner.submit(work, done, failed)

    def _refresh_item(self, e: Endpoint) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == e.merchant_id:
                self.list.blockSignals(True)
                self.list.takeItem(i)
                self._add_item(e)
                moved = self.list.takeItem(self.list.count() - 1)
                self.list.insertItem(i, moved)
                self.list.setCurrentRow(i)
                self.list.blockSignals(False)
                return

    def save_url(self) -> None:
        """Validate the URL here for an immediate answer (the service checks it again)."""
        e = self.endpoint
        if e is None or not self.may_manage or self._busy:
            return
        url = self.url_edit.text()
        try:
            url = webhooks.validate_url(url)
        except InputError as exc:
            self._url_problem(exc.message)
            return
        self.url_error.hide()
        ctx, actor, mid = self.ctx, self.actor, e.merchant_id
        self._act(
            lambda: webhooks.set_endpoint(ctx, actor, mid, url),
            lambda saved: f"The webhook URL of {saved.name} is now {saved.webhook_url}.",
        )

    def _url_problem(self, sentence: str) -> None:
        self.url_error.setText(sentence)
        self.url_error.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")
        self.url_error.show()
        self.url_edit.setFocus()
        self.failed.emit(sentence)

    def rotate(self) -> None:
        e = self.endpoint
        if e is None or not e.webhook_url or self._busy:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Rotate signing secret")
        box.setText(f"Make a new signing secret for {e.name}?")
        box.setInformativeText(
            "Deliveries are signed with the new secret from now on; for 24 hours the old one "
            "signs alongside it, so the merchant has time to switch."
        )
        yes = box.addButton("Rotate secret", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        ctx, actor, mid, url = self.ctx, self.actor, e.merchant_id, e.webhook_url

        def finished(_result: int) -> None:
            self.confirm_box = None
            if box.clickedButton() is yes:
                self.revealed = None
                self._act(
                    lambda: webhooks.set_endpoint(ctx, actor, mid, url, rotate_secret=True),
                    lambda saved: f"{saved.name} has a new signing secret.",
                )

        box.finished.connect(finished)
        self.confirm_box = box
        box.open()

    def toggle_enabled(self) -> None:
        e = self.endpoint
        if e is None or self._busy:
            return
        ctx, actor, mid = self.ctx, self.actor, e.merchant_id
        if e.webhook_enabled:
            self._act(
                lambda: webhooks.disable_endpoint(ctx, actor, mid),
                lambda saved: f"The endpoint of {saved.name} is disabled; its deliveries wait.",
            )
        else:
            self._act(
                lambda: webhooks.enable_endpoint(ctx, actor, mid),
                lambda saved: f"The endpoint of {saved.name} is enabled.",
            )

    def reveal(self) -> None:
        e = self.endpoint
        if e is None or self._busy:
            return
        ctx, actor, mid = self.ctx, self.actor, e.merchant_id

        def done(secret: str) -> None:
            if self.endpoint is not None and self.endpoint.merchant_id == mid:
                self.revealed = secret
                self.secret.setText(secret)
                self._update_buttons()

        self.runner.submit(
            lambda: webhooks.reveal_secret(ctx, actor, mid), done, self._show_failure
        )

    def copy_secret(self) -> None:
        if self.revealed:
            QGuiApplication.clipboard().setText(self.revealed)
            self.changed.emit("Copied the signing secret.")

    def send_test_event(self) -> None:
        e = self.endpoint
        if e is None or not self.test_button.isEnabled():
            return
        ctx, actor, mid = self.ctx, self.actor, e.merchant_id
        self._busy = True
        self._update_buttons()
        self.test_button.setText("Sending…")
        self._say_test(None, f"Sending a test event to {e.webhook_url}…")

        def done(result: TestResult) -> None:
            self._busy = False
            self.test_button.setText("Send test event")
            self._say_test(result.ok, result.sentence)
            self.testFinished.emit(result.sentence)
            if self.endpoint is not None and self.endpoint.merchant_id == mid:
                self.load(mid)  # health moved

        def failed(exc: BaseException) -> None:
            self._busy = False
            self.test_button.setText("Send test event")
            sentence = errors.sentence(exc)
            self._say_test(False, sentence)
            self._update_buttons()
            self.testFinished.emit(sentence)

        self.runner.submit(lambda: send_test(ctx, actor, mid), done, failed)

    def _say_test(self, ok: bool | None, sentence: str) -> None:
        status = {True: "success", False: "failed", None: "cancelled"}[ok]
        self.test_result.setText(sentence)
        self.test_result.setStyleSheet(
            f"color: {theme.status_colours(status)[0].name()}; font-weight: 600;"
        )
        self.test_result.show()

    def _show_failure(self, exc: BaseException) -> None:
        sentence = errors.sentence(exc)
        if isinstance(exc, InputError):
            self._url_problem(sentence)
            return
        self.disabled_reason.setText(sentence)
        self.disabled_reason.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")
        self.disabled_reason.show()
        self.failed.emit(sentence)

    def reject(self) -> None:
        self.runner.invalidate(self._key)
        super().reject()
