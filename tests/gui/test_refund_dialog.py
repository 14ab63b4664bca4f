"""The "Refund…" dialog: live validation under the amount (the service's own sentence), full,
partial and pro-rata, and one refund however often Submit is pressed. On both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from core.access import policy
from core.context import Context
from core.refunds import queries as rq
from core.refunds import service as rf
from core.store.models import Refund
from desktop.refunds.dialog import RefundDialog, open_refund_dialog
from desktop.shell.views import AppServices
from tests.gui.conftest import app_services
from tests.test_refunds import T0, add_payment, add_staff, add_subscription, count, request

pytestmark = pytest.mark.gui


@pytest.fixture
def me(ctx: Context, monkeypatch) -> str:
    """The person at the keyboard: alice, in support (who requests refunds)."""
    add_staff(ctx)
    monkeypatch.setattr(ctx, "default_actor", lambda: "alice")
    return "alice"


@pytest.fixture
def services(ctx: Context, me: str, qtbot) -> Iterator[AppServices]:
    with app_services(ctx, changes=False) as services:
        yield services


def open_dialog(qtbot, services: AppServices, payment_id: str) -> RefundDialog:
    dialog = open_refund_dialog(services, payment_id)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.info is not None or dialog.error.isVisible())
    return dialog


def typed(qtbot, dialog: RefundDialog, text: str) -> str:
    """Type ``text`` into the amount and wait for the sentence under it."""
    dialog.amount.selectAll()
    qtbot.keyClick(dialog.amount, Qt.Key.Key_Delete)
    with qtbot.waitSignal(dialog.previewed, timeout=5000) as signal:
        qtbot.keyClicks(dialog.amount, text)
    assert signal.args[0] == dialog.validation_text()
    return dialog.validation_text()


def refunds_of(ctx: Context, payment_id: str) -> int:
    return count(ctx, Refund, Refund.payment_id == payment_id)


# -- live validation ---------------------------------------------------------------------------


def test_inr_amount_with_three_decimals_is_refused_under_the_field(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000, currency="INR")
    dialog = open_dialog(qtbot, services, pid)
    assert dialog.currency_label.text() == "INR"
    assert typed(qtbot, dialog, "12.345") == (
        "INR amounts have at most 2 decimal places; '12.345' has more."
    )
    assert not dialog.submit_button.isEnabled()


def test_valid_amount_shows_what_stays_refundable_and_whether_it_needs_approval(
    qtbot, ctx, services
):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    assert dialog.figures["Still refundable"].text() == "₹1,000.00"
    assert typed(qtbot, dialog, "12.50") == (
        "Refunds ₹12.50; ₹987.50 stays refundable. "
        "It needs approval (no threshold for this currency)."
    )
    assert dialog.submit_button.isEnabled()


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("0", "The amount must be greater than zero."),
        ("-5", "The amount must be greater than zero."),
        ("abc", "'abc' is not an amount."),
        ("", "A partial refund needs an amount."),
        ("1000.01", "The refund of ₹1,000.01 exceeds the ₹1,000.00 still refundable on payment"),
    ],
)
def test_bad_amounts_get_the_services_sentence(qtbot, ctx, services, text, sentence):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    if text:
        assert typed(qtbot, dialog, text).startswith(sentence)
    else:
        with qtbot.waitSignal(dialog.previewed, timeout=5000):
            qtbot.keyClicks(dialog.amount, "1")
            qtbot.keyClick(dialog.amount, Qt.Key.Key_Backspace)
        assert dialog.validation_text() == sentence
    assert not dialog.submit_button.isEnabled()


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            "1,50",
            "'1,50' is not an amount: a ',' only separates groups of three digits (1,500.00), "
            "and the decimal point is '.'.",
        ),
        ("１２", "'１２' is not an amount: type the digits 0-9."),
        ("١٢", "'١٢' is not an amount: type the digits 0-9."),
        ("1e999999999", "'1e999999999' is not an amount."),
    ],
)
def test_what_the_services_refuse_as_an_amount_is_refused_here_and_creates_nothing(
    qtbot, ctx, services, text, sentence
):
    pid = add_payment(ctx, amount=100_000, currency="USD")
    dialog = open_dialog(qtbot, services, pid)
    if text.isascii():
        assert typed(qtbot, dialog, text) == sentence
    else:
        # As another keyboard layout types them: key events carrying the character.
        with qtbot.waitSignal(dialog.previewed, timeout=5000):
            for ch in text:
                for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                    event = QKeyEvent(kind, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier, ch)
                    QApplication.sendEvent(dialog.amount, event)
        assert dialog.amount.text() == text
        assert dialog.validation_text() == sentence
    assert not dialog.submit_button.isEnabled()
    # Submitting anyway (Enter before the sentence arrived) is refused with the same sentence.
    with qtbot.waitSignal(dialog.failed, timeout=5000) as signal:
        dialog.submit()
    assert signal.args[0] == sentence
    assert refunds_of(ctx, pid) == 0


def test_a_thousands_separator_in_its_place_is_read(qtbot, ctx, services):
    pid = add_payment(ctx, amount=500_000, currency="USD")
    dialog = open_dialog(qtbot, services, pid)
    assert typed(qtbot, dialog, "1,500.00").startswith("Refunds $1,500.00; $3,500.00 stays")


def test_yen_has_no_minor_unit(qtbot, ctx, services):
    pid = add_payment(ctx, amount=10_000, currency="JPY")
    dialog = open_dialog(qtbot, services, pid)
    assert dialog.amount.placeholderText() == "0"
    assert typed(qtbot, dialog, "1.5") == "JPY has no minor unit; enter a whole amount."


def test_unknown_and_failed_payments_cannot_be_refunded(qtbot, ctx, services):
    dialog = open_dialog(qtbot, services, "pay_nope")
    assert dialog.error.text() == "There is no payment pay_nope."
    assert not dialog.submit_button.isEnabled()
    failed = add_payment(ctx, status="failed")
    dialog = open_dialog(qtbot, services, failed)
    qtbot.waitUntil(lambda: dialog.info is not None)
    assert dialog.error.text().endswith("only a successful, captured payment can be refunded.")
    assert not dialog.submit_button.isEnabled() and not dialog.amount.isEnabled()


# -- submitting ---------------------------------------------------------------------------------


def test_submit_requests_the_refund_and_closes(qtbot, ctx, services, me):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    typed(qtbot, dialog, "25")
    dialog.reason.setCurrentIndex(dialog.reason.findData("duplicate"))
    qtbot.keyClicks(dialog.note, "charged twice")
    with qtbot.waitSignal(dialog.submitted, timeout=5000) as signal:
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    refund = signal.args[0]
    assert (refund.amount, refund.kind, refund.reason, refund.note) == (
        2_500,
        "partial",
        "duplicate",
        "charged twice",
    )
    assert refund.requested_by == me and refund.status == "pending_approval"
    assert refund.idempotency_key == dialog.idempotency_key


def test_double_submit_creates_one_refund(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    typed(qtbot, dialog, "10")
    heard = []
    dialog.submitted.connect(heard.append)
    # A double-click: the second click lands before the first answer is back.
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    # And a second submit that gets past the disabled button (a retry while the first runs).
    dialog.submit()
    qtbot.waitUntil(lambda: services.runner.in_flight == 0 and len(heard) == 1)
    assert refunds_of(ctx, pid) == 1
    with ctx.db.read() as s:
        assert rq.refundable(s, pid) == 99_000


def test_retry_after_a_timeout_gets_the_refund_the_first_try_made(qtbot, ctx, services, me):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    typed(qtbot, dialog, "10")
    # The first try committed but its answer never arrived: the same request with the key.
    first = rf.request_refund(
        ctx,
        me,
        pid,
        amount=1_000,
        kind="partial",
        reason="requested_by_customer",
        note="",
        idempotency_key=dialog.idempotency_key,
    )
    with qtbot.waitSignal(dialog.submitted, timeout=5000) as signal:
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert signal.args[0].id == first.id
    assert refunds_of(ctx, pid) == 1


def test_a_refused_submit_shows_the_sentence_and_can_be_corrected(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    typed(qtbot, dialog, "900")
    request(ctx, pid, actor="carol", amount=50_000)  # someone else got there first
    with qtbot.waitSignal(dialog.failed, timeout=5000) as signal:
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert re.fullmatch(
        r"The refund of ₹900\.00 exceeds the ₹500\.00 still refundable on payment pay_\w+\.",
        signal.args[0],
    )
    assert dialog.error.text() == signal.args[0] and dialog.isVisible()
    typed(qtbot, dialog, "400")
    with qtbot.waitSignal(dialog.submitted, timeout=5000) as done:
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert done.args[0].amount == 40_000
    assert refunds_of(ctx, pid) == 2


def test_full_refund_fills_in_what_remains(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000)
    request(ctx, pid, actor="carol", amount=30_000)
    dialog = open_dialog(qtbot, services, pid)
    with qtbot.waitSignal(dialog.previewed, timeout=5000):
        qtbot.mouseClick(dialog.full_radio, Qt.MouseButton.LeftButton)
    assert dialog.amount.text() == "700.00" and dialog.amount.isReadOnly()
    assert dialog.validation_text().startswith("Refunds ₹700.00; ₹0.00 stays refundable.")
    with qtbot.waitSignal(dialog.submitted, timeout=5000) as signal:
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert (signal.args[0].kind, signal.args[0].amount) == ("full", 70_000)


def test_pro_rata_shows_the_computation_and_requests_it(qtbot, ctx, services):
    pid = add_payment(ctx, amount=30_000)
    add_subscription(ctx, pid, start=T0 - timedelta(days=10), end=T0 + timedelta(days=20))
    dialog = open_dialog(qtbot, services, pid)
    assert dialog.pro_rata_radio.isEnabled()
    with qtbot.waitSignal(dialog.previewed, timeout=5000):
        qtbot.mouseClick(dialog.pro_rata_radio, Qt.MouseButton.LeftButton)
    assert dialog.amount.text() == "200.00"  # 20 of 30 days unused
    assert dialog.pro_rata_note.isVisible()
    assert dialog.pro_rata_note.text() == (
        "₹300.00 × 1,728,000 s unused ÷ 2,592,000 s in the period = ₹200.00 (rounded down)."
    )
    assert dialog.reason.currentData() == "pro_rata"
    with qtbot.waitSignal(dialog.submitted, timeout=5000) as signal:
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert (signal.args[0].kind, signal.args[0].amount) == ("pro_rata", 20_000)


def test_pro_rata_outside_the_window_is_not_offered_and_says_why(qtbot, ctx, services):
    pid = add_payment(ctx, amount=30_000)
    add_subscription(ctx, pid, start=T0 - timedelta(days=40), end=T0 + timedelta(days=10))
    dialog = open_dialog(qtbot, services, pid)
    assert not dialog.pro_rata_radio.isEnabled()
    assert dialog.pro_rata_radio.toolTip().startswith("The refund window of subscription")
    assert dialog.pro_rata_note.isVisible()
    assert "closed on" in dialog.pro_rata_note.text()


# -- what the person reads first -------------------------------------------------------------------


def test_the_dialog_is_named_by_its_payment_and_shows_no_error_before_typing(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    assert dialog.windowTitle() == f"Refund {pid}"
    assert dialog.heading.text() == f"Refund {pid}"
    assert "₹1,000.00" not in dialog.windowTitle() + dialog.heading.text()
    assert "paid ₹1,000.00" in dialog.subtitle.text()
    # The empty form's refusal is not the person's error: it waits until they type.
    qtbot.wait(dialog._debounce.interval() * 3)
    services.runner.wait(5_000)
    QApplication.processEvents()
    assert dialog.validation_text() == "" and not dialog.error.isVisible()
    assert not dialog.submit_button.isEnabled()
    assert typed(qtbot, dialog, "abc") == "'abc' is not an amount."


def test_enter_requests_the_refund_and_cancel_is_the_standard_cancel(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    assert dialog.submit_button.isDefault() and dialog.submit_button.text() == "Request refund"
    assert (
        dialog.buttons.standardButton(dialog.cancel_button)
        == dialog.buttons.StandardButton.Cancel
    )
    typed(qtbot, dialog, "12.50")
    with qtbot.waitSignal(dialog.submitted, timeout=5000) as signal:
        qtbot.keyClick(dialog.amount, Qt.Key.Key_Return)
    assert signal.args[0].amount == 1_250
    assert refunds_of(ctx, pid) == 1


def test_cancel_closes_without_a_refund(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    typed(qtbot, dialog, "5")
    with qtbot.waitSignal(dialog.rejected, timeout=5000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert refunds_of(ctx, pid) == 0


# -- reasons -----------------------------------------------------------------------------------


def reason_labels(dialog: RefundDialog) -> list[str]:
    return [dialog.reason.itemText(i) for i in range(dialog.reason.count())]


def test_other_needs_a_note_before_request_is_enabled(qtbot, ctx, services, me):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    typed(qtbot, dialog, "25")
    assert dialog.note_caption.text() == "Note (optional)" and dialog.submit_button.isEnabled()
    dialog.reason.setFocus()
    qtbot.keyClick(dialog.reason, Qt.Key.Key_End)  # the last reason: Other
    assert dialog.reason.currentText() == "Other (say why in the note)"
    assert dialog.note_caption.text() == "Note (required)"
    assert dialog.note_hint.isVisible()
    assert dialog.note_hint.text() == "A refund for another reason needs a note saying why."
    assert not dialog.submit_button.isEnabled()
    qtbot.keyClicks(dialog.note, "   ")  # blanks are no note
    assert not dialog.submit_button.isEnabled() and dialog.note_hint.isVisible()
    qtbot.keyClicks(dialog.note, "Goodwill after a late delivery")
    assert dialog.submit_button.isEnabled() and not dialog.note_hint.isVisible()
    with qtbot.waitSignal(dialog.submitted, timeout=5000) as signal:
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    refund = signal.args[0]
    assert (refund.reason, refund.note) == ("other", "Goodwill after a late delivery")
    assert refunds_of(ctx, pid) == 1


def test_choosing_another_reason_again_makes_the_note_optional(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    typed(qtbot, dialog, "25")
    dialog.reason.setFocus()
    qtbot.keyClick(dialog.reason, Qt.Key.Key_End)
    assert not dialog.submit_button.isEnabled()
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Home)  # Requested by the customer
    assert dialog.reason.currentData() == "requested_by_customer"
    assert dialog.note_caption.text() == "Note (optional)" and not dialog.note_hint.isVisible()
    assert dialog.submit_button.isEnabled()


def test_the_reasons_are_the_policys(qtbot, ctx, services):
    policy.set_value(
        ctx, "root", "refund_reasons", "goodwill:Goodwill gesture,duplicate:Charged twice,other"
    )
    pid = add_payment(ctx, amount=100_000)
    dialog = open_dialog(qtbot, services, pid)
    assert reason_labels(dialog) == ["Goodwill gesture", "Charged twice", "Other"]
    typed(qtbot, dialog, "10")
    assert dialog.submit_button.isEnabled()
    with qtbot.waitSignal(dialog.submitted, timeout=5000) as signal:
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert signal.args[0].reason == "goodwill"
