"""The Overview driven as a person would: tiles show today's figures from hand-built rows,
a click on a tile, a line or a bar opens the filtered view behind it, the range and currency
selectors reload, hovering a bar shows its exact value, and change notices reload the view
once per burst. On both databases; days start at midnight in Kolkata (UTC+5:30)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QToolTip

from core.context import Context
from core.errors import InputError
from core.overview import dashboard
from core.overview.dashboard import JobsLink, RefundLink, WebhookLink, local_midnight
from core.payments.queries import PaymentFilter
from core.store import notify
from desktop.overview.view import DashboardView
from desktop.shell.main_window import MainWindow
from desktop.shell.runner import TaskRunner
from desktop.shell.views import AppServices
from tests.gui.conftest import app_services
from tests.test_dashboard import (
    KOLKATA,
    KOLKATA_TODAY,
    NOW,
    merchant,
    payment,
    refund,
    webhook,
)

pytestmark = pytest.mark.gui

TOMORROW = KOLKATA_TODAY + timedelta(days=1)
TODAY = PaymentFilter(created_from=KOLKATA_TODAY, created_to=TOMORROW)
TWO_DAYS_AGO = date(2026, 1, 13)  # a local day in Kolkata


class Navigator:
    """Stands in for the main window: records where the dashboard asked to go."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.answer: object | None = object()  # the view it "opened"; None: no such view

    def __call__(self, key: str, link: object) -> object | None:
        self.calls.append((key, link))
        return self.answer


@pytest.fixture
def navigator() -> Navigator:
    return Navigator()


@pytest.fixture
def services(ctx: Context, navigator: Navigator, qtbot) -> Iterator[AppServices]:
    with app_services(ctx, navigate=navigator) as services:
        yield services


@pytest.fixture
def rows(ctx: Context) -> dict[str, str]:
    """Today (Kolkata): 2 INR and 1 JPY successful, 1 INR failed; yesterday 2 successful;
    two days ago 2 INR successful and 1 failed; one refund waiting 20 days, one processed today; one
    failed delivery and one being retried."""
    ids: dict[str, str] = {}
    with ctx.db.write() as s:
        merchant(s)
        ids["inr_1"] = payment(s, NOW - timedelta(hours=1), 100_00)
        ids["inr_2"] = payment(s, KOLKATA_TODAY + timedelta(minutes=5), 250_50)
        ids["inr_failed"] = payment(s, NOW - timedelta(hours=2), 99_00, status="failed")
        ids["jpy"] = payment(s, NOW - timedelta(hours=3), 1200, "JPY")
        ids["yesterday"] = payment(s, KOLKATA_TODAY - timedelta(minutes=1), 10_00)
        ids["yesterday_2"] = payment(s, KOLKATA_TODAY - timedelta(hours=5), 20_00)
        old = local_midnight(TWO_DAYS_AGO, KOLKATA) + timedelta(hours=10)
        ids["old_1"] = payment(s, old, 40_00)
        ids["old_2"] = payment(s, old + timedelta(hours=1), 2_00)
        ids["old_failed"] = payment(s, old + timedelta(hours=2), 7_00, status="failed")
        s.flush()
        ids["waiting"] = refund(s, ids["old_1"], NOW - timedelta(days=20), 5_00)
        ids["processed"] = refund(
            s, ids["inr_1"], NOW - timedelta(hours=2), 50_00, status="processed",
            processed_at=NOW - timedelta(hours=1),
        )  # fmt: skip
        ids["failed_log"] = webhook(s, "failed", [(NOW - timedelta(hours=2), 500)] * 5)
        ids["retrying_log"] = webhook(s, "pending", [(NOW - timedelta(minutes=30), 503)])
    return ids


def open_view(qtbot, services: AppServices) -> DashboardView:
    view = DashboardView(services, tz=KOLKATA)
    qtbot.addWidget(view)
    view.resize(1280, 820)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded)
    return view


def click(qtbot, widget, pos: QPoint) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)


def value_point(tile) -> QPoint:
    return tile._rows()[1].center()


def bucket_of(chart: dashboard.Chart, day: date) -> int:
    return next(i for i, b in enumerate(chart.buckets) if b.label == day)


# -- tiles -------------------------------------------------------------------------------------------


