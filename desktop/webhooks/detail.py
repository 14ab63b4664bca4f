"""The detail pane beside the Webhooks table: what was sent (the payload as formatted JSON,
selectable and copyable), every attempt to send it (time, how long it took, the answer or the
sentence saying why none came, and the body it answered, folded away until asked for), and
the Retry button with the service's reason when it is disabled."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.store.db import Database
from core.webhooks.deliveries import AttemptRow, WebhookDetail
from core.webhooks.listing import log_detail
from desktop.lists.detail_pane import DetailPane, field_grid, fill_fields
from desktop.shell import theme
from desktop.shell.named import named
from desktop.webhooks.model import STATUS_NAMES, next_retry_text

_PAYLOAD_MAX_LINES = 18
_BODY_MAX_LINES = 10
TRIGGER_NAMES = {"scheduled": "scheduled", "manual": "manual retry", "test": "test event"}


def load_webhook_detail(db: Database, log_id: str, now: datetime) -> WebhookDetail:
    """Read one log with its attempts and why Retry is refused, if it is (runs in the pool)."""
    return log_detail(db, log_id, now)


def _when(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S") if dt else "—"


def duration_text(ms: int | None) -> str:
    if ms is None:
        return "—"
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def attempt_line(a: AttemptRow) -> str:
    """``#2 · 2026-01-15 12:01:03 · 5.0 s · Timed out after 5 s``: one attempt on one line."""
    return f"#{a.number} · {_when(a.started_at)} · {duration_text(a.duration_ms)} · {a.summary}"


def _mono_edit(parent: QWidget) -> QPlainTextEdit:
    edit = QPlainTextEdit(parent)
    edit.setReadOnly(True)
    edit.setObjectName("Code")
    edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    edit.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return edit


def _fit_lines(edit: QPlainTextEdit, text: str, max_lines: int) -> None:
    """Tall enough for ``text`` up to ``max_lines`` lines; it scrolls beyond that."""
    lines = min(max_lines, max(1, text.count("\n") + 1))
    fm = QFontMetrics(edit.font())
    # Room for a horizontal scroll bar when a line is wider than the pane.
    edit.setFixedHeight(lines * fm.lineSpacing() + 16 + 12)


def code_style() -> str:
    """The monospace boxes (payload, bodies) and the pane's link-like buttons (Copy, Body)
    in the current scheme's colours."""
    c = {
        n: theme.colour(n).name()
        for n in ("alt_base", "border", "text", "accent", "accent_text", "hover", "muted")
    }
    return (
        f"QPlainTextEdit#Code {{ background: {c['alt_base']}; color: {c['text']};"
        f" border: 1px solid {c['border']}; border-radius: 6px; padding: 4px 6px;"
        f" selection-background-color: {c['accent']}; selection-color: #ffffff; }}"
        f"QToolButton#Link {{ border: none; background: transparent; color: {c['accent']};"
        f" padding: 2px 6px; min-height: 16px; font-weight: 600; }}"
        f"QToolButton#Link:hover {{ background: {c['hover']}; }}"
        f"QToolButton#Link:disabled {{ color: {c['muted']}; font-weight: 400; }}"
    )


