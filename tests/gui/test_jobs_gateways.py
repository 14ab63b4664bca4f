"""The Jobs view's Gateways section: a reachable connection with the gateway's queue counts and
an unreachable one, as a person reads them; and the tasks and copies still show when a gateway
does not answer. Real HTTP to fake gateways on 127.0.0.1, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from core.context import Context
from core.gateway import connections, sync
from desktop.jobs.gateways import GATEWAY_COLUMNS
from desktop.jobs.view import JobsView
from desktop.shell.views import AppServices
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.webhook_receiver import ADMIN, add_staff

pytestmark = pytest.mark.gui


@pytest.fixture
def gateways(ctx: Context) -> Iterator[tuple[FakeGateway, FakeGateway]]:
    """``acme`` answers (3 refunds pending at the gateway); ``beta`` synced once and then went
    away (nothing listens on its port)."""
    acme, beta = FakeGateway(), FakeGateway()
    acme.seed(payments=4, refunds=3)
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, "acme", acme.api, API_KEY, API_SECRET)
    connections.add_connection(ctx, ADMIN, "beta", beta.api, API_KEY, API_SECRET)
    sync.sync_connection(ctx, "acme")
    sync.sync_connection(ctx, "beta")
    beta.close()
    yield acme, beta
    acme.close()


def open_jobs(qtbot, services: AppServices) -> JobsView:
    view = JobsView(services)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    with qtbot.waitSignal(view.gatewaysLoaded, timeout=10_000):
        view.show()
    return view


def cell(view: JobsView, name: str, column: str) -> str:
    model = view.gateways.model
    row = model.row_of(name)
    assert row >= 0, f"{name} is not listed"
    return model.index(row, GATEWAY_COLUMNS.index(column)).data()


def tip(view: JobsView, name: str, column: str) -> str:
    model = view.gateways.model
    index = model.index(model.row_of(name), GATEWAY_COLUMNS.index(column))
    return index.data(Qt.ItemDataRole.ToolTipRole)


def test_the_section_shows_a_reachable_and_an_unreachable_connection(
    qtbot, view_services, gateways
):
    _acme, _beta = gateways
    view = open_jobs(qtbot, view_services)
    assert view.gateways.table.isVisible()
    assert view.gateways.summary.text() == "1 of 2 reachable · not answering: beta"
    assert cell(view, "acme", "Reachability") == "Reachable"
    assert cell(view, "acme", "Sync outcome") == "OK"
    assert cell(view, "acme", "Last sync") == "now"
    assert (cell(view, "acme", "Pending"), cell(view, "acme", "Completed")) == ("3", "7")
    assert (cell(view, "acme", "Failed"), cell(view, "acme", "Worker")) == ("1", "running")
    assert cell(view, "beta", "Reachability") == "Unreachable"
    assert "cannot be reached" in tip(view, "beta", "Reachability")
    # beta's counts are the last sync's, and say so.
    assert cell(view, "beta", "Completed") == "7"
    assert "as the last sync read it" in tip(view, "beta", "Completed")
    assert "read just now" in tip(view, "acme", "Completed")


def test_a_gateway_without_a_queue_route_says_not_offered(qtbot, view_services, ctx):
    plain = FakeGateway(Variation(queue_status=False))
    try:
        add_staff(ctx)
        connections.add_connection(ctx, ADMIN, "plain", plain.api, API_KEY, API_SECRET)
        view = open_jobs(qtbot, view_services)
        assert cell(view, "plain", "Worker") == "Not offered"
        assert cell(view, "plain", "Pending") == "—"
        assert cell(view, "plain", "Sync outcome") == "Not synced yet"
        assert tip(view, "plain", "Pending") == "This gateway offers no queue status route."
    finally:
        plain.close()


def test_no_connections_says_how_to_add_one(qtbot, view_services):
    view = open_jobs(qtbot, view_services)
    assert not view.gateways.table.isVisible()
    assert view.gateways.summary.text() == "No gateway connections. Database → Gateways… adds one."


def test_a_gateway_that_does_not_answer_holds_up_nothing_else(qtbot, view_services, ctx):
    slow = FakeGateway()
    try:
        add_staff(ctx)
        connections.add_connection(ctx, ADMIN, "slow", slow.api, API_KEY, API_SECRET)
        slow.vary(delay=4.0)  # longer than the probe's timeout
        view = JobsView(view_services)
        qtbot.addWidget(view)
        with qtbot.waitSignal(view.copiesLoaded, timeout=5000):
            view.show()
        # The copies are read and shown while the gateway is still being asked.
        assert view.gateways.model.rowCount() == 0
        assert view.copies_summary.text()
        with qtbot.waitSignal(view.gatewaysLoaded, timeout=10_000):
            pass
        assert cell(view, "slow", "Reachability") == "Unreachable"
        assert "did not answer in time" in tip(view, "slow", "Reachability")
    finally:
        slow.close()