def test_tiles_show_todays_figures_from_the_rows(qtbot, services, rows):
    view = open_view(qtbot, services)
    t = view.tiles

    assert t["payments_today"].value_text == "4"
    assert t["payments_today"].line_texts == ["₹350.50 · 2 successful", "¥1,200 · 1 successful"]
    # 3 of 4 decided today; 4 of 5 in the seven days before.
    assert t["success_rate"].value_text == "75.0%"
    assert t["success_rate"].line_texts[0] == "Last 7 days: 80.0%"
    assert t["success_rate"].content.badge == ("−5.0 pts", "failed")
    assert t["success_rate"].line_texts[1] == "1 failed payment today"
    # Waiting 20 days, past the seed policy's 14: red.
    assert t["refunds_awaiting"].value_text == "1"
    assert t["refunds_awaiting"].line_texts[0] == "Oldest waiting 20 d 0 h"
    assert t["refunds_awaiting"].alert and t["refunds_awaiting"].content.badge[0] == "Overdue"
    assert t["refunds_processed"].value_text == "1"
    assert t["refunds_processed"].line_texts == ["₹50.00 · 1 refund"]
    assert t["webhooks_failing"].value_text == "2"
    assert t["webhooks_failing"].line_texts[0] == "1 failed · 1 retrying"
    assert t["scheduler"].value_text == "No runs yet"


def test_tiles_tell_when_nothing_happened_today(qtbot, services):
    view = open_view(qtbot, services)
    assert view.tiles["payments_today"].value_text == "0"
    assert view.tiles["payments_today"].line_texts == ["No payments yet today"]
    assert view.tiles["success_rate"].value_text == "—"
    assert not view.tiles["refunds_awaiting"].alert
    assert view.payments_chart.chart.data is not None
    assert not any(any(s.values) for s in view.payments_chart.chart.data.series)
    assert not view.currency_combo.isEnabled()


def test_clicking_a_tile_opens_the_view_behind_it_with_its_filter(qtbot, services, rows, navigator):
    view = open_view(qtbot, services)
    expected = [
        ("payments_today", ("payments", TODAY)),
        ("refunds_awaiting", ("refunds", RefundLink(status="pending_approval", oldest_first=True))),
        ("webhooks_failing", ("webhooks", WebhookLink(failing=True))),
        ("scheduler", ("jobs", JobsLink())),
    ]
    for key, call in expected:
        with qtbot.waitSignal(view.navigated):
            click(qtbot, view.tiles[key], value_point(view.tiles[key]))
        assert navigator.calls[-1] == call, key


def test_clicking_a_currency_line_opens_that_currencys_payments(qtbot, services, rows, navigator):
    view = open_view(qtbot, services)
    tile = view.tiles["payments_today"]
    with qtbot.waitSignal(view.navigated):
        click(qtbot, tile, tile.line_rect(1).center())
    assert navigator.calls == [
        ("payments", PaymentFilter(status="success", currency="JPY", created_from=KOLKATA_TODAY,
                                   created_to=TOMORROW)),
    ]  # fmt: skip


def test_keyboard_opens_a_focused_tile(qtbot, services, rows, navigator):
    view = open_view(qtbot, services)
    tile = view.tiles["refunds_processed"]
    tile.setFocus()
    with qtbot.waitSignal(view.navigated):
        qtbot.keyClick(tile, Qt.Key.Key_Return)
    assert navigator.calls == [
        ("refunds", RefundLink(status="processed", processed_from=KOLKATA_TODAY,
                               processed_to=TOMORROW)),
    ]  # fmt: skip


def test_a_view_this_build_lacks_is_reported_instead_of_opened(qtbot, services, rows, navigator):
    navigator.answer = None
    view = open_view(qtbot, services)
    with qtbot.waitSignal(view.message) as said:
        click(qtbot, view.tiles["webhooks_failing"], value_point(view.tiles["webhooks_failing"]))
    assert said.args == ["This Paydesk has no Webhooks view yet."]


# -- charts ------------------------------------------------------------------------------------------


def test_clicking_a_bar_opens_that_days_payments_of_that_status(qtbot, services, rows, navigator):
    view = open_view(qtbot, services)
    chart = view.payments_chart.chart
    board = view.board
    assert board is not None and board.currency == "INR"
    i = bucket_of(board.payment_volume, TWO_DAYS_AGO)
    with qtbot.waitSignal(view.navigated):
        click(qtbot, chart, chart.bar_rect(i, "failed").center().toPoint())
    assert navigator.calls == [
        (
            "payments",
            PaymentFilter(
                status="failed",
                currency="INR",
                created_from=datetime(2026, 1, 12, 18, 30, tzinfo=UTC),
                created_to=datetime(2026, 1, 13, 18, 30, tzinfo=UTC),
            ),
        )
    ]


