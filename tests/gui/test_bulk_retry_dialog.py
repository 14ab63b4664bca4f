""" "Retry failed…" as a person uses it: the dialog says what it would retry and what it leaves
out (and why) before anything happens, leaves a merchant without an endpoint alone, and for a
gateway's logs shows the count, then each request going out, with a Cancel that stops sending
the rest and says how many went. Real HTTP to the fake gateway on 127.0.0.1; both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from core.gateway import connections, sync
from core.gateway.client import PROBE_LOG
from core.store.models import WebhookLog
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.gui import test_webhooks_view as view_tests
from tests.gui.test_accessibility import unnamed
from tests.gui.test_webhooks_view import cell, open_view, refused_url, statuses
from tests.test_webhooks import set_status
from tests.webhook_receiver import ADMIN, add_log, add_merchant

pytestmark = pytest.mark.gui

# The view's tests' fixtures: the staff, the person at the keyboard, the view's services.
me = view_tests.me
services = view_tests.services
staffed = view_tests.staffed


def open_dialog(qtbot, view):
    qtbot.mouseClick(view.bulk_button, Qt.MouseButton.LeftButton)
    dialog = view.bulk_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.count is not None)
    return dialog


def test_the_dialog_says_what_it_leaves_out_and_retries_only_the_rest(qtbot, staffed, services):
    add_merchant(staffed, "mer_A", url=refused_url())
    add_merchant(staffed, "mer_B")  # Shop B: no endpoint
    a = [add_log(staffed, "mer_A", entity_id=f"pay_a{i}") for i in range(2)]
    b = [add_log(staffed, "mer_B", entity_id=f"pay_b{i}") for i in range(3)]
    for log_id in (*a, *b):
        set_status(staffed, log_id, "failed")
    view = open_view(qtbot, services)
    dialog = open_dialog(qtbot, view)
    assert dialog.count == 2
    assert dialog.count_label.text() == "5 failed deliveries match; 2 will be retried, 3 left out:"
    assert dialog.plan_label.isVisible()
    assert dialog.plan_label.text() == (
        "3 deliveries left out: Shop B has no webhook endpoint; an admin can set one."
    )
    assert dialog.retry_button.text() == "Retry 2 deliveries"
    assert set(statuses(staffed, [*a, *b]).values()) == {"failed"}  # reading changed nothing
    # Every control of the dialog has a name and says what it does.
    assert unnamed(dialog) == []
    for combo in (dialog.status_combo, dialog.merchant_combo, dialog.event_combo):
        assert combo.accessibleName() and combo.accessibleDescription()
    with qtbot.waitSignal(dialog.retried) as got:
        qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert got.args == [2]
    assert dialog.result_label.text() == "Retried 2 deliveries; they are being sent now."
    assert statuses(staffed, [*a, *b]) == {
        **dict.fromkeys(a, "pending"),
        **dict.fromkeys(b, "failed"),
    }
    qtbot.waitUntil(lambda: [cell(view, i, "status") for i in a] == ["Pending", "Pending"])


def test_only_merchants_without_an_endpoint_cannot_be_run(qtbot, staffed, services):
    add_merchant(staffed, "mer_B")
    log_id = add_log(staffed, "mer_B")
    set_status(staffed, log_id, "failed")
    view = open_view(qtbot, services)
    dialog = open_dialog(qtbot, view)
    assert dialog.count == 0
    assert dialog.count_label.text() == "1 failed delivery matches, but none can be retried:"
    assert not dialog.retry_button.isEnabled()
    assert dialog.retry_button.toolTip() == "Nothing here can be retried."


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway(Variation())
    yield gateway
    gateway.close()


def _gateway_logs(ctx, gw: FakeGateway, n: int) -> dict[str, str]:
    for _ in range(n):
        gw.add_log("payment.success", gw.add_payment(), status="failed")
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    assert sync.sync_connection(ctx, "acme").error is None
    with ctx.db.read() as s:
        rows = s.execute(select(WebhookLog.id, WebhookLog.gateway_log_id)).all()
    assert len(rows) == n
    return {r[0]: r[1] for r in rows}


def _retry_posts(gw: FakeGateway) -> list[str]:
    with gw.lock:
        paths = [r.path for r in gw.requests if r.method == "POST" and r.path.endswith("/retry")]
    return [p.split("/")[-2] for p in paths if PROBE_LOG not in p]


def test_gateway_logs_go_one_request_each_with_progress(qtbot, staffed, services, gw):
    logs = _gateway_logs(staffed, gw, 6)
    view = open_view(qtbot, services)
    dialog = open_dialog(qtbot, view)
    assert dialog.count == 6
    assert dialog.count_label.text() == "6 failed deliveries match."
    assert dialog.plan_label.text() == (
        "6 deliveries go to the gateway (acme): one request each, 4 at a time."
    )
    assert _retry_posts(gw) == []
    seen: list[tuple[int, int]] = []
    dialog.progressed.connect(lambda done, total: seen.append((done, total)))
    with qtbot.waitSignal(dialog.retried, timeout=30_000) as got:
        qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert got.args == [6]
    assert sorted(_retry_posts(gw)) == sorted(logs.values())
    assert seen and seen[-1] == (6, 6) and dialog.progress.value() == 6
    assert dialog.result_label.text() == (
        "Retried 6 deliveries: the gateway accepted 6 requests to send its logs again."
    )


def test_cancel_stops_sending_the_rest_and_says_how_many_went(qtbot, staffed, services, gw):
    _gateway_logs(staffed, gw, 40)
    gw.vary(delay=0.15)
    view = open_view(qtbot, services)
    dialog = open_dialog(qtbot, view)
    assert dialog.retry_button.text() == "Retry 40 deliveries"
    with qtbot.waitSignal(dialog.progressed, timeout=30_000):
        qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert dialog.progress.isVisible() and dialog.close_button.text() == "Stop sending"
    with qtbot.waitSignal(dialog.retried, timeout=30_000) as got:
        qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
        assert dialog.isVisible()  # it stays to say what went
    sent = got.args[0]
    posted = _retry_posts(gw)
    assert 1 <= sent == len(posted) < 40
    assert dialog.result_label.text() == (
        f"Stopped: {sent} of 40 gateway retries were sent before Cancel; {40 - sent} were not sent."
    )
    assert dialog.close_button.text() == "Close" and dialog.close_button.isEnabled()