class AttemptItem(QFrame):
    """One attempt: a line saying what happened, and its response body behind a toggle."""

    def __init__(self, attempt: AttemptRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attempt = attempt
        self.setObjectName("Attempt")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 4)
        lay.setSpacing(3)
        head = QHBoxLayout()
        head.setSpacing(8)
        ok = attempt.ok
        dot = QLabel("●" if ok else "✕", self)
        dot.setFixedWidth(14)
        dot.setStyleSheet(
            f"color: {theme.status_colours('success' if ok else 'failed')[0].name()};"
        )
        head.addWidget(dot, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.setSpacing(1)
        self.when = named(
            QLabel(
                f"#{attempt.number} · {_when(attempt.started_at)} · "
                f"{duration_text(attempt.duration_ms)}"
            ),
            "Muted",
        )
        by = TRIGGER_NAMES.get(attempt.trigger, attempt.trigger)
        if attempt.actor and attempt.trigger != "scheduled":
            by += f" by {attempt.actor}"
        self.when.setToolTip(
            f"{attempt.url}\n{by}" + (f" · {attempt.client}" if attempt.client else "")
        )
        text.addWidget(self.when)
        self.result = QLabel(attempt.summary, self)
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        colour = theme.status_colours("success" if ok else "failed")[0]
        self.result.setStyleSheet(f"color: {colour.name()}; font-weight: 600;")
        text.addWidget(self.result)
        if attempt.trigger != "scheduled":
            note = named(QLabel(by), "Muted")
            text.addWidget(note)
        head.addLayout(text, 1)
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("Link")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setText("Body")
        body = attempt.response_body
        self.toggle.setEnabled(bool(body))
        self.toggle.setToolTip("Show the response body" if body else "The answer had no body.")
        self.toggle.setAccessibleName(f"Response body of attempt {attempt.number}")
        self.toggle.setAccessibleDescription(self.toggle.toolTip())
        self.toggle.toggled.connect(self._toggled)
        head.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(head)
        self.body = _mono_edit(self)
        self.body.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.body.setPlainText(body or "")
        self.body.setAccessibleName(f"Response body of attempt {attempt.number}")
        _fit_lines(self.body, body or "", _BODY_MAX_LINES)
        self.body.hide()
        lay.addWidget(self.body)

    def _toggled(self, shown: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.body.setVisible(shown)

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def line(self) -> str:
        return attempt_line(self.attempt)


class WebhookDetailPane(DetailPane):
    """Shows a ``WebhookDetail``. ``closed`` when the person hides the pane,
    ``retryRequested(log_id)`` when they click Retry, ``message`` for the status bar."""

    retryRequested = Signal(str)
    message = Signal(str)
    # Retry was enabled or disabled, shown or hidden (the view's refusal key follows it).
    retryStateChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, min_width=380)
        self.data: WebhookDetail | None = None
        self.attempts: list[AttemptItem] = []
        self._may_retry = True
        self._busy = False
        self._loading = False
        self._now: datetime | None = None

        lay = self.body_layout

        actions = QHBoxLayout()
        actions.setContentsMargins(0, 8, 0, 0)
        self.retry_button = QPushButton(theme.icon("refresh"), "Retry now", self)
        self.retry_button.setObjectName("Primary")
        self.retry_button.clicked.connect(self._retry_clicked)
        self.retry_button.setAccessibleName("Retry now")
        actions.addWidget(self.retry_button)
        actions.addStretch(1)
        lay.addLayout(actions)
        # The reason Retry is disabled, readable without hovering.
        self.retry_reason = named(QLabel(""), "Muted")
        self.retry_reason.setAccessibleName("Why Retry is unavailable")
        self.retry_reason.setWordWrap(True)
        self.retry_reason.hide()
        lay.addWidget(self.retry_reason)

        lay.addWidget(named(QLabel("DELIVERY"), "SectionTitle"))
        self.grid = field_grid()
        lay.addLayout(self.grid)

        payload_head = QHBoxLayout()
        payload_head.addWidget(named(QLabel("PAYLOAD"), "SectionTitle"))
        payload_head.addStretch(1)
        self.copy_button = QToolButton(self)
        self.copy_button.setObjectName("Link")
        self.copy_button.setIcon(theme.icon("copy"))
        self.copy_button.setText("Copy")
        self.copy_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.copy_button.setAutoRaise(True)
        self.copy_button.setToolTip("Copy the payload as formatted JSON")
        self.copy_button.setAccessibleName("Copy the payload")
        self.copy_button.setAccessibleDescription(self.copy_button.toolTip())
        self.copy_button.clicked.connect(self.copy_payload)
        payload_head.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignBottom)
        lay.addLayout(payload_head)
        self.payload = _mono_edit(self)
        self.payload.setAccessibleName("Payload")
        self.payload.setAccessibleDescription("The exact JSON sent, formatted; select to copy")
        lay.addWidget(self.payload)

        self.attempts_title = named(QLabel("ATTEMPTS"), "SectionTitle")
        lay.addWidget(self.attempts_title)
        self.timeline = QVBoxLayout()
        self.timeline.setSpacing(0)
        lay.addLayout(self.timeline)
        self.no_attempts = named(QLabel("Not attempted yet."), "Muted")
        lay.addWidget(self.no_attempts)
        lay.addStretch(1)
        self.restyle()

    def restyle(self) -> None:
        """Re-read the scheme's colours (the pane's own styles are not in the shared sheet)."""
        self.setStyleSheet(
            code_style()
            + f"QFrame#Attempt {{ border-bottom: 1px solid {theme.colour('border_faint').name()}; }}"
        )

    # -- showing ---------------------------------------------------------------------------
    def set_may_retry(self, allowed: bool) -> None:
        """Whether this person's role may retry at all: the button is not offered otherwise."""
        self._may_retry = allowed
        self.retry_button.setVisible(allowed)
        self._update_retry()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_retry()

    def show_loading(self, log_id: str) -> None:
        self.data = None
        self._loading = True
        self.subtitle.setText(f"{log_id} · loading…")
        self._update_retry()

    def clear(self) -> None:
        """The pane was closed: it holds no delivery, so Retry (and its menu item) has none."""
        self.data = None
        self._loading = False
        self._update_retry()

    def show_error(self, message: str) -> None:
        self.subtitle.setText(message)

    def show_detail(self, d: WebhookDetail, now: datetime) -> None:
        """Fill the pane; attempts that were unfolded stay unfolded and the scroll position
        stays where it was when the same log is shown again (a live update)."""
        same = self.data is not None and self.data.row.id == d.row.id
        expanded = {a.attempt.number for a in self.attempts if a.expanded} if same else set()
        scroll = self.scroll_area.verticalScrollBar().value() if same else 0
        payload_scroll = self.payload.verticalScrollBar().value() if same else 0
        self.data = d
        self._loading = False
        self._now = now
        r = d.row
        self.title.setText(r.event)
        self.badge.set_status(r.status, STATUS_NAMES.get(r.status, r.status))
        self.subtitle.setText(f"{r.id} · {d.merchant_name}")
        self._fill_grid(self._fields(d, now))
        pretty = d.payload_pretty
        if self.payload.toPlainText() != pretty:
            self.payload.setPlainText(pretty)
            _fit_lines(self.payload, pretty, _PAYLOAD_MAX_LINES)
        self.payload.verticalScrollBar().setValue(payload_scroll)

        # Newest first: the answer that matters now is at the top.
        newest_first = list(reversed(d.attempts))
        if not same or [a.attempt for a in self.attempts] != newest_first:
            # Attempts never change once written, so a live update that brings none keeps the
            # items (and whatever the person has unfolded) exactly as they are.
            for item in self.attempts:
                self.timeline.removeWidget(item)
                item.deleteLater()
            self.attempts = []
            for a in newest_first:
                item = AttemptItem(a, self)
                if a.number in expanded:
                    item.toggle.setChecked(True)
                self.timeline.addWidget(item)
                self.attempts.append(item)
        self.attempts_title.setText(f"ATTEMPTS ({len(d.attempts)})")
        self.no_attempts.setVisible(not d.attempts)
        self._update_retry()
        self.scroll_area.verticalScrollBar().setValue(scroll)

    def _fields(self, d: WebhookDetail, now: datetime) -> list[tuple[str, str]]:
        r = d.row
        endpoint = d.webhook_url or "No endpoint set"
        if d.webhook_url and not d.endpoint_enabled:
            endpoint += " (disabled)"
        fields = [
            ("Merchant", f"{d.merchant_name} ({r.merchant_id})"),
            ("Endpoint", endpoint),
            ("Created", _when(r.created_at)),
            ("Attempts", str(r.attempts)),
        ]
        if r.entity_id:
            fields.append(("About", r.entity_id))
        if r.status == "pending" and r.next_retry_at is not None:
            fields.append(("Next retry", f"{next_retry_text(r, now)} · {_when(r.next_retry_at)}"))
        if r.last_attempt_at:
            fields.append(("Last attempt", _when(r.last_attempt_at)))
        if r.last_error and r.status != "success":
            fields.append(("Last error", r.last_error))
        return fields

    def _fill_grid(self, fields: list[tuple[str, str]]) -> None:
        self.values = fill_fields(self.grid, fields)
        error = self.values.get("Last error")
        if error is not None:
            error.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")

    def _update_retry(self) -> None:
        d = self.data
        if d is None:
            enabled, why = False, "Loading…" if self._loading else "Select a delivery to retry it."
        elif d.retry_refusal:
            enabled, why = False, d.retry_refusal
        elif self._busy:
            enabled, why = False, "Working…"
        else:
            enabled, why = True, f"Send {d.row.id} again now (a new round of the schedule)"
        self.retry_button.setEnabled(enabled)
        self.retry_button.setToolTip(why)
        self.retry_button.setAccessibleDescription(why)
        show_reason = self._may_retry and d is not None and bool(d.retry_refusal)
        self.retry_reason.setText((d.retry_refusal or "") if d is not None else "")
        self.retry_reason.setStyleSheet("")
        self.retry_reason.setVisible(show_reason)
        self.retryStateChanged.emit()

    def say_refused(self, why: str) -> None:
        """Retry's key was pressed while Retry is off: the reason, in the failure colour,
        under the button (it stays until the pane shows another state)."""
        self.retry_reason.setText(why)
        colour = theme.status_colours("failed")[0].name()
        self.retry_reason.setStyleSheet(f"color: {colour}; font-weight: 600;")
        self.retry_reason.show()

    # -- actions ---------------------------------------------------------------------------
    def _retry_clicked(self) -> None:
        if self.data is not None and self.retry_button.isEnabled():
            self.retryRequested.emit(self.data.row.id)

    def copy_payload(self) -> None:
        if self.data is None:
            return
        QGuiApplication.clipboard().setText(self.data.payload_pretty)
        self.message.emit(f"Copied the payload of {self.data.row.id}")

    # -- reading (tests, screenshots) --------------------------------------------------------
    def value(self, name: str) -> str:
        label = self.values.get(name)
        return label.text() if label is not None else ""

    def attempt_lines(self) -> list[str]:
        """Each attempt as one line, newest first."""
        return [a.line() for a in self.attempts]
