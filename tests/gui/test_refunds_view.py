"""The Refunds view driven as a person would: the queue, the detail pane, Approve / Reject /
Cancel / Retry, multi-approve, and live updates when refunds are processed. On both databases.

The person at the keyboard is ``ctx.default_actor()``, pinned to a name on the staff list (on
Postgres the test login owns the schema, so it may act for staff-list names). The other people
of the four-eyes pair act through the services.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from core.access import roles
from core.context import Context
from core.refunds import processing as proc
from core.refunds import queries as rq
from core.refunds import service as rf
from desktop.refunds.model import COLUMN
from desktop.refunds.view import RefundsView
from desktop.shell.views import AppServices
from tests.gui.conftest import app_services
from tests.test_refunds import add_payment, add_staff, request

pytestmark = pytest.mark.gui


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def me(ctx: Context, monkeypatch) -> str:
    """Staff as in the core tests; the person at the keyboard is bob, in finance."""
    add_staff(ctx)
    monkeypatch.setattr(ctx, "default_actor", lambda: "bob")
    return "bob"


@pytest.fixture
def services(ctx: Context, me: str, qtbot) -> Iterator[AppServices]:
    with app_services(ctx) as services:
        yield services


def open_view(qtbot, services: AppServices) -> RefundsView:
    view = RefundsView(services)
    qtbot.addWidget(view)
    view.resize(1400, 760)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded)
    return view


def status_text(view: RefundsView, refund_id: str) -> str:
    row = view.model.row_of(refund_id)
    assert row is not None, f"{refund_id} is not shown"
    return view.model.index(row, COLUMN["status"]).data()


def click_row(qtbot, view: RefundsView, refund_id: str, modifier=Qt.KeyboardModifier.NoModifier):
    row = view.model.row_of(refund_id)
    assert row is not None
    rect = view.table.visualRect(view.model.index(row, COLUMN["id"]))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def select(qtbot, view: RefundsView, refund_id: str) -> None:
    """Click a refund's row and wait until the buttons know what this person may do with it."""
    click_row(qtbot, view, refund_id)
    qtbot.waitUntil(
        lambda: (
            view.detail.data is not None
            and view.detail.data.refund.id == refund_id
            and view.approve_button.toolTip() != "Checking…"
        )
    )


def message_button(box: QMessageBox, text: str) -> QPushButton:
    return next(b for b in box.buttons() if b.text() == text)


def other_requests(ctx: Context, n: int, *, currency: str = "INR", amount: int = 10_000):
    """``n`` pending refunds requested by carol, each a minute after the last."""
    made = []
    for _ in range(n):
        pid = add_payment(ctx, amount=100_000, currency=currency)
        made.append(request(ctx, pid, actor="carol", amount=amount))
        ctx.clock.advance(timedelta(minutes=1))
    return made


# -- the queue ---------------------------------------------------------------------------------


def test_finance_sees_the_awaiting_approval_queue_by_default(qtbot, ctx, services):
    waiting = other_requests(ctx, 2)
    decided = other_requests(ctx, 1)[0]
    rf.approve(ctx, "dave", decided.id)
    view = open_view(qtbot, services)
    assert view.status_combo.currentText() == "Awaiting approval"
    assert {r.id for r in view.model.rows()} == {r.id for r in waiting}
    # Newest first, every column filled in the person's terms.
    first = view.model.rows()[0]
    assert first.id == waiting[-1].id
    cells = {key: view.model.index(0, col).data() for key, col in COLUMN.items()}
    assert cells["amount"] == "₹100.00" and cells["kind"] == "Partial"
    assert cells["reason"] == "Customer asked" and cells["requested_by"] == "carol"
    assert cells["status"] == "Awaiting approval" and cells["merchant"] == "Test Shop"
    assert cells["age"] == "2 min"
    assert view.counter.text() == "2 shown"


def test_support_staff_start_on_all_refunds_without_decision_buttons(qtbot, ctx, services, me):
    roles.set_staff_role(ctx, "root", me, "support")
    other_requests(ctx, 1)
    view = open_view(qtbot, services)
    assert view.status_combo.currentText() == "All statuses"
    assert view.approve_button.isHidden() and view.reject_button.isHidden()
    assert not view.cancel_button.isHidden()


