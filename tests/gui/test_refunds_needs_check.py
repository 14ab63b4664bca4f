"""Needs check in the Refunds view (issue 16): the refunds of gateway payments whose answer
was lost and that Paydesk did not find in time are listed under "Needs check"; the detail pane
shows the evidence; finance links one to the gateway's refund or has it sent again (both
audited), support reads it without the actions and is told why. Against the fake gateway
(real HTTP on 127.0.0.1), on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from core.context import Context
from core.gateway import connections, sync
from core.refunds import processing as proc
from core.refunds import service as rf
from core.store.models import AuditEvent, Refund
from desktop.refunds.view import RefundsView
from desktop.shell.views import AppServices
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.gui.conftest import app_services
from tests.gui.test_refunds_view import message_button
from tests.webhook_receiver import ADMIN, FINANCE, SUPPORT, add_staff

pytestmark = pytest.mark.gui


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    gw = FakeGateway(Variation(drop_refund_every=1))  # every refund POST's answer is lost
    yield gw
    gw.close()


def needing_check(ctx: Context, clock, gw: FakeGateway, n: int = 1) -> list[str]:
    """``n`` approved refunds of gateway payments, sent, their answers lost and not found
    within the check time: each in Needs check."""
    gw.seed(payments=max(3, n))
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    assert sync.sync_connection(ctx, "acme").error is None
    made = []
    for pid in sorted(gw.state.payments)[:n]:
        r = rf.request_refund(ctx, SUPPORT, pid, amount=1_000, reason="requested_by_customer")
        made.append(rf.approve(ctx, FINANCE, r.id).id)
    proc.process_round(ctx, "w")
    sync.sync_connection(ctx, "acme")
    clock.advance(timedelta(minutes=16))
    sync.sync_connection(ctx, "acme")
    with ctx.db.read() as s:
        assert {s.get(Refund, i).gateway_outcome for i in made} == {"needs_check"}
    return made


def acting(ctx: Context, monkeypatch, who: str) -> Iterator[AppServices]:
    monkeypatch.setattr(ctx, "default_actor", lambda: who)
    with app_services(ctx) as services:
        yield services


@pytest.fixture
def finance(ctx: Context, monkeypatch, qtbot) -> Iterator[AppServices]:
    yield from acting(ctx, monkeypatch, FINANCE)


@pytest.fixture
def support(ctx: Context, monkeypatch, qtbot) -> Iterator[AppServices]:
    yield from acting(ctx, monkeypatch, SUPPORT)


def needs_check_list(qtbot, services: AppServices) -> RefundsView:
    view = RefundsView(services)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded)
    with qtbot.waitSignal(view.loaded):
        view.status_combo.setCurrentText("Needs check")
    return view


def open_refund(qtbot, view: RefundsView, refund_id: str) -> None:
    row = view.model.row_of(refund_id)
    assert row is not None, f"{refund_id} is not listed"
    rect = view.table.visualRect(view.model.index(row, 1))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(
        lambda: view.detail.data is not None
        and view.detail.data.refund.id == refund_id
        and view.detail.gateway.isVisible()
    )


def actions(ctx: Context, refund_id: str) -> list[str]:
    with ctx.db.read() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity_id == refund_id)
                .order_by(AuditEvent.id)
            )
        )


def test_needs_check_lists_them_with_the_evidence(qtbot, ctx, clock, gateway, finance):
    waiting = needing_check(ctx, clock, gateway, n=2)
    view = needs_check_list(qtbot, finance)
    assert sorted(r.id for r in view.model.rows()) == sorted(waiting)
    open_refund(qtbot, view, waiting[0])
    pane, section = view.detail, view.detail.gateway
    assert pane.badge.text() == "Needs check"
    assert not pane.note.isVisible()  # its approval is long done: the check is what is asked
    assert section.value("Gateway") == "acme"
    assert section.value("Outcome").startswith("Needs check: the answer to the request was lost")
    assert section.value("Sent") != "—"
    evidence = section.evidence.text()
    assert "sent to acme" in evidence and "the answer was lost" in evidence
    assert "not found in" in evidence
    # The evidence and the two buttons wrap in a narrow pane instead of widening it.
    view.resize(1024 - 188 - 4, 700)
    qtbot.waitUntil(lambda: view.detail.width() <= 340)
    area = pane.scroll_area
    qtbot.waitUntil(lambda: area.widget().width() <= area.viewport().width())
    assert section.link_button.isEnabled() and section.resend_button.isEnabled()
    assert not section.why.isVisible()
    # The other filters narrow the Needs-check list as they do every status.
    with qtbot.waitSignal(view.loaded):
        qtbot.keyClicks(view.search, waiting[1])
        qtbot.keyClick(view.search, Qt.Key.Key_Return)
    assert [r.id for r in view.model.rows()] == [waiting[1]]
    assert view.status_combo.currentText() == "Needs check"
    with qtbot.waitSignal(view.loaded):
        view.search.clear()
        qtbot.keyClick(view.search, Qt.Key.Key_Return)
    # Every other status: the same refunds are "Processing" there.
    with qtbot.waitSignal(view.loaded):
        view.status_combo.setCurrentText("Processing")
    assert sorted(r.id for r in view.model.rows()) == sorted(waiting)


def test_finance_links_one_to_the_gateways_refund(qtbot, ctx, clock, gateway, finance):
    (rid,) = needing_check(ctx, clock, gateway)
    view = needs_check_list(qtbot, finance)
    open_refund(qtbot, view, rid)
    qtbot.mouseClick(view.detail.gateway.link_button, Qt.MouseButton.LeftButton)
    dialog = view.link_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == f"Link {rid}"
    # An id the gateway does not have: one sentence, and nothing changes.
    qtbot.keyClicks(dialog.field, "rfnd_nosuchrefund")
    qtbot.mouseClick(dialog.link_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error.isVisible())
    assert dialog.error.text() == "The gateway acme has no refund rfnd_nosuchrefund."
    assert "refund.gateway_link" not in actions(ctx, rid)
    (at_gateway,) = [r["id"] for r in gateway.state.refunds.values()]
    dialog.field.clear()
    qtbot.keyClicks(dialog.field, at_gateway)
    with qtbot.waitSignal(view.actionFinished, timeout=10_000) as finished:
        qtbot.keyClick(dialog.field, Qt.Key.Key_Return)  # Link is the default button
    assert finished.args[0] == f"Refund {rid} is linked to the gateway's refund {at_gateway}."
    assert view.link_dialog is None
    with ctx.db.read() as s:
        r = s.get(Refund, rid)
        assert (r.gateway_refund_id, r.gateway_outcome) == (at_gateway, None)
    assert actions(ctx, rid)[-1] == "refund.gateway_link"
    # The pane follows: linked, nothing left to decide.
    qtbot.waitUntil(lambda: view.detail.badge.text() == "Processing")
    assert view.detail.gateway.link_button.isHidden()


def test_finance_sends_one_again_after_confirming(qtbot, ctx, clock, gateway, finance):
    (rid,) = needing_check(ctx, clock, gateway)
    view = needs_check_list(qtbot, finance)
    open_refund(qtbot, view, rid)
    qtbot.mouseClick(view.detail.gateway.resend_button, Qt.MouseButton.LeftButton)
    box = view.confirm_box
    assert box is not None and box.text() == f"Send refund {rid} of ₹10.00 to acme again?"
    assert box.defaultButton() is message_button(box, "Cancel")  # a second refund is for good
    qtbot.mouseClick(message_button(box, "Cancel"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirm_box is None)
    assert "refund.gateway_resend" not in actions(ctx, rid)
    qtbot.mouseClick(view.detail.gateway.resend_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(view.actionFinished, timeout=10_000) as finished:
        qtbot.mouseClick(message_button(view.confirm_box, "Send again"), Qt.MouseButton.LeftButton)
    assert finished.args[0] == f"Refund {rid} will be sent to acme again."
    assert actions(ctx, rid)[-1] == "refund.gateway_resend"
    with ctx.db.read() as s:
        assert s.get(Refund, rid).gateway_outcome == "resend"
    qtbot.waitUntil(
        lambda: view.detail.gateway.value("Outcome") == "To be sent again by the processing task"
    )


def test_support_reads_the_evidence_without_the_actions_and_is_told_why(
    qtbot, ctx, clock, gateway, support
):
    (rid,) = needing_check(ctx, clock, gateway)
    view = needs_check_list(qtbot, support)
    open_refund(qtbot, view, rid)
    section = view.detail.gateway
    assert "the answer was lost" in section.evidence.text()
    assert not section.link_button.isEnabled() and not section.resend_button.isEnabled()
    assert section.why.isVisible()
    assert section.why.text().startswith("Only finance or admin staff can")
    assert section.link_button.toolTip() == section.why.text()
    view.link_selected()  # what the button would do if it were pressed anyway
    assert view.link_dialog is None
    assert view.action_note.isVisible() and view.action_note.text() == section.why.text()


def test_nothing_needs_a_check_reads_so(qtbot, ctx, finance):
    add_staff(ctx)
    view = needs_check_list(qtbot, finance)
    assert view.pages.currentWidget() is view.empty_page
    assert view.empty_title.text() == "No refund needs a check"
