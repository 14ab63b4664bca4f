"""The Refunds view for the people at the desk (issue 18): it fits a 1024×700 window, every
control has a name and a description, a refused action says why where the person is looking
(and its key does too), a multi-approve confirms exactly what it approves, and the status
words are the vocabulary's. On both databases.

The person at the keyboard is bob (finance) unless a test says otherwise; carol and dave act
through the services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QLabel,
    QLineEdit,
    QWidget,
)

from core.access import roles
from core.context import Context
from core.overview.links import RefundLink
from core.refunds import queries as rq
from core.refunds import service as rf
from core.refunds.labels import STATUS_LABELS
from core.refunds.many import approval_plan, plan_approval
from desktop.refunds.columns import KEY_COLUMNS
from desktop.refunds.model import COLUMN
from desktop.refunds.view import RefundsView
from desktop.shell.main_window import NAV_WIDTH
from desktop.shell.views import AppServices
from tests.gui.conftest import app_services
from tests.gui.test_refunds_view import (
    click_row,
    message_button,
    open_view,
    other_requests,
    select,
    status_text,
)
from tests.test_refunds import add_payment, add_staff, request

pytestmark = pytest.mark.gui

# The view beside the navigation in a 1024 px window, and alone at that width.
NARROW = 1024 - NAV_WIDTH - 4


@pytest.fixture
def me(ctx: Context, monkeypatch) -> str:
    add_staff(ctx)
    monkeypatch.setattr(ctx, "default_actor", lambda: "bob")
    return "bob"


@pytest.fixture
def services(ctx: Context, me: str, qtbot) -> Iterator[AppServices]:
    with app_services(ctx) as services:
        yield services


def sized(qtbot, view: RefundsView, width: int, height: int = 700) -> None:
    view.resize(width, height)
    qtbot.waitUntil(lambda: view.width() == width and view.table.viewport().width() > 0)
    qtbot.wait(10)  # the layouts' own pass after the resize


def inside(widget: QWidget, outer: QWidget) -> bool:
    """Whether ``widget`` lies wholly inside ``outer`` (it is not cut off)."""
    top_left = widget.mapTo(outer, QPoint(0, 0))
    return outer.rect().contains(QRect(top_left, widget.size()))


def press(qtbot, view: RefundsView, key: Qt.Key) -> None:
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow)
    qtbot.keyClick(view.table, key, Qt.KeyboardModifier.ControlModifier)


# -- a window that fits ------------------------------------------------------------------------


def test_the_view_fits_a_1000_px_window_with_every_filter_inside_the_bar(qtbot, ctx, services):
    other_requests(ctx, 3)
    view = open_view(qtbot, services)
    assert view.minimumSizeHint().width() <= 1000 - NAV_WIDTH - 4  # the window fits 1000 px
    bar = view.findChild(QWidget, "FilterBar")
    assert bar is not None
    for width in (NARROW, 1024):
        sized(qtbot, view, width)
        controls = [*view.filter_widgets(), view.clear_button, view.refresh_button,
                    view.approve_button, view.reject_button, view.cancel_button]  # fmt: skip
        for w in controls:
            assert w.isVisible(), (width, w.accessibleName())
            assert inside(w, bar), f"{w.accessibleName()} is cut off at {width} px"
            assert w.width() >= w.minimumSizeHint().width(), w.accessibleName()
        # Nothing overlaps: the filters are laid out side by side or on lines of their own.
        rects = [QRect(w.mapTo(bar, QPoint(0, 0)), w.size()) for w in view.filter_widgets()]
        for i, a in enumerate(rects):
            assert not any(a.intersects(b) for b in rects[i + 1 :])
    # At the narrow width the filters wrap onto a second line rather than being cut off.
    sized(qtbot, view, NARROW)
    tops = {w.mapTo(bar, QPoint(0, 0)).y() for w in view.filter_widgets()}
    assert len(tops) >= 2


def test_opening_the_detail_keeps_the_key_columns_and_never_scrolls_sideways(
    qtbot, ctx, services
):
    theirs = other_requests(ctx, 3)
    view = open_view(qtbot, services)
    sized(qtbot, view, NARROW)
    shown = view.columns.shown_keys()
    assert set(KEY_COLUMNS) <= set(shown) and "payment" in shown
    assert "reason" not in shown  # the columns a person can do without go first
    select(qtbot, view, theirs[0].id)
    qtbot.waitUntil(lambda: view.detail.isVisible())
    qtbot.wait(10)
    table = view.table
    assert view.columns.shown_keys() == ["requested", "id", "amount", "status"]
    assert table.horizontalScrollBar().value() == 0
    assert table.horizontalScrollBar().maximum() == 0  # nothing to scroll to
    used = sum(table.columnWidth(c) for c in range(len(COLUMN)) if not table.isColumnHidden(c))
    assert used <= table.viewport().width()
    # The pane's own lines wrap in its width: nothing is cut off at its right edge.
    area = view.detail.scroll_area
    assert area.widget().width() <= area.viewport().width()
    # The id may be cut in the middle; its tooltip has it whole.
    row = view.model.row_of(theirs[0].id)
    assert view.model.index(row, COLUMN["id"]).data(Qt.ItemDataRole.ToolTipRole) == theirs[0].id
    # Closing the pane gives the columns back.
    qtbot.mouseClick(view.detail.findChild(QAbstractButton), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "payment" in view.columns.shown_keys())


# -- names and descriptions ----------------------------------------------------------------------


def interactive(root: QWidget) -> list[QWidget]:
    kinds = (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView)
    found = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, kinds):
            continue
        parent = w.parentWidget()
        while parent is not None and parent is not root:
            if isinstance(parent, (QComboBox, QLineEdit, QAbstractItemView)):
                break  # a combo's popup, a field's clear button: the outer widget speaks
            parent = parent.parentWidget()
        else:
            found.append(w)
    return found


def test_every_control_has_a_name_and_a_description(qtbot, ctx, services):
    theirs = other_requests(ctx, 2)
    view = open_view(qtbot, services)
    with qtbot.waitSignal(view.loaded):
        view.apply_link(RefundLink(status="pending_approval", currency="INR"))
    assert view.link_chips.chip("currency") is not None
    select(qtbot, view, theirs[0].id)
    missing = []
    for w in interactive(view):
        name = w.accessibleName() or (w.text() if isinstance(w, QAbstractButton) else "")
        if not name.replace("&", "").strip() or not w.accessibleDescription().strip():
            missing.append(f"{type(w).__name__} {w.objectName()} {name!r}")
    assert missing == []
    assert view.status_combo.accessibleName() == "Status filter"
    assert view.table.accessibleName() == "Refunds"


# -- refused actions -------------------------------------------------------------------------------


def test_approve_on_your_own_request_says_why_in_the_pane_and_on_its_key(
    qtbot, ctx, services, me
):
    mine = request(ctx, add_payment(ctx), actor=me, amount=5_000)
    view = open_view(qtbot, services)
    select(qtbot, view, mine.id)
    why = f"You requested refund {mine.id}; someone else must approve or reject it."
    qtbot.waitUntil(lambda: view.detail.note.isVisible())
    assert view.detail.note.text() == why
    assert not view.approve_button.isEnabled() and not view.action_note.isVisible()
    press(qtbot, view, Qt.Key.Key_Return)  # Ctrl+Return on the disabled Approve
    qtbot.waitUntil(lambda: view.action_note.isVisible())
    assert view.action_note.text() == why
    press(qtbot, view, Qt.Key.Key_Backspace)  # Ctrl+Backspace on the disabled Reject…
    assert view.reject_dialog is None and view.action_note.text() == why
    with ctx.db.read() as s:
        assert rq.get(s, mine.id).status == "pending_approval"


def test_approve_of_an_already_decided_refund_says_who_decided_it(qtbot, ctx, services):
    theirs = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    view.status_combo.setCurrentText("All statuses")
    qtbot.waitUntil(lambda: view.model.row_of(theirs.id) is not None)
    decided = rf.approve(ctx, "dave", theirs.id)
    qtbot.waitUntil(lambda: status_text(view, theirs.id) == "Approved")
    select(qtbot, view, theirs.id)
    qtbot.waitUntil(lambda: view.detail.note.text() == rf.already_decided(decided))
    assert view.detail.note.text().startswith(f"Refund {theirs.id} was already approved by dave")


def test_support_pressing_approve_reads_that_finance_decides(qtbot, ctx, services, me):
    roles.set_staff_role(ctx, "root", me, "support")
    theirs = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    select(qtbot, view, theirs.id)
    assert view.approve_button.isHidden()
    assert not view.detail.note.isVisible()  # nothing offered, nothing refused
    press(qtbot, view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.action_note.isVisible())
    assert view.action_note.text() == "Only finance or admin staff can approve or reject refunds."


def test_a_key_with_nothing_selected_says_to_select_first(qtbot, ctx, services):
    other_requests(ctx, 1)
    view = open_view(qtbot, services)
    press(qtbot, view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.action_note.isVisible())
    assert view.action_note.text() == "Select a refund first."


# -- bulk approve ----------------------------------------------------------------------------------


def test_the_plan_leaves_out_decided_and_own_requests_and_totals_per_currency(ctx, me):
    inr = other_requests(ctx, 2, amount=12_500)
    usd = other_requests(ctx, 1, currency="USD", amount=2_000)[0]
    decided = other_requests(ctx, 1)[0]
    rf.approve(ctx, "dave", decided.id)
    mine = request(ctx, add_payment(ctx), actor=me, amount=700)
    ids = [r.id for r in (*inr, usd, decided, mine)] + ["rfnd_nothere"]
    plan = approval_plan(ctx.db, me, ids)
    assert plan.ids == [r.id for r in (*inr, usd)]
    assert plan.totals == {"INR": 25_000, "USD": 2_000}
    assert plan.left_out == {decided.id: "decided", mine.id: "own", "rfnd_nothere": "gone"}
    assert plan.left_out_text() == (
        "Leaves out 3 of the 6 selected: 1 already decided, "
        "1 requested by you (someone else must approve them), 1 no longer there."
    )
    assert plan.refusal is None
    assert approval_plan(ctx.db, "alice", ids).refusal.startswith("Only ")  # support
    # The view's own count (of the rows as shown) is the same computation.
    with ctx.db.read() as s:
        rows = rq.get_many(s, ids)
    assert plan_approval(me, rows).ids == sorted(plan.ids, key=[r.id for r in rows].index)


def test_bulk_approve_says_what_it_leaves_out_and_approves_all_or_none(qtbot, ctx, services, me):
    theirs = other_requests(ctx, 2, amount=12_500)
    decided = other_requests(ctx, 1)[0]
    rf.approve(ctx, "dave", decided.id)
    mine = request(ctx, add_payment(ctx), actor=me, amount=700)
    view = open_view(qtbot, services)
    view.status_combo.setCurrentText("All statuses")
    qtbot.waitUntil(lambda: view.model.row_of(decided.id) is not None)
    for i, refund in enumerate((*theirs, decided, mine)):
        modifier = Qt.KeyboardModifier.ControlModifier if i else Qt.KeyboardModifier.NoModifier
        click_row(qtbot, view, refund.id, modifier)
    assert view.approve_button.text() == "Approve 2"
    qtbot.waitUntil(lambda: view.detail.note.isVisible())
    assert view.detail.note.text().startswith(
        "Leaves out 2 of the 4 selected: 1 already decided, 1 requested by you"
    )
    qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirm_box is not None)
    box = view.confirm_box
    assert box.text() == "<b>Approve 2 refunds?</b>"
    assert "₹250.00 in INR" in box.informativeText()
    # Someone else decides one of the two while the confirmation is open: nothing goes out.
    rf.reject(ctx, "dave", theirs[1].id, "duplicate request")
    qtbot.mouseClick(message_button(box, "Approve 2 refunds"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.banner.isVisible())
    assert view.banner_text.text().startswith("Nothing was approved (1 of 2 refunds cannot be)")
    qtbot.waitUntil(lambda: status_text(view, theirs[1].id) == "Rejected")
    with ctx.db.read() as s:
        assert rq.get(s, theirs[0].id).status == "pending_approval"
    # Asked again, it offers the one that is left, and approves exactly that.
    qtbot.waitUntil(lambda: view.approve_button.text() == "Approve 1")
    qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirm_box is not None)
    assert view.confirm_box.text() == "<b>Approve 1 refund?</b>"
    assert "Leaves out 3 of the 4 selected" in view.confirm_box.informativeText()
    with qtbot.waitSignal(view.actionFinished) as finished:
        qtbot.mouseClick(
            message_button(view.confirm_box, "Approve 1 refund"), Qt.MouseButton.LeftButton
        )
    assert finished.args[0] == "Approved 1 refund: ₹125.00 in INR. 3 left out."
    qtbot.waitUntil(lambda: status_text(view, theirs[0].id) == "Approved")
    assert status_text(view, mine.id) == "Awaiting approval"
    # Nothing left to approve: the button is off and its key says why.
    qtbot.waitUntil(lambda: not view.approve_button.isEnabled())
    press(qtbot, view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.action_note.isVisible())
    assert view.action_note.text() == (
        "None of the 4 selected refunds can be approved: 3 already decided, "
        "1 requested by you (someone else must approve them)."
    )


# -- one wording ------------------------------------------------------------------------------------


def test_awaiting_approval_is_the_one_wording_of_the_status(qtbot, ctx, services):
    theirs = other_requests(ctx, 1)[0]
    view = open_view(qtbot, services)
    word = STATUS_LABELS["pending_approval"]
    assert word == "Awaiting approval"
    assert view.status_combo.currentText() == word
    assert status_text(view, theirs.id) == word
    select(qtbot, view, theirs.id)
    assert view.detail.badge.text() == word
    assert any(line.startswith(f"▸ ₹100.00 · {word}") for line in view.detail.sibling_lines())
    texts = [view.status_combo.itemText(i) for i in range(view.status_combo.count())]
    texts += [label.text() for label in view.findChildren(QLabel)]
    assert not [t for t in texts if "pending" in t.lower()]
    assert "Needs check" in texts
    rf.approve(ctx, "dave", theirs.id)
    view.status_combo.setCurrentText(word)
    view.refresh()
    qtbot.waitUntil(lambda: view.pages.currentWidget() is view.empty_page)
    assert view.empty_title.text() == "Nothing is awaiting approval"


def test_a_reason_an_admin_added_reads_as_words_in_the_table_and_the_pane(qtbot, ctx, services):
    from core.access import policy

    policy.set_value(
        ctx, "root", "refund_reasons", "late_delivery:Late delivery,duplicate,other:Other"
    )
    pid = add_payment(ctx, amount=100_000)
    made = request(ctx, pid, actor="carol", amount=10_000, reason="late_delivery")
    view = open_view(qtbot, services)
    row = view.model.row_of(made.id)
    assert row is not None
    assert view.model.index(row, COLUMN["reason"]).data() == "Late delivery"
    select(qtbot, view, made.id)
    qtbot.waitUntil(lambda: view.detail.value("Reason") == "Late delivery", timeout=5000)