def test_filters_and_search_narrow_the_queue(qtbot, ctx, services):
    inr = other_requests(ctx, 2)
    usd = other_requests(ctx, 1, currency="USD")[0]
    view = open_view(qtbot, services)
    qtbot.keyClicks(view.search, usd.payment_id)
    qtbot.waitUntil(lambda: [r.id for r in view.model.rows()] == [usd.id])
    view.search.clear()
    qtbot.keyClicks(view.search, inr[0].id)
    qtbot.waitUntil(lambda: [r.id for r in view.model.rows()] == [inr[0].id])
    view.search.clear()
    view.age_combo.setCurrentText("Over 1 day")
    qtbot.waitUntil(
        lambda: view.model.rowCount() == 0 and view.pages.currentWidget() is view.empty_page
    )
    assert view.empty_title.text() == "No refunds match"
    view.age_combo.setCurrentText("Any age")
    view.kind_combo.setCurrentText("Full")
    qtbot.waitUntil(lambda: view.model.rowCount() == 0)
    view.clear_button.click()
    qtbot.waitUntil(lambda: view.model.rowCount() == 3)
    assert view.status_combo.currentText() == "All statuses"


def test_the_queue_loads_more_rows_as_the_person_scrolls(qtbot, ctx, services):
    pid = add_payment(ctx, amount=10_000_000)
    for _ in range(rq.PAGE_SIZE + 30):
        request(ctx, pid, actor="carol", amount=100)
        ctx.clock.advance(1)
    view = open_view(qtbot, services)
    assert view.model.rowCount() == rq.PAGE_SIZE and view.model.has_more
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: view.model.rowCount() == rq.PAGE_SIZE + 30)
    assert not view.model.has_more


# -- detail pane and what this person may do -----------------------------------------------------


def test_detail_shows_payment_refundable_siblings_and_audit_trail(qtbot, ctx, services):
    pid = add_payment(ctx, amount=100_000)
    first = request(ctx, pid, actor="carol", amount=30_000)
    ctx.clock.advance(60)
    second = request(ctx, pid, actor="alice", amount=20_000, note="wrong size")
    view = open_view(qtbot, services)
    select(qtbot, view, second.id)
    pane = view.detail
    assert pane.title.text() == "₹200.00" and pane.badge.text() == "Awaiting approval"
    assert pane.value("Payment") == pid
    assert pane.value("Refundable") == "₹500.00"  # 1,000 − 300 − 200
    assert pane.value("Note") == "wrong size"
    siblings = pane.sibling_lines()
    assert len(siblings) == 2 and first.id in siblings[0] and not siblings[0].startswith("▸")
    assert siblings[1].startswith("▸ ₹200.00 · Awaiting approval") and second.id in siblings[1]
    assert any("alice · Refund requested" in line for line in pane.audit_lines())
    assert not pane.pro_rata.isVisible()


def test_requester_sees_approve_disabled_with_the_reason(qtbot, ctx, services, me):
    pid = add_payment(ctx)
    mine = request(ctx, pid, actor=me, amount=5_000)
    view = open_view(qtbot, services)
    select(qtbot, view, mine.id)
    assert not view.approve_button.isEnabled() and not view.reject_button.isEnabled()
    assert view.approve_button.toolTip() == (
        f"You requested refund {mine.id}; someone else must approve or reject it."
    )
    # The requester may withdraw it instead.
    assert view.cancel_button.isEnabled()


def test_approve_changes_the_status_in_place(qtbot, ctx, services, me):
    theirs = other_requests(ctx, 2)
    view = open_view(qtbot, services)
    select(qtbot, view, theirs[0].id)
    assert view.approve_button.isEnabled()
    assert view.approve_button.toolTip() == f"Approve refund {theirs[0].id} (Ctrl+Return)"
    assert "Ctrl+Backspace" in view.reject_button.toolTip()
    qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status_text(view, theirs[0].id) == "Approved")
    # Still on screen and still selected, now with who decided it.
    assert [r.id for r in view.selected_refunds()] == [theirs[0].id]
    qtbot.waitUntil(lambda: view.detail.value("Decided by").startswith(f"{me} · "))
    assert view.approve_button.toolTip().startswith(
        f"Refund {theirs[0].id} was already approved by {me}"
    )
    with ctx.db.read() as s:
        assert rq.get(s, theirs[0].id).decided_by == me


