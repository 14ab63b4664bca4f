"""When Retry cannot be done, the person reads why where they are looking: under the Retry
button in the detail pane, and (when they press its key, Ctrl+Return) in the notice above the
table. A merchant without an endpoint is named by its name; a gateway log whose gateway has no
retry route, or whose secret this copy does not hold, says so. On both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from core.gateway import connections, secrets, sync
from core.webhooks import deliveries as webhooks
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.gui import test_webhooks_view as view_tests
from tests.gui.test_webhooks_view import cell, click_log, open_view, refused_url, statuses
from tests.test_webhooks import set_status
from tests.webhook_receiver import ADMIN, FINANCE, add_log, add_merchant

pytestmark = pytest.mark.gui

# The view's tests' fixtures: the staff, the person at the keyboard, the view's services.
me = view_tests.me
services = view_tests.services
staffed = view_tests.staffed


def press_retry_key(qtbot, view) -> None:
    qtbot.keyClick(view.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_a_merchant_without_an_endpoint_is_named_and_the_key_says_why(qtbot, staffed, services):
    add_merchant(staffed, "mer_B")  # Shop B, no endpoint
    log_id = add_log(staffed, "mer_B")
    set_status(staffed, log_id, "failed")
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    pane = view.detail
    why = "Shop B has no webhook endpoint; an admin can set one."
    assert not pane.retry_button.isEnabled()
    assert pane.retry_reason.isVisible() and pane.retry_reason.text() == why
    assert "mer_B" not in pane.retry_reason.text()
    assert pane.value("Merchant").startswith("Shop B")
    # The key on the disabled button says why, in the pane and the notice above the table.
    with qtbot.waitSignal(view.message) as said:
        press_retry_key(qtbot, view)
    assert said.args == [why]
    assert view.notice.isVisible() and view.notice_text.text() == why
    assert pane.retry_reason.text() == why
    assert statuses(staffed, [log_id]) == {log_id: "failed"}


def test_the_retry_key_retries_when_retry_is_on_and_says_so_with_nothing_selected(
    qtbot, staffed, services
):
    add_merchant(staffed, url=refused_url())
    log_id = add_log(staffed)
    set_status(staffed, log_id, "failed")
    view = open_view(qtbot, services)
    with qtbot.waitSignal(view.message) as said:
        press_retry_key(qtbot, view)
    assert said.args == ["Select a delivery to retry it."]
    assert view.notice_text.text() == "Select a delivery to retry it."
    click_log(qtbot, view, log_id)
    assert view.detail.retry_button.isEnabled()
    with qtbot.waitSignal(view.actionFinished):
        press_retry_key(qtbot, view)
    assert statuses(staffed, [log_id]) == {log_id: "pending"}
    qtbot.waitUntil(lambda: cell(view, log_id, "status") == "Pending")


def test_finance_pressing_the_retry_key_reads_who_may(qtbot, staffed, services, monkeypatch):
    monkeypatch.setattr(staffed, "default_actor", lambda: FINANCE)
    add_merchant(staffed, url=refused_url())
    log_id = add_log(staffed)
    set_status(staffed, log_id, "failed")
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    with qtbot.waitSignal(view.message) as said:
        press_retry_key(qtbot, view)
    assert said.args == ["Only support or admin staff can retry webhook deliveries."]
    assert statuses(staffed, [log_id]) == {log_id: "failed"}


@pytest.fixture
def no_route() -> Iterator[FakeGateway]:
    gw = FakeGateway(Variation(retry_route=False))
    yield gw
    gw.close()


def _gateway_log(ctx, gw: FakeGateway) -> str:
    gw.add_log("payment.success", gw.add_payment(), status="failed")
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    assert sync.sync_connection(ctx, "acme").error is None
    with ctx.db.read() as s:
        [row] = webhooks.page(s, webhooks.WebhookFilter())
    return row.id


def test_a_gateway_without_the_retry_route_disables_retry_and_says_why(
    qtbot, staffed, services, no_route
):
    log_id = _gateway_log(staffed, no_route)
    view = open_view(qtbot, services)
    click_log(qtbot, view, log_id)
    why = (
        "The gateway of acme has no retry route (POST /webhooks/{id}/retry); "
        "it retries its deliveries on its own schedule."
    )
    assert not view.detail.retry_button.isEnabled()
    assert view.detail.retry_reason.text() == why and view.detail.retry_reason.isVisible()
    with qtbot.waitSignal(view.message) as said:
        press_retry_key(qtbot, view)
    assert said.args == [why] and view.notice_text.text() == why


def test_a_copy_without_the_gateway_secret_says_where_to_put_it(qtbot, staffed, services):
    gw = FakeGateway(Variation())
    try:
        log_id = _gateway_log(staffed, gw)
        secrets.forget("acme")
        view = open_view(qtbot, services)
        click_log(qtbot, view, log_id)
        reason = view.detail.retry_reason.text()
        assert not view.detail.retry_button.isEnabled()
        assert "does not hold the secret of acme" in reason
        assert "PAYDESK_GATEWAY_SECRET_ACME" in reason and API_SECRET not in reason
    finally:
        gw.close()
