"""The "Refund…" dialog for one payment: full, partial or pro-rata, the amount in the payment's
currency with live validation under it, a reason and a note.

The sentence under the amount is what ``core.refunds.service.preview_request`` says about the request
as it stands, computed in the pool a moment after the person stops typing. The dialog makes one
idempotency key when it opens and sends it with every submit, so a double-click, or a second
try after a timeout whose first try did commit, gets the same refund back instead of a second.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core import errors, money
from core.errors import PaydeskError
from core.money import format_money
from core.refunds import service as rf
from core.refunds.records import RefundView, RequestPreview
from core.refunds.request_form import PaymentInfo, payment_info, preview
from core.refunds.states import DEFAULT_REASONS, OTHER, OTHER_NEEDS_NOTE
from desktop.refunds.model import STATUS_NAMES
from desktop.shell import theme
from desktop.shell.named import named
from desktop.shell.views import AppServices

PREVIEW_DEBOUNCE_MS = 200
NOTE_OPTIONAL = "Note (optional)"
NOTE_REQUIRED = "Note (required)"


def form_style() -> str:
    """Styles for the form controls the shared style sheet leaves to the platform (radio
    buttons, multi-line notes), in the current scheme's colours."""
    c = {
        name: theme.colour(name).name()
        for name in ("base", "alt_base", "border", "border_strong", "accent", "text", "muted")
    }
    return (
        f"QPlainTextEdit {{ background: {c['base']}; color: {c['text']};"
        f" border: 1px solid {c['border_strong']}; border-radius: 6px; padding: 4px 6px; }}"
        f"QPlainTextEdit:focus {{ border: 1px solid {c['accent']}; }}"
        f"QRadioButton {{ spacing: 8px; padding: 2px 0; }}"
        f"QRadioButton:disabled {{ color: {c['muted']}; }}"
        f"QRadioButton::indicator {{ width: 14px; height: 14px; border-radius: 8px;"
        f" border: 1px solid {c['border_strong']}; background: {c['base']}; }}"
        f"QRadioButton::indicator:hover {{ border: 1px solid {c['accent']}; }}"
        f"QRadioButton::indicator:checked {{ border: 5px solid {c['accent']}; width: 6px; height: 6px; }}"
        f"QRadioButton::indicator:disabled {{ border: 1px solid {c['border']}; background: {c['alt_base']}; }}"
    )


def error_line(parent: QWidget) -> QLabel:
    """The hidden line under a refund form where ``show_error_line`` puts why a submit
    failed."""
    label = QLabel("", parent)
    label.setWordWrap(True)
    label.hide()
    return label


def show_error_line(label: QLabel, sentence: str) -> None:
    label.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")
    label.setText(sentence)
    label.show()


@dataclass(frozen=True)
class _Preview:
    """The answer for one state of the form: a preview, or the sentence refusing it."""

    token: int
    preview: RequestPreview | None
    sentence: str


