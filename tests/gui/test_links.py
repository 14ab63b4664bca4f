"""A click on a dashboard tile, line or bar in the main window opens the Refunds or Webhooks
view showing exactly what it counted; a chip shows what the filter bar cannot, and removing
it widens the list again. On both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from core.context import Context
from desktop.overview.view import DashboardView
from desktop.refunds.view import RefundsView
from desktop.shell.main_window import MainWindow
from desktop.shell.runner import TaskRunner
from desktop.shell.views import AppServices
from desktop.webhooks.view import WebhooksView
from tests.test_dashboard import NOW, merchant, payment, refund, webhook
from tests.webhook_receiver import ADMIN, add_staff

pytestmark = pytest.mark.gui


@pytest.fixture
def rows(ctx: Context, monkeypatch) -> dict[str, str]:
    """Two refunds awaiting approval, one processed today and one three days ago; a failed
    delivery, one being retried, one re-sent after a success, one delivered, one not tried
    yet; a merchant whose endpoint is disabled. The person at the keyboard is an admin."""
    add_staff(ctx)
    monkeypatch.setattr(ctx, "default_actor", lambda: ADMIN)
    ids: dict[str, str] = {}
    with ctx.db.write() as s:
        merchant(s, "mer_a", webhook_url="https://hooks.example/a", webhook_enabled=True)
        merchant(s, "mer_b", webhook_url="https://hooks.example/b", webhook_enabled=False,
                 webhook_disabled_reason="The endpoint answered 410 Gone.")  # fmt: skip
        pid = payment(s, NOW - timedelta(days=30), 1_000_00)
        s.flush()
        ids["waiting_old"] = refund(s, pid, NOW - timedelta(days=5), 10_00)
        ids["waiting_new"] = refund(s, pid, NOW - timedelta(hours=1), 11_00)
        ids["processed_today"] = refund(
            s, pid, NOW - timedelta(days=2), 12_00, status="processed",
            processed_at=NOW - timedelta(hours=1),
        )  # fmt: skip
        ids["processed_before"] = refund(
            s, pid, NOW - timedelta(days=4), 13_00, status="processed",
            processed_at=NOW - timedelta(days=3),
        )  # fmt: skip
        ids["failed"] = webhook(s, "failed", [(NOW - timedelta(hours=2), 500)])
        ids["retrying"] = webhook(s, "pending", [(NOW - timedelta(minutes=30), 503)])
        ids["resent"] = webhook(
            s, "pending", [(NOW - timedelta(hours=5), 500), (NOW - timedelta(hours=4), 200)]
        )
        ids["delivered"] = webhook(s, "success", [(NOW - timedelta(minutes=30), 200)])
        ids["fresh"] = webhook(s, "pending")
    return ids


@pytest.fixture
def window(ctx: Context, rows, qtbot) -> Iterator[MainWindow]:
    runner = TaskRunner()
    win = MainWindow(runner)
    qtbot.addWidget(win)
    win.resize(1400, 860)
    win.show()
    win.set_services(AppServices(ctx=ctx, runner=runner))  # no navigate: the window's own
    yield win
    win.shutdown()
    for _ in range(50):
        runner.wait(10_000)
        QApplication.processEvents()
        if not runner.in_flight:
            break


def overview(qtbot, window: MainWindow) -> DashboardView:
    view = window.view("dashboard")
    assert isinstance(view, DashboardView)
    qtbot.waitUntil(lambda: view.is_loaded)
    return view


def click(qtbot, widget, pos: QPoint) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)


def click_tile(qtbot, view: DashboardView, key: str, line: int | None = None) -> None:
    tile = view.tiles[key]
    pos = tile._rows()[1].center() if line is None else tile.line_rect(line).center()
    with qtbot.waitSignal(view.navigated):
        click(qtbot, tile, pos)


def shown(view: WebhooksView | RefundsView) -> list[str]:
    """The ids on screen, top to bottom (none while the loading page shows)."""
    if view.pages.currentWidget() is view.loading_page:
        return []
    return [view.model.row_at(r).id for r in range(view.model.rowCount())]


def opened(window: MainWindow, key: str):
    target = window.view(key)
    assert window.stack.currentWidget() is target
    return target


# -- webhooks ------------------------------------------------------------------------------------


def test_failing_tile_opens_exactly_the_failing_deliveries_and_its_chip_clears_it(
    qtbot, window, rows
):
    view = overview(qtbot, window)
    failing = view.board.webhooks_failing.failing
    click_tile(qtbot, view, "webhooks_failing")
    hooks = opened(window, "webhooks")
    assert isinstance(hooks, WebhooksView)
    expected = {rows["failed"], rows["retrying"]}
    qtbot.waitUntil(lambda: set(shown(hooks)) == expected)
    assert len(shown(hooks)) == failing == 2
    chip = hooks.link_chips.chip("failing")
    assert chip is not None and chip.text() == "Failing now"
    assert hooks.status_combo.currentData() is None

    click(qtbot, chip, chip.rect().center())
    everything = {rows[k] for k in ("failed", "retrying", "resent", "delivered", "fresh")}
    qtbot.waitUntil(lambda: set(shown(hooks)) == everything)
    assert hooks.link_chips.keys() == [] and hooks.link_chips.isHidden()


def test_a_filter_the_person_adds_keeps_the_failing_narrowing(qtbot, window, rows):
    view = overview(qtbot, window)
    click_tile(qtbot, view, "webhooks_failing")
    hooks = opened(window, "webhooks")
    qtbot.waitUntil(lambda: len(shown(hooks)) == 2)
    hooks.status_combo.setCurrentIndex(hooks.status_combo.findData("pending"))
    qtbot.waitUntil(lambda: shown(hooks) == [rows["retrying"]])
    assert hooks.link_chips.chip("failing") is not None


def test_a_failure_bar_opens_the_deliveries_that_failed_in_that_hour(qtbot, window, rows):
    view = overview(qtbot, window)
    board = view.board
    hour = NOW - timedelta(minutes=30)
    i = next(i for i, b in enumerate(board.webhook_attempts.buckets) if b.start <= hour < b.end)
    point = board.webhook_attempts.get("failure").points[i]
    chart = view.webhooks_chart.chart
    with qtbot.waitSignal(view.navigated):
        click(qtbot, chart, chart.bar_rect(i, "failure").center().toPoint())
    hooks = opened(window, "webhooks")
    qtbot.waitUntil(lambda: shown(hooks) == [rows["retrying"]])
    assert point.count == 1
    chip = hooks.link_chips.chip("attempts")
    assert chip is not None and chip.text().startswith("Attempt failed ")


def test_the_endpoints_line_opens_the_endpoints_dialog_on_the_disabled_one(qtbot, window, rows):
    view = overview(qtbot, window)
    assert [e.merchant_id for e in view.board.webhooks_failing.endpoints] == ["mer_b"]
    click_tile(qtbot, view, "webhooks_failing", line=1)
    hooks = opened(window, "webhooks")
    qtbot.waitUntil(lambda: hooks.endpoints_dialog is not None)
    dialog = hooks.endpoints_dialog
    qtbot.waitUntil(lambda: dialog.endpoint is not None)
    assert dialog.endpoint.merchant_id == "mer_b"
    dialog.reject()


# -- refunds -------------------------------------------------------------------------------------


def test_awaiting_tile_opens_the_queue_oldest_first(qtbot, window, rows):
    view = overview(qtbot, window)
    count = view.board.refunds_awaiting.count
    click_tile(qtbot, view, "refunds_awaiting")
    queue = opened(window, "refunds")
    assert isinstance(queue, RefundsView)
    qtbot.waitUntil(lambda: shown(queue) == [rows["waiting_old"], rows["waiting_new"]])
    assert len(shown(queue)) == count == 2
    assert queue.status_combo.currentData() == "pending_approval"
    header = queue.table.horizontalHeader()
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    assert queue.link_chips.keys() == []


def test_processed_tile_opens_todays_processed_refunds_and_its_chip_clears_the_day(
    qtbot, window, rows
):
    view = overview(qtbot, window)
    count = view.board.refunds_processed.count
    click_tile(qtbot, view, "refunds_processed")
    queue = opened(window, "refunds")
    qtbot.waitUntil(lambda: shown(queue) == [rows["processed_today"]])
    assert len(shown(queue)) == count == 1
    assert queue.status_combo.currentData() == "processed"
    chip = queue.link_chips.chip("processed")
    assert chip is not None and chip.text().startswith("Processed on ")

    click(qtbot, chip, chip.rect().center())
    qtbot.waitUntil(lambda: shown(queue) == [rows["processed_today"], rows["processed_before"]])
    assert queue.status_combo.currentData() == "processed"
    assert queue.link_chips.isHidden()


def test_a_currency_line_narrows_to_that_currency_with_a_chip(qtbot, window, rows):
    view = overview(qtbot, window)
    tile = view.board.refunds_processed
    assert [c.currency for c in tile.by_currency] == ["INR"]
    click_tile(qtbot, view, "refunds_processed", line=0)
    queue = opened(window, "refunds")
    qtbot.waitUntil(lambda: shown(queue) == [rows["processed_today"]])
    assert queue.link_chips.keys() == ["currency", "processed"]
    chip = queue.link_chips.chip("currency")
    assert chip is not None and chip.text() == "Currency: INR"
