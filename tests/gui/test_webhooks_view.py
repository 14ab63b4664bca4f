"""The Webhooks view driven as a person would: filters and search, the detail pane (payload,
attempt timeline, Retry and why it is disabled), a retry delivered by the real dispatcher to
a real receiver on 127.0.0.1 and shown without a refresh, the bulk retry dialog, what each
role is offered, and the endpoints dialog. On both databases.

The person at the keyboard is ``ctx.default_actor()``, pinned to a name on the staff list
(sam, support, unless a test says otherwise).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select

from core.context import Context
from core.store.models import AuditEvent, WebhookLog
from core.webhooks import deliveries as webhooks
from core.webhooks.dispatcher import Dispatcher
from desktop.shell.views import AppServices
from desktop.webhooks.model import COLUMN
from desktop.webhooks.view import WebhooksView
from tests.gui.conftest import app_services
from tests.test_webhooks import set_status
from tests.webhook_receiver import (
    ADMIN,
    FINANCE,
    SUPPORT,
    Receiver,
    add_log,
    add_merchant,
    add_staff,
)

pytestmark = pytest.mark.gui


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)
    return ctx


@pytest.fixture
def me(staffed: Context, monkeypatch) -> str:
    monkeypatch.setattr(staffed, "default_actor", lambda: SUPPORT)
    return SUPPORT


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def services(staffed: Context, me: str, qtbot) -> Iterator[AppServices]:
    with app_services(staffed) as services:
        yield services


def open_view(qtbot, services: AppServices) -> WebhooksView:
    view = WebhooksView(services)
    qtbot.addWidget(view)
    view.resize(1500, 800)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded)
    return view


def cell(view: WebhooksView, log_id: str, column: str) -> str:
    row = view.model.row_of(log_id)
    assert row is not None, f"{log_id} is not shown"
    return view.model.index(row, COLUMN[column]).data()


def click_log(qtbot, view: WebhooksView, log_id: str) -> None:
    """Click a log's row and wait for its detail."""
    row = view.model.row_of(log_id)
    assert row is not None
    rect = view.table.visualRect(view.model.index(row, COLUMN["id"]))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.detail.data is not None and view.detail.data.row.id == log_id)


def run_dispatcher(ctx: Context) -> None:
    dispatcher = Dispatcher(ctx, concurrency=2)
    try:
        dispatcher.run_until_idle(max_seconds=30)
    finally:
        dispatcher.close()


def refused_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def statuses(ctx: Context, ids: list[str]) -> dict[str, str]:
    with ctx.db.read() as s:
        rows = s.execute(select(WebhookLog.id, WebhookLog.status).where(WebhookLog.id.in_(ids)))
        return {log_id: status for log_id, status in rows}


# -- the list ----------------------------------------------------------------------------------