def test_hovering_a_bar_shows_its_exact_amount(qtbot, services, rows):
    view = open_view(qtbot, services)
    chart = view.payments_chart.chart
    i = bucket_of(view.board.payment_volume, TWO_DAYS_AGO)
    # Qt sends no move to where the pointer already is (a previous test may have left it there).
    qtbot.mouseMove(chart, QPoint(1, 1))
    qtbot.mouseMove(chart, chart.bar_rect(i, "success").center().toPoint())
    qtbot.waitUntil(lambda: "₹42.00" in QToolTip.text())
    assert "Tue 13 Jan 2026" in QToolTip.text()
    assert chart.hover_text.splitlines() == [
        "Tue 13 Jan 2026",
        "Successful: ₹42.00 · 2 payments",
        "Failed: ₹7.00 · 1 payment",
        "Pending: ₹0.00 · 0 payments",
        "All: ₹49.00 · 3 payments",
    ]


def test_a_webhook_bar_opens_the_deliveries_attempted_in_that_hour(
    qtbot, services, rows, navigator
):
    view = open_view(qtbot, services)
    chart = view.webhooks_chart.chart
    board = view.board
    hour = NOW - timedelta(minutes=30)
    i = next(i for i, b in enumerate(board.webhook_attempts.buckets) if b.start <= hour < b.end)
    with qtbot.waitSignal(view.navigated):
        click(qtbot, chart, chart.bar_rect(i, "failure").center().toPoint())
    key, link = navigator.calls[-1]
    assert key == "webhooks"
    assert link.attempt_outcome == "failure" and link.attempted_from <= hour < link.attempted_to


def test_the_range_selector_reloads_the_charts_by_hour_for_today(qtbot, services, rows):
    view = open_view(qtbot, services)
    assert len(view.board.payment_volume.buckets) == 30
    with qtbot.waitSignal(view.refreshed):
        view.range_combo.setCurrentIndex(view.range_combo.findData("today"))
    assert view.board.range == "today"
    volume = view.payments_chart.chart.data
    assert volume is not None and volume.size == 24
    assert view.payments_chart.title.text() == "Payment volume per hour"
    # 12:00 UTC is 17:30 in Kolkata: the 100.00 payment an hour earlier is in the 16:00 bar.
    success = volume.series[0]
    assert success.values[16] == 100_00
    assert view.payments_chart.headline.text() == "₹350.50"

    with qtbot.waitSignal(view.refreshed):
        view.range_combo.setCurrentIndex(view.range_combo.findData("90d"))
    assert view.payments_chart.chart.data.size == 90


def test_the_currency_selector_redraws_the_amount_charts_in_that_currency(qtbot, services, rows):
    view = open_view(qtbot, services)
    assert [view.currency_combo.itemText(i) for i in range(view.currency_combo.count())] == [
        "INR",
        "JPY",
    ]
    with qtbot.waitSignal(view.refreshed):
        view.currency_combo.setCurrentIndex(view.currency_combo.findData("JPY"))
    assert view.board.currency == "JPY"
    assert view.currency_combo.currentText() == "JPY"
    assert view.payments_chart.headline.text() == "¥1,200"
    today = view.payments_chart.chart.data.series[0]
    assert today.texts[-1] == "¥1,200 · 1 payment"


def test_a_load_that_fails_shows_its_sentence_and_keeps_the_view_usable(
    qtbot, services, monkeypatch
):
    def refuse(*_a, **_k):
        raise InputError("'XYZ' is not a currency Paydesk knows.")

    monkeypatch.setattr(dashboard, "load", refuse)
    view = open_view(qtbot, services)
    assert view.banner.isVisible()
    assert view.banner_text.text() == "'XYZ' is not a currency Paydesk knows."
    monkeypatch.undo()
    with qtbot.waitSignal(view.refreshed):
        view.reload()
    assert not view.banner.isVisible()


# -- live updates ------------------------------------------------------------------------------------


