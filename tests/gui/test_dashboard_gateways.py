"""The Overview's Gateways tile as a person reads it: hidden without connections; a reachable
connection with its last sync and queue; an unreachable one in red, named; a click opens the
Jobs view; and a gateway that does not answer never holds up the other tiles. Real HTTP to fake
gateways on 127.0.0.1, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, Qt

from core.context import Context
from core.gateway import connections, sync
from core.overview.links import JobsLink
from desktop.overview.view import DashboardView
from desktop.shell.views import AppServices
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway
from tests.gui.conftest import app_services
from tests.gui.test_dashboard_view import Navigator
from tests.webhook_receiver import ADMIN, add_staff

pytestmark = pytest.mark.gui


@pytest.fixture
def navigator() -> Navigator:
    return Navigator()


@pytest.fixture
def services(ctx: Context, navigator: Navigator, qtbot) -> Iterator[AppServices]:
    with app_services(ctx, navigate=navigator) as services:
        yield services


def _connect(ctx: Context, gw: FakeGateway, name: str) -> None:
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, name, gw.api, API_KEY, API_SECRET)


def open_view(qtbot, services: AppServices) -> DashboardView:
    view = DashboardView(services)
    qtbot.addWidget(view)
    view.resize(1280, 820)
    with qtbot.waitSignal(view.gatewaysLoaded, timeout=10_000):
        view.show()
    qtbot.waitUntil(lambda: view.is_loaded)
    return view


def test_no_connection_no_tile(qtbot, services):
    view = open_view(qtbot, services)
    assert not view.gateways_tile.isVisible()


def test_a_reachable_connection_shows_its_sync_and_queue(qtbot, services, ctx, navigator):
    gw = FakeGateway()
    try:
        gw.seed(payments=2, refunds=2)
        _connect(ctx, gw, "acme")
        sync.sync_connection(ctx, "acme")
        view = open_view(qtbot, services)
        tile = view.gateways_tile
        assert tile.isVisible() and not tile.alert
        assert tile.value_text == "Reachable"
        assert tile.line_texts == [
            "acme: synced just now",
            "acme: 2 pending · 1 failed · worker running",
        ]
        assert "Gateways" in tile.accessibleName()
        qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
        assert navigator.calls == [("jobs", JobsLink())]
    finally:
        gw.close()


def test_an_unreachable_connection_is_named_in_red(qtbot, services, ctx):
    up, down = FakeGateway(), FakeGateway()
    try:
        _connect(ctx, up, "acme")
        _connect(ctx, down, "beta")
        sync.sync_connection(ctx, "beta")
        down.close()
        view = open_view(qtbot, services)
        tile = view.gateways_tile
        assert tile.alert
        assert tile.value_text == "1 not answering"
        assert tile.line_texts == ["beta: synced just now", "1 of 2 reachable"]
        assert "cannot be reached" in tile.toolTip()
    finally:
        up.close()


def test_a_gateway_that_does_not_answer_holds_up_no_other_tile(qtbot, services, ctx):
    slow = FakeGateway()
    try:
        _connect(ctx, slow, "slow")
        slow.vary(delay=4.0)  # longer than the probe's timeout
        view = DashboardView(services)
        qtbot.addWidget(view)
        view.show()
        qtbot.waitUntil(lambda: view.is_loaded, timeout=5000)
        # The board's tiles are filled while the gateway is still being asked.
        assert view.tiles["payments_today"].value_text == "0"
        assert not view.gateway_rows
        with qtbot.waitSignal(view.gatewaysLoaded, timeout=10_000):
            pass
        assert view.gateways_tile.value_text == "1 not answering"
        assert "did not answer in time" in view.gateways_tile.toolTip()
    finally:
        slow.close()