def test_status_filter_shows_only_failed_deliveries(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    ok, bad, waiting = (add_log(staffed, entity_id=f"pay_{i}") for i in range(3))
    set_status(staffed, ok, "success", attempts=1, response_code=200)
    set_status(staffed, bad, "failed", attempts=5, response_code=500)
    view = open_view(qtbot, services)
    assert view.model.ids() == {ok, bad, waiting}
    view.status_combo.setCurrentText("Failed")
    qtbot.waitUntil(lambda: view.model.ids() == {bad})
    assert cell(view, bad, "status") == "Failed"
    assert cell(view, bad, "attempts") == "5"
    assert cell(view, bad, "response") == "500"
    assert cell(view, bad, "next_retry") == "—"
    assert cell(view, bad, "merchant") == "Shop A"
    view.status_combo.setCurrentText("Delivered")
    qtbot.waitUntil(lambda: view.model.ids() == {ok})


def test_next_retry_reads_relative_to_the_clock_and_moves_on(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    log_id = add_log(staffed)
    set_status(
        staffed,
        log_id,
        "pending",
        attempts=2,
        next_retry_at=staffed.clock.now() + timedelta(minutes=4),
        last_error="Timed out after 5 s",
    )
    view = open_view(qtbot, services)
    assert cell(view, log_id, "next_retry") == "in 4 min"
    assert cell(view, log_id, "response") == "Timed out after 5 s"
    staffed.clock.advance(timedelta(minutes=3))
    view.model.tick()
    assert cell(view, log_id, "next_retry") == "in 1 min"
    staffed.clock.advance(timedelta(seconds=30))
    view.model.tick()
    assert cell(view, log_id, "next_retry") == "in 30 s"
    staffed.clock.advance(timedelta(seconds=30))
    view.model.tick()
    assert cell(view, log_id, "next_retry") == "due now"


def test_search_by_payment_id_finds_its_log_and_by_log_id(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    mine = add_log(staffed, entity_id="pay_wanted")
    other = add_log(staffed, entity_id="pay_other")
    view = open_view(qtbot, services)
    qtbot.keyClicks(view.search, "pay_wanted")
    qtbot.waitUntil(lambda: view.model.ids() == {mine})
    view.search.clear()
    qtbot.keyClicks(view.search, other)
    qtbot.waitUntil(lambda: view.model.ids() == {other})
    view.search.clear()
    qtbot.keyClicks(view.search, "pay_nobody")
    qtbot.waitUntil(lambda: view.pages.currentWidget() is view.empty_page)
    assert view.empty_title.text() == "No deliveries match"


# -- detail pane -----------------------------------------------------------------------------------


def test_detail_shows_formatted_json_and_attempts_with_their_sentences(
    qtbot, staffed, services, receiver
):
    add_merchant(staffed, url=receiver.url("/status/500"))
    log_id = add_log(staffed, entity_id="pay_json")
    run_dispatcher(staffed)  # attempt 1: the receiver answers 500
    refused = refused_url()
    webhooks.set_endpoint(staffed, ADMIN, "mer_A", refused)
    staffed.clock.advance(timedelta(minutes=5))
    run_dispatcher(staffed)  # attempt 2: nothing listens
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    pane = view.detail
    with staffed.db.read() as s:
        sent = s.get(WebhookLog, log_id).payload
    assert pane.payload.toPlainText() == json.dumps(json.loads(sent), indent=2, sort_keys=True)
    assert '\n  "data": {\n    "amount": 1250,' in pane.payload.toPlainText()
    assert pane.title.text() == "payment.captured" and pane.badge.text() == "Pending"
    lines = pane.attempt_lines()  # newest first
    assert len(lines) == 2
    port = refused.split(":")[2].split("/")[0]
    assert re.fullmatch(rf"#2 · .* · \d+ ms · Connection refused by 127\.0\.0\.1:{port}", lines[0])
    assert re.fullmatch(r"#1 · .* · \d+ ms · HTTP 500 Internal Server Error", lines[1])
    assert pane.value("Last error") == f"Connection refused by 127.0.0.1:{port}"
    # The body is folded away until asked for.
    first = pane.attempts[1]
    # Widgets added to a shown pane appear on the next turn of the event loop.
    qtbot.waitUntil(first.toggle.isVisible)
    assert first.body.isHidden() and first.toggle.isEnabled()
    qtbot.mouseClick(first.toggle, Qt.MouseButton.LeftButton)
    assert first.body.isVisible() and first.body.toPlainText() == "status 500"
    assert not pane.attempts[0].toggle.isEnabled()  # no answer, no body
    qtbot.mouseClick(pane.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == pane.payload.toPlainText()


def test_retry_makes_a_failed_log_pending_then_the_dispatcher_delivers_it_live(
    qtbot, staffed, services, receiver
):
    secret = add_merchant(staffed, url=receiver.url("/ok"))
    receiver.secrets = [secret]
    older = add_log(staffed, entity_id="pay_older")
    staffed.clock.advance(60)
    log_id = add_log(staffed, entity_id="pay_retry")
    for i in (older, log_id):
        set_status(staffed, i, "failed", attempts=5, response_code=503, last_error="HTTP 503")
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    pane = view.detail
    assert pane.retry_button.isEnabled() and not pane.retry_reason.isVisible()
    qtbot.mouseClick(pane.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: cell(view, log_id, "status") == "Pending")
    assert cell(view, log_id, "next_retry") == "due now"
    assert statuses(staffed, [log_id]) == {log_id: "pending"}
    run_dispatcher(staffed)
    assert receiver.ids() == [log_id] and receiver.received[0].verified_with == [secret]
    # No refresh: the dispatcher's change notice updates the row and the pane.
    qtbot.waitUntil(lambda: cell(view, log_id, "status") == "Delivered")
    assert cell(view, log_id, "response") == "200" and cell(view, log_id, "attempts") == "6"
    assert view.selected_log() is not None and view.selected_log().id == log_id
    assert view.model.row_of(older) == 1 and cell(view, older, "status") == "Failed"
    qtbot.waitUntil(lambda: pane.badge.text() == "Delivered")
    assert pane.attempt_lines()[0].endswith("HTTP 200")
    assert not pane.retry_button.isEnabled()


def test_an_unfolded_body_stays_unfolded_when_a_new_attempt_arrives_live(
    qtbot, staffed, services, receiver
):
    add_merchant(staffed, url=receiver.url("/status/500"))
    log_id = add_log(staffed, entity_id="pay_fold")
    run_dispatcher(staffed)  # attempt 1: 500
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    pane = view.detail
    first = pane.attempts[0]
    qtbot.waitUntil(first.toggle.isVisible)
    qtbot.mouseClick(first.toggle, Qt.MouseButton.LeftButton)
    assert first.body.isVisible()
    staffed.clock.advance(timedelta(minutes=5))
    run_dispatcher(staffed)  # attempt 2 arrives through the change notice
    qtbot.waitUntil(lambda: len(pane.attempts) == 2)
    newest, older = pane.attempts
    qtbot.waitUntil(older.body.isVisible)
    assert older.attempt.number == 1 and older.body.toPlainText() == "status 500"
    assert newest.attempt.number == 2 and newest.body.isHidden()


def test_retry_is_disabled_with_the_reason_for_a_delivered_log(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    log_id = add_log(staffed)
    set_status(staffed, log_id, "success", attempts=1, response_code=200)
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    pane = view.detail
    reason = f"{log_id} was delivered on 2026-01-15 12:00 UTC; there is nothing to retry."
    assert not pane.retry_button.isEnabled()
    assert pane.retry_button.toolTip() == reason
    assert pane.retry_reason.isVisible() and pane.retry_reason.text() == reason
    menu = {a.text(): a for a in view.build_context_menu().actions() if a.text()}
    assert not menu["Retry now"].isEnabled()


def test_retry_of_a_disabled_endpoint_says_to_enable_it(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    log_id = add_log(staffed)
    set_status(staffed, log_id, "failed")
    webhooks.disable_endpoint(staffed, ADMIN, "mer_A")
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    assert not view.detail.retry_button.isEnabled()
    assert "disabled; enable it first" in view.detail.retry_button.toolTip()
    # Enabling it elsewhere enables Retry here without a refresh.
    webhooks.enable_endpoint(staffed, ADMIN, "mer_A")
    qtbot.waitUntil(view.detail.retry_button.isEnabled)


def test_finance_staff_are_not_offered_retry_or_test_events(qtbot, staffed, services, monkeypatch):
    monkeypatch.setattr(staffed, "default_actor", lambda: FINANCE)
    add_merchant(staffed, url=refused_url())
    log_id = add_log(staffed)
    set_status(staffed, log_id, "failed")
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    assert view.detail.retry_button.isHidden() and not view.detail.retry_reason.isVisible()
    assert view.bulk_button.isHidden() and view.test_button.isHidden()
    assert "Retry now" not in [a.text() for a in view.build_context_menu().actions()]
    # The payload and attempts are still theirs to read.
    assert view.detail.payload.toPlainText().startswith("{")


# -- bulk retry ------------------------------------------------------------------------------------


def test_bulk_retry_dialog_shows_the_count_first_then_the_result(qtbot, staffed, services):
    add_merchant(staffed, "mer_A", url=refused_url())
    add_merchant(staffed, "mer_B", url=refused_url())
    a = [add_log(staffed, "mer_A", entity_id=f"pay_a{i}") for i in range(2)]
    b = add_log(staffed, "mer_B", entity_id="pay_b")
    done = add_log(staffed, "mer_A", entity_id="pay_done")
    for log_id in (*a, b):
        set_status(staffed, log_id, "failed")
    set_status(staffed, done, "success", attempts=1)
    view = open_view(qtbot, services)
    with qtbot.waitSignal(view.bulk_button.clicked):
        qtbot.mouseClick(view.bulk_button, Qt.MouseButton.LeftButton)
    dialog = view.bulk_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.count == 3)
    assert dialog.count_label.text() == "3 failed deliveries match."
    assert dialog.retry_button.text() == "Retry 3 deliveries"
    # Counting changed nothing.
    assert set(statuses(staffed, [*a, b]).values()) == {"failed"}
    dialog.merchant_combo.setCurrentText("Shop A")
    qtbot.waitUntil(lambda: dialog.count == 2)
    assert dialog.retry_button.text() == "Retry 2 deliveries"
    with qtbot.waitSignal(dialog.retried) as got:
        qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert got.args == [2]
    assert dialog.result_label.text() == "Retried 2 deliveries; they are being sent now."
    assert dialog.retry_button.isHidden() and dialog.close_button.text() == "Close"
    assert statuses(staffed, [*a, b, done]) == {
        a[0]: "pending",
        a[1]: "pending",
        b: "failed",
        done: "success",
    }
    # The table follows without a refresh.
    qtbot.waitUntil(lambda: [cell(view, i, "status") for i in a] == ["Pending", "Pending"])
    assert cell(view, b, "status") == "Failed"


def test_bulk_retry_matching_nothing_cannot_be_run(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    log_id = add_log(staffed)
    set_status(staffed, log_id, "success", attempts=1)
    view = open_view(qtbot, services)
    view.open_bulk_retry()
    dialog = view.bulk_dialog
    qtbot.waitUntil(lambda: dialog.count == 0)
    assert dialog.count_label.text() == (
        "No failed deliveries match this filter; retrying would change nothing."
    )
    assert not dialog.retry_button.isEnabled()
    dialog.run()  # even when asked directly, nothing happens
    with staffed.db.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "webhook.bulk_retry")) == 0  # fmt: skip


# -- live updates --------------------------------------------------------------------------------


def test_new_log_appears_on_top_keeping_the_selection(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    first = add_log(staffed, entity_id="pay_first")
    view = open_view(qtbot, services)
    click_log(qtbot, view, first)
    staffed.clock.advance(60)
    newer = add_log(staffed, entity_id="pay_newer")
    qtbot.waitUntil(lambda: view.model.row_of(newer) == 0)
    assert view.selected_log().id == first


# -- endpoints and test events ---------------------------------------------------------------------


def test_malformed_endpoint_url_shows_the_sentence_and_writes_nothing(
    qtbot, staffed, services, monkeypatch
):
    monkeypatch.setattr(staffed, "default_actor", lambda: ADMIN)
    url = refused_url()
    add_merchant(staffed, url=url)
    view = open_view(qtbot, services)
    view.open_endpoints("mer_A")
    dialog = view.endpoints_dialog
    qtbot.waitUntil(lambda: dialog.endpoint is not None)
    assert dialog.url_edit.text() == url and dialog.save_button.isVisible()
    with staffed.db.read() as s:
        audited = s.scalar(select(func.count()).select_from(AuditEvent))
    for bad, sentence in (
        ("ftp://example.com/hooks", "it must start with http:// or https://."),
        ("https://exa mple.com/hooks", "it contains spaces."),
        ("https:///hooks", "it has no host name."),
    ):
        dialog.url_edit.setText(bad)
        with qtbot.waitSignal(dialog.failed) as got:
            qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
        assert got.args == [f"{bad!r} is not a webhook URL: {sentence}"]
        assert dialog.url_error.isVisible() and dialog.url_error.text() == got.args[0]
    with staffed.db.read() as s:
        assert webhooks.endpoint(s, "mer_A").webhook_url == url
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == audited
    # A good URL is saved and the error goes away.
    dialog.url_edit.setText("https://hooks.example.com/paydesk")
    with qtbot.waitSignal(dialog.changed):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.url_error.isVisible()
    with staffed.db.read() as s:
        assert webhooks.endpoint(s, "mer_A").webhook_url == "https://hooks.example.com/paydesk"


def test_support_sees_endpoints_without_admin_controls(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    view = open_view(qtbot, services)
    view.open_endpoints("mer_A")
    dialog = view.endpoints_dialog
    qtbot.waitUntil(lambda: dialog.endpoint is not None)
    assert dialog.url_edit.isReadOnly()
    for b in (dialog.save_button, dialog.rotate_button, dialog.reveal_button, dialog.enable_button):
        assert b.isHidden()
    assert dialog.test_button.isVisible() and dialog.test_button.isEnabled()
    assert dialog.secret.text().startswith("whsec_…")


def test_send_test_event_reports_the_outcome(qtbot, staffed, services, receiver):
    secret = add_merchant(staffed, url=receiver.url("/ok"))
    receiver.secrets = [secret]
    add_merchant(staffed, "mer_B", url=refused_url())
    view = open_view(qtbot, services)
    with qtbot.waitSignal(view.actionFinished, timeout=30_000) as got:
        view.send_test_event("mer_A")
    assert re.fullmatch(r"Test event delivered to Shop A: HTTP 200 in \d+ ms\.", got.args[0])
    assert view.notice.isVisible() and view.notice_text.text() == got.args[0]
    [delivery] = receiver.received
    assert json.loads(delivery.body)["event"] == "test.ping" and delivery.verified_with == [secret]
    with qtbot.waitSignal(view.actionFinished, timeout=30_000) as got:
        view.send_test_event("mer_B")
    assert re.fullmatch(
        r"Test event to Shop B failed: Connection refused by 127\.0\.0\.1:\d+\.", got.args[0]
    )
    # Both test logs are in the list without a refresh.
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)


def test_scrolled_list_keeps_its_place_when_logs_arrive_above(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    for i in range(60):
        add_log(staffed, entity_id=f"pay_{i}")
        staffed.clock.advance(1)
    view = open_view(qtbot, services)
    view.table.verticalScrollBar().setValue(view.table.rowHeight(0) * 30)
    top_before = view.model.row_at(view.table.rowAt(0)).id
    for i in range(2):
        add_log(staffed, entity_id=f"pay_new{i}")
    qtbot.waitUntil(lambda: view.model.rowCount() == 62)
    assert view.model.row_at(view.table.rowAt(0)).id == top_before


def test_admin_reveals_and_copies_the_secret_and_disables_the_endpoint(
    qtbot, staffed, services, monkeypatch
):
    monkeypatch.setattr(staffed, "default_actor", lambda: ADMIN)
    secret = add_merchant(staffed, url=refused_url())
    view = open_view(qtbot, services)
    view.open_endpoints("mer_A")
    dialog = view.endpoints_dialog
    qtbot.waitUntil(lambda: dialog.endpoint is not None)
    assert (
        dialog.secret.text() == f"whsec_…{secret[-4:]}"
        and not dialog.copy_secret_button.isEnabled()
    )
    qtbot.mouseClick(dialog.reveal_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.secret.text() == secret)
    qtbot.mouseClick(dialog.copy_secret_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == secret
    assert dialog.enable_button.text() == "Disable"
    with qtbot.waitSignal(dialog.changed) as got:
        qtbot.mouseClick(dialog.enable_button, Qt.MouseButton.LeftButton)
    assert got.args == ["The endpoint of Shop A is disabled; its deliveries wait."]
    qtbot.waitUntil(lambda: dialog.badge.text() == "Disabled")
    assert dialog.enable_button.text() == "Enable" and not dialog.test_button.isEnabled()
    with staffed.db.read() as s:
        assert not webhooks.endpoint(s, "mer_A").webhook_enabled