def test_a_burst_of_changes_reloads_once(qtbot, services, rows, monkeypatch):
    view = open_view(qtbot, services)
    loads = view.loads
    reloads = []
    reload = view.reload
    monkeypatch.setattr(view, "reload", lambda: (reloads.append(1), reload()))
    with qtbot.waitSignal(view.refreshed):
        for n in range(20):
            notify.dispatch(notify.Notice("payments", (f"pay_{n}",), "success"))
            notify.dispatch(notify.Notice("refunds", (f"rfnd_{n}",), "processed"))
    qtbot.waitUntil(lambda: not services.runner.in_flight)
    QApplication.processEvents()
    # Two tables changed, forty rows: one query.
    assert reloads == [1]
    assert view.loads == loads + 1
    assert not view._coalesce.isActive()


def test_changes_to_other_tables_do_not_reload(qtbot, services, rows):
    view = open_view(qtbot, services)
    notify.dispatch(notify.Notice("clients", ("c1",)))
    qtbot.waitUntil(lambda: not services.changes._timer.isActive())
    assert not view._coalesce.isActive()


def test_a_hidden_view_catches_up_when_shown(qtbot, services, rows):
    view = open_view(qtbot, services)
    view.hide()
    loads = view.loads
    notify.dispatch(notify.Notice("webhook_logs", ("msg_1",), "failed"))
    qtbot.waitUntil(lambda: view._stale)
    assert view.loads == loads
    with qtbot.waitSignal(view.refreshed):
        view.show()
    assert view.loads == loads + 1


# -- in the main window ------------------------------------------------------------------------------


def test_overview_is_the_first_view_and_a_bar_opens_the_payments_view(qtbot, ctx, rows):
    runner = TaskRunner()
    window = MainWindow(runner)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    window.set_services(AppServices(ctx=ctx, runner=runner))  # no navigate: the window's own
    view = window.view("dashboard")
    assert isinstance(view, DashboardView)
    assert window.stack.currentWidget() is view
    qtbot.waitUntil(lambda: view.is_loaded)

    board = view.board
    paid_at = NOW - timedelta(hours=1)  # inr_1, 100.00
    i = next(i for i, b in enumerate(board.payment_volume.buckets) if b.start <= paid_at < b.end)
    chart = view.payments_chart.chart
    with qtbot.waitSignal(view.navigated):
        click(qtbot, chart, chart.bar_rect(i, "success").center().toPoint())
    payments_view = window.view("payments")
    assert window.stack.currentWidget() is payments_view
    qtbot.waitUntil(lambda: payments_view.is_loaded and payments_view.model.rowCount() > 0)
    shown = {payments_view.model.row_at(r).id for r in range(payments_view.model.rowCount())}
    bucket = board.payment_volume.buckets[i]
    expected = {
        k
        for k, at in (
            ("inr_1", NOW - timedelta(hours=1)),
            ("inr_2", KOLKATA_TODAY + timedelta(minutes=5)),
        )
        if bucket.start <= at < bucket.end
    }
    assert shown == {rows[k] for k in expected}
    assert payments_view.status_combo.currentData() == "success"
    window.shutdown()


# -- reconciliation ----------------------------------------------------------------------------------


def test_the_reconciliation_tile_counts_open_exceptions_and_opens_them(
    qtbot, services, navigator, tmp_path
):
    from core.recon import importer
    from tests.test_recon import rz_row, write_csv
    from tests.test_refunds import add_merchant, add_staff

    view = open_view(qtbot, services)
    tile = view.tiles["recon"]
    assert tile.value_text == "—"
    assert tile.line_texts[0] == "No settlement report imported"

    ctx = services.ctx
    add_staff(ctx)
    add_merchant(ctx)
    # Two lines Paydesk has no payment for: settled money nothing explains.
    path = write_csv(
        tmp_path / "s.csv",
        [rz_row("pay_unknown0000001", amount=10_000), rz_row("pay_unknown0000002", amount=2_500)],
    )
    importer.import_report(ctx, "bob", path)
    with qtbot.waitSignal(view.refreshed):
        view.reload()
    tile = view.tiles["recon"]
    assert tile.value_text == "2"
    # What the bank was credited for them: ₹125.00 less the 2 % fees.
    assert tile.line_texts == ["2 open exceptions", "Unexplained: +₹122.50"]
    assert tile.alert
    with qtbot.waitSignal(view.navigated):
        click(qtbot, tile, value_point(tile))
    assert navigator.calls[-1] == ("recon", dashboard.ReconLink(open_only=True))