class RefundDialog(QDialog):
    """Request a refund of one payment. ``submitted`` carries the refund once (a repeated
    submit that the idempotency key answered with the same refund does not emit again)."""

    loaded = Signal()
    previewed = Signal(str)  # the sentence now under the amount
    submitted = Signal(object)  # RefundView
    failed = Signal(str)

    def __init__(
        self, services: AppServices, payment_id: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.runner = services.runner
        self.ctx = services.ctx
        self.actor = services.ctx.default_actor()
        self.payment_id = payment_id
        # One key for the life of the dialog: every submit of it is the same request.
        self.idempotency_key = f"desk-{uuid.uuid4().hex}"
        self.info: PaymentInfo | None = None
        self.refund: RefundView | None = None
        self._token = 0  # bumps on every edit; a preview for an older token is ignored
        self._preview_ok: bool | None = None
        self._in_flight = 0
        self._partial_text = ""
        self._closed = False
        # Whether the person has typed an amount or chosen a kind: until then a refusal of
        # the empty form is not an error of theirs and is not shown.
        self._touched = False
        self._job_key = f"refund-dialog-{id(self)}"

        # Named by the payment: the amount to refund is what the person decides here.
        self.setWindowTitle(f"Refund {payment_id}")
        self.setMinimumWidth(520)
        self.setStyleSheet(form_style())
        self._build()
        self._set_enabled(False)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(PREVIEW_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._run_preview)
        self._load()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(22, 18, 22, 16)
        lay.setSpacing(6)

        self.heading = QLabel(f"Refund {self.payment_id}")
        self.heading.setStyleSheet("font-size: 13pt; font-weight: 700;")
        lay.addWidget(self.heading)
        self.subtitle = named(QLabel(f"{self.payment_id} · loading…"), "Muted")
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.subtitle)
        lay.addSpacing(6)

        card = named(QFrame(self), "DetailPane")
        card.setStyleSheet(
            "QFrame#DetailPane { border: 1px solid palette(mid); border-radius: 8px; }"
        )
        grid = QGridLayout(card)
        grid.setContentsMargins(14, 10, 14, 10)
        grid.setHorizontalSpacing(28)
        grid.setVerticalSpacing(2)
        self.figures: dict[str, QLabel] = {}
        for col, name in enumerate(("Paid", "Already refunded", "Still refundable")):
            caption = named(QLabel(name), "FieldName")
            value = named(QLabel("—"), "FieldValue")
            value.setStyleSheet("font-size: 11pt; font-weight: 600;")
            grid.addWidget(caption, 0, col)
            grid.addWidget(value, 1, col)
            self.figures[name] = value
        grid.setColumnStretch(3, 1)
        lay.addWidget(card)
        lay.addSpacing(8)

        lay.addWidget(self._caption("Refund"))
        self.kinds = QButtonGroup(self)
        self.full_radio = QRadioButton("Full: everything still refundable", self)
        self.partial_radio = QRadioButton("Partial: an amount you enter", self)
        self.pro_rata_radio = QRadioButton("Pro rata: the unused share of the subscription", self)
        for i, (radio, kind) in enumerate(
            (
                (self.full_radio, "full"),
                (self.partial_radio, "partial"),
                (self.pro_rata_radio, "pro_rata"),
            )
        ):
            radio.setProperty("kind", kind)
            self.kinds.addButton(radio, i)
            lay.addWidget(radio)
        self.partial_radio.setChecked(True)
        self.kinds.buttonToggled.connect(self._kind_toggled)
        self.pro_rata_note = named(QLabel(""), "Muted")
        self.pro_rata_note.setWordWrap(True)
        self.pro_rata_note.setContentsMargins(24, 0, 0, 0)
        lay.addWidget(self.pro_rata_note)
        lay.addSpacing(6)

        lay.addWidget(self._caption("Amount"))
        row = QHBoxLayout()
        row.setSpacing(6)
        self.currency_label = named(QLabel(""), "Muted")
        self.currency_label.setMinimumWidth(34)
        self.amount = QLineEdit(self)
        self.amount.setPlaceholderText("0.00")
        self.amount.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.amount.setMaximumWidth(200)
        self.amount.setAccessibleName("Amount")
        self.amount.setAccessibleDescription("The amount to refund, in the payment's currency")
        self.amount.textEdited.connect(lambda _t: self._edited())
        row.addWidget(self.currency_label)
        row.addWidget(self.amount)
        row.addStretch(1)
        lay.addLayout(row)
        self.validation = QLabel(" ", self)
        self.validation.setWordWrap(True)
        self.validation.setMinimumHeight(self.validation.fontMetrics().height() * 2 + 4)
        self.validation.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        lay.addWidget(self.validation)

        lay.addWidget(self._caption("Reason"))
        self.reason = QComboBox(self)
        # The policy's reasons replace these once the form data is loaded.
        self._set_reasons(DEFAULT_REASONS)
        self.reason.setAccessibleName("Reason")
        self.reason.setAccessibleDescription("Why the payment is refunded")
        self.reason.currentIndexChanged.connect(lambda _i: self._reason_changed())
        lay.addWidget(self.reason)
        lay.addSpacing(4)
        self.note_caption = self._caption(NOTE_OPTIONAL)
        lay.addWidget(self.note_caption)
        self.note = QPlainTextEdit(self)
        self.note.setTabChangesFocus(True)
        self.note.setPlaceholderText("Anything the approver should know")
        self.note.setFixedHeight(64)
        self.note.setAccessibleName("Note")
        self.note.setAccessibleDescription("Anything the approver should know (optional)")
        self.note.textChanged.connect(self._note_changed)
        lay.addWidget(self.note)
        # Why Request is off while "other" has no note: said where the person is typing.
        self.note_hint = named(QLabel(OTHER_NEEDS_NOTE), "Muted")
        self.note_hint.setWordWrap(True)
        self.note_hint.hide()
        lay.addWidget(self.note_hint)

        self.error = error_line(self)
        lay.addWidget(self.error)

        buttons = self.buttons = QDialogButtonBox(self)
        self.submit_button = buttons.addButton(
            "Request refund", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.submit_button.setObjectName("Primary")
        self.submit_button.setDefault(True)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        lay.addSpacing(6)
        lay.addWidget(buttons)

    def _set_reasons(self, reasons: dict[str, str]) -> None:
        """List ``reasons`` (code → label), keeping the chosen one when it is still listed."""
        chosen = self.reason.currentData()
        self.reason.blockSignals(True)
        self.reason.clear()
        for code, label in reasons.items():
            self.reason.addItem(label, code)
        at = self.reason.findData(chosen)
        self.reason.setCurrentIndex(max(at, 0))
        self.reason.blockSignals(False)

    def needs_note(self) -> bool:
        """Whether the chosen reason needs a note that is not typed yet."""
        return self.reason.currentData() == OTHER and not self.note.toPlainText().strip()

    def _reason_changed(self) -> None:
        other = self.reason.currentData() == OTHER
        self.note_caption.setText(NOTE_REQUIRED if other else NOTE_OPTIONAL)
        why = "Why the payment is refunded (required)"
        self.note.setPlaceholderText(why if other else "Anything the approver should know")
        self.note.setAccessibleDescription(
            why if other else "Anything the approver should know (optional)"
        )
        self._changed(preview=False)
        self._note_changed()

    def _note_changed(self) -> None:
        self.note_hint.setVisible(self.needs_note())
        self._update_submit()

    @staticmethod
    def _caption(text: str) -> QLabel:
        label = QLabel(text)
        label.setStyleSheet("font-weight: 600;")
        return label

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> None:
        services, pid, now = self.services, self.payment_id, self.ctx.clock.now()
        self.runner.submit(
            lambda: payment_info(services.ctx.db, pid, now),
            self._on_loaded,
            lambda exc: self._on_load_failed(errors.sentence(exc)),
            key=f"{self._job_key}-load",
        )

    def _on_load_failed(self, sentence: str) -> None:
        self.subtitle.setText(self.payment_id)
        self._show_error(sentence)
        self.loaded.emit()

    def _on_loaded(self, info: PaymentInfo) -> None:
        self.info = info
        cur = info.currency
        self.subtitle.setText(
            f"{info.merchant_name} · order {info.order_id} · paid {format_money(info.amount, cur)}"
        )
        self.figures["Paid"].setText(format_money(info.amount, cur))
        self.figures["Already refunded"].setText(format_money(info.refunded, cur))
        self.figures["Still refundable"].setText(format_money(info.refundable, cur))
        self.currency_label.setText(cur)
        self._set_reasons(info.reasons)
        self._reason_changed()
        exp = money.exponent(cur)
        self.amount.setPlaceholderText("0" if exp == 0 else "0." + "0" * exp)
        self.full_radio.setText(
            f"Full: everything still refundable ({format_money(info.refundable, cur)})"
        )
        q = info.quote
        if q.offered:
            self.pro_rata_radio.setText(
                f"Pro rata: the unused share ({format_money(q.amount, cur)})"
            )
            self.pro_rata_radio.setToolTip(q.explain())
        else:
            self.pro_rata_radio.setToolTip(q.why_not or "")
        self.pro_rata_radio.setEnabled(q.offered)
        self._set_enabled(info.refusal is None and info.refundable > 0)
        if info.refusal:
            self._show_error(info.refusal)
        elif info.refundable <= 0:
            self._show_error(f"Payment {info.id} has nothing left to refund.")
        self._kind_toggled()
        self.amount.setFocus()
        self.loaded.emit()

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.full_radio, self.partial_radio, self.amount, self.reason, self.note):
            w.setEnabled(enabled)
        if not enabled:
            self.pro_rata_radio.setEnabled(False)
        self._update_submit()

    # -- the form ------------------------------------------------------------------------------
    def kind(self) -> str:
        button = self.kinds.checkedButton()
        return str(button.property("kind")) if button is not None else "partial"

    def set_kind(self, kind: str) -> None:
        """Choose full, partial or pro rata, as clicking its button would (not when it is off)."""
        for button in self.kinds.buttons():
            if button.property("kind") == kind and button.isEnabled():
                button.setChecked(True)

    def _edited(self) -> None:
        self._touched = True
        self._changed()

    def _kind_toggled(self, *toggled: object) -> None:
        if toggled:
            self._touched = True  # a kind chosen (not the one the dialog opened on)
        info = self.info
        kind = self.kind()
        was_partial = not self.amount.isReadOnly()
        if was_partial and kind != "partial":
            self._partial_text = self.amount.text()  # given back when Partial is chosen again
        self.amount.setReadOnly(kind != "partial")
        if info is not None:
            cur = info.currency
            if kind == "full":
                self.amount.setText(format_money(info.refundable, cur, symbol=False))
            elif kind == "pro_rata":
                self.amount.setText(format_money(info.quote.amount, cur, symbol=False))
            elif not was_partial:
                self.amount.setText(self._partial_text)
            q = info.quote
            show = kind == "pro_rata" or (q.subscription_id is not None and not q.offered)
            self.pro_rata_note.setVisible(show)
            self.pro_rata_note.setText(q.explain() if q.offered else (q.why_not or ""))
            # Offered as the reason of a pro-rata refund while the policy lists it.
            pro_rata = self.reason.findData("pro_rata")
            by_customer = self.reason.currentData() == "requested_by_customer"
            if kind == "pro_rata" and pro_rata >= 0 and by_customer:
                self.reason.setCurrentIndex(pro_rata)
        else:
            self.pro_rata_note.hide()
        if kind == "partial":
            self.amount.setFocus()
        self._changed()

    def _changed(self, *, preview: bool = True) -> None:
        self.error.hide()
        if not preview:
            return
        self._token += 1
        self._preview_ok = None
        self._update_submit()
        if self.info is not None:
            self._debounce.start()

    def _run_preview(self) -> None:
        info = self.info
        if info is None:
            return
        token, kind, text = self._token, self.kind(), self.amount.text()
        db, pid, now = self.ctx.db, self.payment_id, self.ctx.clock.now()

        def work() -> _Preview:
            try:
                p = preview(db, pid, kind=kind, amount_text=text, now=now)
            except PaydeskError as exc:
                return _Preview(token, None, exc.message)
            left = p.refundable - p.amount
            sentence = (
                f"Refunds {format_money(p.amount, p.currency)}; "
                f"{format_money(left, p.currency)} stays refundable. "
                f"It {p.approval_note.replace('approved at once', 'is approved at once')}."
            )
            return _Preview(token, p, sentence)

        self.runner.submit(
            work, self._on_preview, self._on_preview_error, key=f"{self._job_key}-preview"
        )

    def _on_preview(self, result: _Preview) -> None:
        if result.token != self._token:
            return  # the person typed again meanwhile
        self._preview_ok = result.preview is not None
        colour = theme.colour("muted") if self._preview_ok else theme.status_colours("failed")[0]
        self.validation.setStyleSheet(f"color: {colour.name()};")
        untouched = not self._preview_ok and not self._touched
        self.validation.setText(" " if untouched else result.sentence)
        self._update_submit()
        self.previewed.emit(self.validation_text())

    def _on_preview_error(self, exc: BaseException) -> None:
        self._preview_ok = None
        self.validation.setText(errors.sentence(exc))
        self._update_submit()

    def validation_text(self) -> str:
        return self.validation.text().strip()

    def _update_submit(self) -> None:
        ready = (
            self.info is not None
            and self.info.refusal is None
            and self.info.refundable > 0
            and self._preview_ok is not False
            and self._in_flight == 0
            and self.refund is None
            and not self.needs_note()
        )
        self.submit_button.setEnabled(ready)

    # -- submitting ----------------------------------------------------------------------------
    def submit(self) -> None:
        """Send the request (in the pool) with this dialog's idempotency key. Safe to call
        again while one is in flight: the key makes it the same request."""
        info = self.info
        if info is None:
            return
        kind, text = self.kind(), self.amount.text()
        reason = self.reason.currentData()
        note = self.note.toPlainText()
        ctx, actor, key, pid, cur = (
            self.ctx,
            self.actor,
            self.idempotency_key,
            info.id,
            info.currency,
        )

        def work() -> RefundView:
            amount = money.parse_amount(text, cur) if kind == "partial" else None
            return rf.request_refund(
                ctx,
                actor,
                pid,
                amount=amount,
                kind=kind,
                reason=reason,
                note=note,
                idempotency_key=key,
            )

        self._in_flight += 1
        self.error.hide()
        self.submit_button.setText("Requesting…")
        self._update_submit()
        self.runner.submit(work, self._on_submitted, self._on_submit_failed)

    def _on_submitted(self, view: RefundView) -> None:
        self._in_flight -= 1
        if self.refund is not None or self._closed:
            return  # a repeated submit (the key gave back the same refund), or closed
        self.refund = view
        self.submitted.emit(view)
        self.accept()

    def _on_submit_failed(self, exc: BaseException) -> None:
        self._in_flight -= 1
        if self.refund is not None or self._closed:
            return  # another submit of the same request already succeeded, or closed
        self.submit_button.setText("Request refund")
        sentence = errors.sentence(exc)
        self._show_error(sentence)
        self._update_submit()
        self.failed.emit(sentence)

    def done(self, result: int) -> None:
        # Closed: answers still in flight have nobody to show them to.
        self._closed = True
        self._debounce.stop()
        self.runner.invalidate(f"{self._job_key}-load")
        self.runner.invalidate(f"{self._job_key}-preview")
        super().done(result)

    def _show_error(self, sentence: str) -> None:
        show_error_line(self.error, sentence)

    def result_text(self) -> str:
        """What happened, for a status bar: "Refund rfnd_… requested: awaiting approval."."""
        r = self.refund
        if r is None:
            return ""
        return f"Refund {r.id} of {r.amount_text} requested: {STATUS_NAMES.get(r.status, r.status).lower()}."


def open_refund_dialog(
    services: AppServices, payment_id: str, parent: QWidget | None = None
) -> RefundDialog:
    """Open the "Refund…" dialog for ``payment_id`` (window-modal, not blocking) and return it.
    Connect ``submitted`` to hear about the refund it created."""
    dialog = RefundDialog(services, payment_id, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