def test_approve_keyboard_shortcut(qtbot, ctx, services):
    theirs = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow)
    select(qtbot, view, theirs.id)
    qtbot.keyClick(view.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: status_text(view, theirs.id) == "Approved")


def test_reject_asks_for_a_note_and_refuses_an_empty_one(qtbot, ctx, services):
    theirs = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    select(qtbot, view, theirs.id)
    qtbot.mouseClick(view.reject_button, Qt.MouseButton.LeftButton)
    dialog = view.reject_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.mouseClick(dialog.reject_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error.text() == "A rejection needs a note saying why.")
    assert dialog.isVisible() and status_text(view, theirs.id) == "Awaiting approval"
    qtbot.keyClicks(dialog.note, "Customer kept the goods")
    qtbot.mouseClick(dialog.reject_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status_text(view, theirs.id) == "Rejected")
    assert view.reject_dialog is None
    with ctx.db.read() as s:
        assert rq.get(s, theirs.id).decision_note == "Customer kept the goods"


def test_loser_of_a_concurrent_decision_sees_who_won(qtbot, ctx, services):
    services.changes = None  # the other person's approval is not seen before the click
    theirs = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    select(qtbot, view, theirs.id)
    assert view.approve_button.isEnabled()
    winner = rf.approve(ctx, "dave", theirs.id)
    qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    expected = rf.already_decided(winner)
    assert expected.startswith(f"Refund {theirs.id} was already approved by dave at ")
    qtbot.waitUntil(lambda: view.banner.isVisible() and view.banner_text.text() == expected)
    qtbot.waitUntil(lambda: status_text(view, theirs.id) == "Approved")
    with ctx.db.read() as s:
        assert rq.get(s, theirs.id).decided_by == "dave"


def test_requester_cancels_their_own_request_after_confirming(qtbot, ctx, services, me):
    pid = add_payment(ctx)
    mine = request(ctx, pid, actor=me, amount=5_000)
    view = open_view(qtbot, services)
    select(qtbot, view, mine.id)
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    box = view.confirm_box
    assert box is not None and "₹50.00" in box.text()
    qtbot.mouseClick(message_button(box, "Withdraw request"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status_text(view, mine.id) == "Cancelled")
    with ctx.db.read() as s:
        assert rq.refundable(s, pid) == 100_000


def test_retry_puts_a_failed_refund_back_to_approved(qtbot, ctx, services, monkeypatch):
    theirs = other_requests(ctx, 1)[0]
    rf.approve(ctx, "dave", theirs.id)
    # The gateway refuses: processing marks it failed with a reason.
    monkeypatch.setattr(proc, "payment_refusal", lambda _p: "The gateway refused the refund.")
    proc.process_due(ctx, "test-worker")
    monkeypatch.undo()
    view = open_view(qtbot, services)
    view.status_combo.setCurrentText("Failed")
    qtbot.waitUntil(lambda: view.model.row_of(theirs.id) is not None)
    select(qtbot, view, theirs.id)
    assert view.retry_button.isEnabled()
    qtbot.mouseClick(view.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status_text(view, theirs.id) == "Approved")


# -- several at once -----------------------------------------------------------------------------


def test_multi_approve_confirms_what_it_will_approve_and_approves_exactly_that(
    qtbot, ctx, services, me
):
    inr = other_requests(ctx, 2, amount=12_500)
    usd = other_requests(ctx, 1, currency="USD", amount=2_000)[0]
    pid = add_payment(ctx)
    mine = request(ctx, pid, actor=me, amount=700)
    view = open_view(qtbot, services)
    for i, refund in enumerate((*inr, usd, mine)):
        click_row(
            qtbot,
            view,
            refund.id,
            Qt.KeyboardModifier.ControlModifier if i else Qt.KeyboardModifier.NoModifier,
        )
    assert len(view.selected_refunds()) == 4
    # The button counts what it will approve, not what is selected.
    assert view.approve_button.text() == "Approve 3" and view.approve_button.isEnabled()
    qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirm_box is not None)
    box = view.confirm_box
    assert box.text() == "<b>Approve 3 refunds?</b>"
    info = box.informativeText()
    assert "₹250.00 in INR" in info  # 125 + 125: not the 7 of my own request
    assert "$20.00 in USD" in info
    assert "Leaves out 1 of the 4 selected: 1 requested by you" in info
    qtbot.mouseClick(message_button(box, "Approve 3 refunds"), Qt.MouseButton.LeftButton)
    for refund in (*inr, usd):
        qtbot.waitUntil(lambda r=refund: status_text(view, r.id) == "Approved")
    assert status_text(view, mine.id) == "Awaiting approval"
    with ctx.db.read() as s:
        assert rq.get(s, mine.id).status == "pending_approval"
        assert {rq.get(s, r.id).decided_by for r in (*inr, usd)} == {me}


