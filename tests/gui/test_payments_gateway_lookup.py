"""An exact payment id typed in the Payments search that Paydesk does not hold is asked for at
the gateway (real HTTP to the fake gateway on 127.0.0.1): found, it is kept and shown; not
found, the no-match page stays; a gateway that cannot be asked is said in one sentence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from core.context import Context
from core.gateway import connections
from desktop.payments.view import NO_MATCH_TEXT, PaymentsView
from desktop.shell.views import AppServices
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway
from tests.gui.conftest import app_services
from tests.gui.test_payments_view import shown_ids
from tests.webhook_receiver import ADMIN, add_staff

pytestmark = pytest.mark.gui


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway()
    gateway.seed(payments=3)
    yield gateway
    gateway.close()


@pytest.fixture
def services(ctx: Context, gw: FakeGateway, monkeypatch, qtbot) -> Iterator[AppServices]:
    add_staff(ctx)
    monkeypatch.setattr(ctx, "default_actor", lambda: ADMIN)
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    with app_services(ctx, changes=False) as services:
        yield services


def opened(qtbot, services: AppServices) -> PaymentsView:
    view = PaymentsView(services)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded, timeout=10_000)
    return view


def search(qtbot, view: PaymentsView, text: str) -> None:
    view.search.setText(text)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.keyClick(view.search, Qt.Key.Key_Return)


def asked(gw: FakeGateway, payment_id: str) -> int:
    return sum(1 for r in gw.requests if r.path == f"/api/v1/payments/{payment_id}")


def test_a_payment_only_the_gateway_has_is_fetched_and_shown(qtbot, services, gw):
    view = opened(qtbot, services)
    messages: list[str] = []
    view.message.connect(messages.append)
    search(qtbot, view, "pay_000000000002")
    # The first read finds nothing here; the gateway's answer brings the row.
    qtbot.waitUntil(lambda: shown_ids(view) == ["pay_000000000002"], timeout=10_000)
    assert view.pages.currentWidget() is view.table
    assert asked(gw, "pay_000000000002") == 1
    assert any("fetched from the gateway connection acme" in m for m in messages)


def test_an_id_no_gateway_has_leaves_the_no_match_page(qtbot, services, gw):
    view = opened(qtbot, services)
    search(qtbot, view, "pay_nowhere12345")
    qtbot.waitUntil(lambda: asked(gw, "pay_nowhere12345") == 1, timeout=10_000)
    qtbot.wait(100)  # the answer is handed back to the UI thread
    assert view.pages.currentWidget() is view.no_match_page
    assert view._no_match_body is not None and view._no_match_body.text() == NO_MATCH_TEXT


def test_a_gateway_that_cannot_be_reached_is_said_on_the_no_match_page(qtbot, services, gw):
    view = opened(qtbot, services)
    gw.close()
    search(qtbot, view, "pay_000000000001")
    body = view._no_match_body
    assert body is not None
    qtbot.waitUntil(lambda: "could not be asked" in body.text(), timeout=15_000)
    said = body.text()
    assert said.startswith("pay_000000000001 is not in Paydesk")
    assert "cannot be reached" in said and "\n" not in said
    assert view.pages.currentWidget() is view.no_match_page