def test_multi_approve_cancelled_at_the_confirmation_changes_nothing(qtbot, ctx, services):
    theirs = other_requests(ctx, 2)
    view = open_view(qtbot, services)
    click_row(qtbot, view, theirs[0].id)
    click_row(qtbot, view, theirs[1].id, Qt.KeyboardModifier.ControlModifier)
    qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirm_box is not None)
    qtbot.mouseClick(message_button(view.confirm_box, "Cancel"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirm_box is None)
    with ctx.db.read() as s:
        assert {r.status for r in rq.get_many(s, [t.id for t in theirs])} == {"pending_approval"}


# -- live updates ----------------------------------------------------------------------------------


def test_processing_updates_the_row_without_a_refresh_keeping_selection(qtbot, ctx, services):
    theirs = other_requests(ctx, 3)
    view = open_view(qtbot, services)
    select(qtbot, view, theirs[1].id)
    rf.approve(ctx, "dave", theirs[1].id)
    qtbot.waitUntil(lambda: status_text(view, theirs[1].id) == "Approved")
    assert proc.process_due(ctx, "test-worker") == 1
    qtbot.waitUntil(lambda: status_text(view, theirs[1].id) == "Processed")
    assert [r.id for r in view.selected_refunds()] == [theirs[1].id]
    assert view.model.rowCount() == 3  # the row stays where it was, with its new status
    qtbot.waitUntil(lambda: view.detail.badge.text() == "Processed")


def test_new_request_appears_in_the_queue_without_a_refresh(qtbot, ctx, services):
    first = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    select(qtbot, view, first.id)
    newer = other_requests(ctx, 1)[0]
    qtbot.waitUntil(lambda: view.model.row_of(newer.id) == 0)
    assert [r.id for r in view.selected_refunds()] == [first.id]


def test_scrolled_queue_keeps_its_place_when_rows_arrive_above(qtbot, ctx, services):
    other_requests(ctx, 60)
    view = open_view(qtbot, services)
    view.table.verticalScrollBar().setValue(view.table.rowHeight(0) * 30)
    top_before = view.model.row_at(view.table.rowAt(0)).id
    other_requests(ctx, 2)
    qtbot.waitUntil(lambda: view.model.rowCount() == 62)
    assert view.model.row_at(view.table.rowAt(0)).id == top_before


def test_a_filter_that_cannot_gain_rows_does_not_reread_the_first_page(qtbot, ctx, services):
    theirs = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    view.status_combo.setCurrentText("Rejected")
    qtbot.waitUntil(lambda: view.model.rowCount() == 0 and view.is_loaded)
    with qtbot.waitSignal(view.liveUpdated, raising=False, timeout=500) as seen:
        rf.approve(ctx, "dave", theirs.id)
    assert not seen.signal_triggered
    assert view.model.rowCount() == 0


def test_view_not_on_the_staff_list_says_so(qtbot, ctx, services, monkeypatch):
    monkeypatch.setattr(ctx, "default_actor", lambda: "mallory")
    view = open_view(qtbot, services)
    assert view.banner.isVisible()
    assert re.fullmatch(
        r"mallory is not on the Paydesk staff list; an admin can add them\.",
        view.banner_text.text(),
    )


def test_context_menu_offers_the_actions_with_their_state(qtbot, ctx, services, me):
    theirs = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    select(qtbot, view, theirs.id)
    menu = view.build_context_menu()
    entries = {a.text(): a.isEnabled() for a in menu.actions() if a.text()}
    assert entries["Approve"] and entries["Reject…"] and not entries["Cancel request"]
    assert entries["Copy refund id"]
    pos = view.table.visualRect(view.model.index(0, 0)).center()
    assert isinstance(pos, QPoint)
