"""The Payments view driven as a person would, over 600 payments on SQLite and on Postgres:
search, filters, paging by scrolling, the detail pane, Copy id, export with Cancel, the empty
state, Refund…, live updates from change notices, and links from other views."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QApplication, QFrame, QMenu, QProgressBar, QToolButton

from core.payments import queries as payments
from core.payments.queries import PAGE_SIZE, PaymentFilter, PaymentRow
from core.refunds import service as rf
from desktop.payments import view as payments_view
from desktop.payments.model import COLUMN, PaymentsModel
from desktop.payments.view import FIRST_ROWS, PaymentsView
from desktop.shell.runner import ProgressRelay
from desktop.shell.views import AppServices
from tests.gui.conftest import SeededPayments
from tests.test_refunds import add_staff

pytestmark = pytest.mark.gui


def open_view(qtbot, services: AppServices) -> PaymentsView:
    view = PaymentsView(services)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded, timeout=10_000)
    return view


def shown_ids(view: PaymentsView) -> list[str]:
    col = COLUMN["id"]
    return [view.model.index(r, col).data() for r in range(view.model.rowCount())]


def cell(view: PaymentsView, payment_id: str, column: str) -> str:
    row = view.model.row_of(payment_id)
    assert row is not None, f"{payment_id} is not on screen"
    return view.model.index(row, COLUMN[column]).data()


def click_row(qtbot, view: PaymentsView, payment_id: str) -> None:
    row = view.model.row_of(payment_id)
    assert row is not None
    view.table.scrollTo(view.model.index(row, 0))
    rect = view.table.visualRect(view.model.index(row, COLUMN["id"]))
    with qtbot.waitSignal(view.detailShown, timeout=5000):
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def menu_action(menu: QMenu, text: str):
    return next(a for a in menu.actions() if a.text() == text)


# -- finding payments --------------------------------------------------------------------------


def test_first_page_is_newest_first_with_formatted_cells(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    assert view.model.rowCount() == FIRST_ROWS
    assert shown_ids(view)[:3] == seeded_payments.ids[:3]
    newest = seeded_payments.ids[0]
    assert cell(view, newest, "amount") == "₹100.00"
    assert cell(view, newest, "merchant") == "Aster Books"
    assert cell(view, newest, "status") == "Success"
    assert cell(view, newest, "refunded") == "—"
    assert view.counter.text() == f"{FIRST_ROWS} shown · scroll for more"


def test_the_rows_a_window_shows_come_formatted_from_the_pool(
    qtbot, view_services, seeded_payments, monkeypatch
):
    formatted_here: list[str] = []
    own_format = PaymentsModel._format

    def counted(model: PaymentsModel, row):
        formatted_here.append(row.id)
        return own_format(model, row)

    monkeypatch.setattr(PaymentsModel, "_format", counted)
    view = open_view(qtbot, view_services)
    view.table.viewport().repaint()
    shown = view.table.rowAt(view.table.viewport().height() - 1) + 1
    assert 0 < shown <= 30 and formatted_here == []  # painted without formatting a row
    assert cell(view, seeded_payments.ids[0], "merchant") == "Aster Books"
    view.table.scrollTo(view.model.index(45, 0))
    view.table.viewport().repaint()
    assert seeded_payments.ids[45] in formatted_here  # past those, rows are formatted here


def test_typing_an_order_id_shows_only_that_payment(
    qtbot, view_services, seeded_payments: SeededPayments
):
    view = open_view(qtbot, view_services)
    target = seeded_payments.ids[457]  # not on the first page
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.keyClicks(view.search, seeded_payments.order_id(target))
    assert shown_ids(view) == [target]


def test_typing_a_payment_id_and_enter_shows_that_payment(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    target = seeded_payments.ids[321]
    view.search.setText(target)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.keyClick(view.search, Qt.Key.Key_Return)
    assert shown_ids(view) == [target]


def test_a_link_given_as_the_view_is_made_is_what_it_shows(
    qtbot, view_services, seeded_payments: SeededPayments
):
    # The view reads its first page once the event loop runs; a link that arrives before
    # then (as when another view opens this one on a filter) is read instead, not after it.
    view = PaymentsView(view_services)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.apply_link(PaymentFilter(status="failed"))
        view.resize(1280, 760)
        view.show()
    qtbot.waitUntil(lambda: view.runner.in_flight == 0, timeout=5000)
    qtbot.wait(50)  # anything still due would have been read by now
    assert view.status_combo.currentData() == "failed"
    statuses = {view.model.row_at(r).status for r in range(view.model.rowCount())}
    assert statuses == {"failed"}


def test_the_search_boxs_clear_button_empties_it_and_shows_every_payment_again(
    qtbot, view_services, seeded_payments: SeededPayments
):
    view = open_view(qtbot, view_services)
    everything = shown_ids(view)
    target = seeded_payments.ids[40]
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.keyClicks(view.search, seeded_payments.order_id(target))
    assert shown_ids(view) == [target]
    clear = view.search.findChild(QAction, "_q_qlineeditclearaction")
    button = next(b for b in view.search.findChildren(QToolButton) if b.defaultAction() is clear)
    assert button.isVisible()
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert view.search.text() == ""
    assert shown_ids(view) == everything


def test_customer_prefix_matches_emails_and_vpas_newest_first(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.keyClicks(view.search, "buyer012")
    # buyer0120..buyer0129: even ones are emails, odd ones VPAs.
    assert shown_ids(view) == seeded_payments.ids[120:130]


def test_search_that_matches_nothing_shows_no_match_page_and_clear_brings_rows_back(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.keyClicks(view.search, "nobody@nowhere")
    assert view.pages.currentWidget() is view.no_match_page
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.mouseClick(view.clear_button, Qt.MouseButton.LeftButton)
    assert view.pages.currentWidget() is view.table
    assert view.model.rowCount() == FIRST_ROWS


def test_choosing_a_status_shows_only_payments_in_that_status(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.status_combo.setCurrentIndex(view.status_combo.findData("failed"))
    statuses = {view.model.index(r, COLUMN["status"]).data() for r in range(view.model.rowCount())}
    assert statuses == {"Failed"}
    assert shown_ids(view)[0] == seeded_payments.ids[1]


def test_bad_date_range_is_refused_with_a_sentence_and_keeps_the_rows(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    view.dates.start_edit.setDate(QDate(2026, 1, 10))
    view.dates.end_edit.setDate(QDate(2026, 1, 5))
    assert view.banner.isVisible()
    assert view.banner_text.text() == "The start of the date range is after its end."
    assert view.model.rowCount() > 0


def test_scrolling_to_the_bottom_loads_the_next_page(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    assert view.model.rowCount() == FIRST_ROWS
    for shown in (FIRST_ROWS + PAGE_SIZE, FIRST_ROWS + 2 * PAGE_SIZE, 600):
        view.table.scrollToBottom()
        qtbot.waitUntil(lambda n=shown: view.model.rowCount() == n, timeout=5000)
    assert shown_ids(view) == seeded_payments.ids
    # Every row is shown; only a read that finds none says there is no more.
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: not view.model.has_more, timeout=5000)
    assert view.counter.text() == "600 shown"


def test_painting_is_on_once_quick_first_rows_arrive(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    # Painting was held back until the rows came, and is on for good from then.
    assert view.updatesEnabled() and view.pages.currentWidget() is view.table


def test_a_slow_first_query_shows_the_loading_page_meanwhile(
    qtbot, view_services, seeded_payments, monkeypatch
):
    real_page = payments.page
    release = threading.Event()

    def slow_page(*args, **kwargs):
        release.wait(10)
        return real_page(*args, **kwargs)

    monkeypatch.setattr(payments, "page", slow_page)
    view = PaymentsView(view_services)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    view.show()
    assert not view.updatesEnabled()  # a quick answer would be the first thing painted
    qtbot.waitUntil(view.updatesEnabled, timeout=2000)  # not quick: the loading page shows
    assert view.pages.currentWidget() is view.loading_page and view.loading_page.isVisible()
    release.set()
    qtbot.waitUntil(lambda: view.is_loaded, timeout=10_000)
    assert view.pages.currentWidget() is view.table and view.model.rowCount() == FIRST_ROWS


def test_a_window_taller_than_the_first_rows_shows_the_next_page_by_itself(
    qtbot, view_services, seeded_payments
):
    view = PaymentsView(view_services)
    qtbot.addWidget(view)
    view.resize(1280, 60 * FIRST_ROWS)  # room for more rows than the first read brings
    view.show()
    qtbot.waitUntil(lambda: view.model.rowCount() == FIRST_ROWS + PAGE_SIZE, timeout=10_000)
    assert shown_ids(view) == seeded_payments.ids[: FIRST_ROWS + PAGE_SIZE]


def test_pages_ahead_are_read_after_the_first_so_a_scroll_shows_them_at_once(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    assert view.model.rowCount() == FIRST_ROWS
    # Read once the first page is on screen, without a scroll asking for them.
    qtbot.waitUntil(lambda: view.model.rows_ahead == 2 * PAGE_SIZE, timeout=5000)
    view.table.scrollToBottom()
    # From memory: the rows are there with the scroll itself, no query in between.
    assert view.model.rowCount() == FIRST_ROWS + PAGE_SIZE
    assert shown_ids(view) == seeded_payments.ids[: FIRST_ROWS + PAGE_SIZE]


def test_rows_read_for_a_list_that_a_new_query_replaced_are_dropped(
    qtbot, view_services, seeded_payments, monkeypatch
):
    real_page = payments.page

    def slow_when_continuing_by_date(session, f, after=None, limit=PAGE_SIZE):
        if after is not None and f.sort == "created":
            time.sleep(0.3)  # so it is back after the new query's first page
        return real_page(session, f, after=after, limit=limit)

    monkeypatch.setattr(payments, "page", slow_when_continuing_by_date)
    view = open_view(qtbot, view_services)  # its pages ahead, by date, are being read...
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.table.horizontalHeader().sectionClicked.emit(COLUMN["amount"])  # ...and replaced
    qtbot.waitUntil(lambda: view.runner.in_flight == 0, timeout=5000)
    while view.model.has_more:
        before = view.model.rowCount()
        view.table.scrollToBottom()
        qtbot.waitUntil(
            lambda b=before: view.model.rowCount() > b or not view.model.has_more, timeout=5000
        )
    amounts = [r.amount for r in view.model.rows()]
    assert sorted(shown_ids(view)) == sorted(seeded_payments.ids)
    assert amounts == sorted(amounts, reverse=True)


def test_paging_by_amount_keeps_going_by_key(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    header = view.table.horizontalHeader()
    with qtbot.waitSignal(view.loaded, timeout=5000):
        header.sectionClicked.emit(COLUMN["amount"])
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: view.model.rowCount() == FIRST_ROWS + PAGE_SIZE, timeout=5000)
    amounts = [r.amount for r in view.model.rows()]
    assert amounts == sorted(amounts, reverse=True)
    assert len(set(shown_ids(view))) == FIRST_ROWS + PAGE_SIZE


# -- the detail pane and the context menu -----------------------------------------------------


def test_selecting_a_row_shows_its_fields_in_the_detail_pane(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    target = seeded_payments.ids[1]  # failed, VPA customer
    click_row(qtbot, view, target)
    pane = view.detail
    assert pane.isVisible()
    assert pane.value("Payment") == target
    assert pane.value("Status") == "Failed"
    assert pane.value("Order") == seeded_payments.order_id(target)
    assert pane.value("Customer VPA") == "buyer0001@okaxis"
    assert pane.value("Merchant") == "Banyan Travel (mer_gui_b)"
    assert pane.value("Error") == "Payment declined by the bank."
    assert pane.refunds_title.text() == "REFUNDS (0)"


def test_copy_id_puts_the_payment_id_on_the_clipboard(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    target = seeded_payments.ids[5]
    click_row(qtbot, view, target)
    QGuiApplication.clipboard().setText("something else")
    with qtbot.waitSignal(view.message, timeout=2000) as said:
        menu_action(view.build_context_menu(), "Copy id").trigger()
    assert QGuiApplication.clipboard().text() == target
    assert said.args == [f"Copied {target}"]


def test_copy_id_is_disabled_without_a_selection(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    assert not menu_action(view.build_context_menu(), "Copy id").isEnabled()


# -- export --------------------------------------------------------------------------------------


def test_export_writes_the_filtered_payments(qtbot, view_services, seeded_payments, tmp_path):
    view = open_view(qtbot, view_services)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.status_combo.setCurrentIndex(view.status_combo.findData("pending"))
    out = tmp_path / "pending.csv"
    with qtbot.waitSignal(view.exportFinished, timeout=10_000) as done:
        view.start_export(out)
    assert done.args == ["Exported 200 payments to pending.csv."]
    assert len(out.read_text(encoding="utf-8").splitlines()) == 201


def test_export_cancelled_leaves_no_file(
    qtbot, view_services, seeded_payments, tmp_path, monkeypatch
):
    view = open_view(qtbot, view_services)
    # Hold the export after its first page until Cancel has been pressed, so the test does
    # not race the worker.
    import threading

    reached, release = threading.Event(), threading.Event()
    original = ProgressRelay.report

    def held(self, *values):
        reached.set()
        release.wait(10)
        original(self, *values)

    monkeypatch.setattr(ProgressRelay, "report", held)
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "all.csv"
    view.start_export(out)
    assert view.export_cancel_button.isVisible() and not view.export_button.isEnabled()
    qtbot.waitUntil(reached.is_set, timeout=5000)
    qtbot.mouseClick(view.export_cancel_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(view.exportFinished, timeout=10_000) as done:
        release.set()
    assert done.args == ["Export cancelled; no file was written."]
    assert list(folder.iterdir()) == []  # neither the file nor its part-written temp file
    assert not view.exporting and view.export_button.isEnabled()


def test_export_to_a_missing_folder_says_so_and_writes_nothing(
    qtbot, view_services, seeded_payments, tmp_path
):
    view = open_view(qtbot, view_services)
    out = tmp_path / "missing" / "p.csv"
    with qtbot.waitSignal(view.exportFinished, timeout=10_000) as done:
        view.start_export(out)
    assert "missing" in done.args[0]
    assert not out.parent.exists()


# -- the empty state ---------------------------------------------------------------------------


def test_empty_database_offers_demo_data_and_loading_it_fills_the_table(
    qtbot, view_services, monkeypatch
):
    monkeypatch.setattr(payments_view, "DEMO_PAYMENTS", 300)
    view = open_view(qtbot, view_services)
    assert view.pages.currentWidget() is view.empty_page
    assert view.demo_button.isVisible() and view.demo_button.text() == "Load demo data"
    with qtbot.waitSignal(view.loaded, timeout=60_000):
        qtbot.mouseClick(view.demo_button, Qt.MouseButton.LeftButton)
    assert view.pages.currentWidget() is view.table
    assert view.model.rowCount() == FIRST_ROWS


# -- Refund… -------------------------------------------------------------------------------------


@pytest.fixture
def support_person(ctx, monkeypatch) -> str:
    """The person at the keyboard is alice, in support (who requests refunds)."""
    add_staff(ctx)
    monkeypatch.setattr(ctx, "default_actor", lambda: "alice")
    return "alice"


def test_refund_is_offered_only_for_a_successful_captured_payment(
    qtbot, view_services, seeded_payments, support_person
):
    view = open_view(qtbot, view_services)
    assert not view.refund_button.isEnabled()
    click_row(qtbot, view, seeded_payments.ids[1])  # failed
    assert not view.refund_button.isEnabled()
    assert not menu_action(view.build_context_menu(), "Refund…").isEnabled()
    click_row(qtbot, view, seeded_payments.ids[0])  # success, captured
    assert view.refund_button.isEnabled()
    assert menu_action(view.build_context_menu(), "Refund…").isEnabled()


def test_partial_refund_from_the_context_menu_shows_in_the_row_and_detail_pane(
    qtbot, view_services, seeded_payments, support_person
):
    view = open_view(qtbot, view_services)
    target = seeded_payments.ids[3]  # success, ₹103.00
    click_row(qtbot, view, target)
    menu_action(view.build_context_menu(), "Refund…").trigger()
    dialog = view.refund_dialog
    qtbot.waitUntil(lambda: dialog.info is not None, timeout=5000)
    assert dialog.payment_id == target
    with qtbot.waitSignal(dialog.previewed, timeout=5000):
        qtbot.keyClicks(dialog.amount, "12.50")
    with qtbot.waitSignal(view.detailShown, timeout=10_000):
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.detail.refunds_title.text() == "REFUNDS (1)", timeout=5000)
    assert "₹12.50" in view.detail.refunds.item(0).text()
    # Requested, not processed yet: not refunded, but no longer refundable either.
    assert view.detail.value("Refunded") == "₹0.00"
    assert view.detail.value("Requested") == "₹12.50, not processed yet"
    assert view.detail.value("Refundable") == "₹90.50"
    qtbot.waitUntil(lambda: cell(view, target, "refunded") == "₹12.50 requested", timeout=5000)
    assert view.selected_row().id == target


# -- live updates --------------------------------------------------------------------------------


def test_refund_made_elsewhere_updates_only_that_row_in_place(
    qtbot, view_services, seeded_payments, support_person, ctx, monkeypatch
):
    view = open_view(qtbot, view_services)
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: view.model.rowCount() == FIRST_ROWS + PAGE_SIZE, timeout=5000)
    target = seeded_payments.ids[150]
    click_row(qtbot, view, target)
    scroll = view.table.verticalScrollBar().value()
    rows_before = view.model.rowCount()
    asked: list[set[str]] = []
    original = payments.rows_by_id

    def spy(session, ids):
        asked.append(set(ids))
        return original(session, ids)

    monkeypatch.setattr(payments, "rows_by_id", spy)
    with qtbot.waitSignal(view.detailShown, timeout=10_000):
        rf.request_refund(ctx, "alice", target, amount=2_000, reason="duplicate")
    qtbot.waitUntil(lambda: cell(view, target, "refunded") == "₹20.00 requested", timeout=5000)
    assert asked and set().union(*asked) == {target}
    assert view.detail.value("Requested") == "₹20.00, not processed yet"
    assert view.detail.refunds_title.text() == "REFUNDS (1)"
    assert view.selected_row().id == target
    assert view.table.verticalScrollBar().value() == scroll
    assert view.model.rowCount() == rows_before


def test_changes_to_payments_not_on_screen_read_nothing(
    qtbot, view_services, seeded_payments, support_person, ctx, monkeypatch
):
    view = open_view(qtbot, view_services)
    off_screen = seeded_payments.ids[450]  # page three, not loaded
    on_screen = seeded_payments.ids[6]
    asked: list[set[str]] = []
    original = payments.rows_by_id

    def spy(session, ids):
        asked.append(set(ids))
        return original(session, ids)

    monkeypatch.setattr(payments, "rows_by_id", spy)
    rf.request_refund(ctx, "alice", off_screen, amount=1_000, reason="duplicate")
    rf.request_refund(ctx, "alice", on_screen, amount=1_000, reason="duplicate")
    qtbot.waitUntil(lambda: cell(view, on_screen, "refunded") == "₹10.00 requested", timeout=5000)
    assert set().union(*asked) == {on_screen}


def test_hidden_view_catches_up_on_changes_when_shown(
    qtbot, view_services, seeded_payments, support_person, ctx
):
    view = open_view(qtbot, view_services)
    target = seeded_payments.ids[9]
    view.hide()
    rf.request_refund(ctx, "alice", target, amount=500, reason="duplicate")
    qtbot.waitUntil(lambda: view._deferred is not None, timeout=5000)
    assert cell(view, target, "refunded") == "—"
    view.show()
    qtbot.waitUntil(lambda: cell(view, target, "refunded") == "₹5.00 requested", timeout=5000)


# -- links from other views --------------------------------------------------------------------


def test_link_with_status_and_whole_days_sets_the_filter_bar(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    day = seeded_payments.newest.astimezone().date()
    start = datetime.combine(day, datetime.min.time()).astimezone()
    link = PaymentFilter(status="success", created_from=start, created_to=start + timedelta(days=1))
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.apply_link(link)
    assert view.status_combo.currentData() == "success"
    assert view.dates.start_edit.value() == QDate(day.year, day.month, day.day)
    assert view.dates.end_edit.value() == QDate(day.year, day.month, day.day)
    assert view.currency_chip.isHidden() and view.range_chip.isHidden()
    assert view._query_filter == link.validated()
    assert {r.status for r in view.model.rows()} == {"success"}


def test_link_with_currency_and_an_hour_shows_chips_and_runs_exactly_that(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    hour_end = seeded_payments.newest.replace(minute=0, second=0, microsecond=0)
    link = PaymentFilter(
        currency="inr", created_from=hour_end - timedelta(hours=1), created_to=hour_end
    )
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.apply_link(link)
    assert view.currency_chip.isVisible() and view.currency_chip.text() == "Currency: INR"
    assert view.range_chip.isVisible() and view.range_chip.text().startswith("Created ")
    assert view.dates.start_edit.value() is None and view.dates.end_edit.value() is None
    created = [r.created_at for r in view.model.rows()]
    assert len(created) == 60
    assert all(link.created_from <= c.astimezone(UTC) < hour_end for c in created)
    # Another filter keeps the link's bounds; removing the chip drops them.
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.status_combo.setCurrentIndex(view.status_combo.findData("failed"))
    assert len(view.model.rows()) == 20
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.mouseClick(view.range_chip, Qt.MouseButton.LeftButton)
    assert view.range_chip.isHidden() and view.model.rowCount() == FIRST_ROWS
    with qtbot.waitSignal(view.loaded, timeout=5000):
        qtbot.mouseClick(view.currency_chip, Qt.MouseButton.LeftButton)
    assert view.currency_chip.isHidden()
    assert view._query_filter.currency is None


def test_chips_are_built_when_first_needed_and_keep_their_order(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    assert view.findChild(QToolButton, "Chip") is None  # opening pays for what is on screen
    hour_end = seeded_payments.newest.replace(minute=0, second=0, microsecond=0)
    hour = {"created_from": hour_end - timedelta(hours=1), "created_to": hour_end}
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.apply_link(PaymentFilter(**hour))
    assert view.findChildren(QToolButton, "Chip") == [view.range_chip]
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.apply_link(PaymentFilter(currency="inr", **hour))
    QApplication.processEvents()
    # The currency chip came second yet stands first, as it reads: "Currency: INR", "Created …".
    # In reading order, line by line (the filters wrap in a narrow window).
    place = [(w.y(), w.x()) for w in (view.currency_chip, view.range_chip, view.clear_button)]
    assert place == sorted(place) and len(set(place)) == 3


def test_the_banner_and_the_export_progress_are_built_when_first_shown(
    qtbot, view_services, seeded_payments, tmp_path
):
    view = open_view(qtbot, view_services)
    assert view.findChild(QFrame, "Banner") is None and not view.findChildren(QProgressBar)
    view.dates.start_edit.setDate(QDate(2026, 1, 10))
    view.dates.end_edit.setDate(QDate(2026, 1, 5))
    assert view.banner.isVisible() and view.findChildren(QFrame, "Banner") == [view.banner]
    with qtbot.waitSignal(view.exportFinished, timeout=10_000):
        view.start_export(tmp_path / "out.csv")
    bars = view.findChildren(QProgressBar)
    assert len(bars) == 1 and not bars[0].isVisible()


def test_link_with_an_unknown_currency_is_refused_with_a_sentence(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    view.apply_link(PaymentFilter(currency="XYZ"))
    assert view.banner.isVisible()
    assert view.banner_text.text() == "'XYZ' is not a currency Paydesk knows."


def test_link_that_is_not_a_payment_filter_changes_nothing(qtbot, view_services, seeded_payments):
    from core.overview.links import JobsLink

    view = open_view(qtbot, view_services)
    before = view._query_filter
    view.apply_link(JobsLink(task="heartbeat"))
    assert view._query_filter == before


def test_the_refunded_column_names_requested_money_apart_from_what_was_refunded():
    from desktop.payments.model import format_row

    base = PaymentRow(
        "pay_x", datetime(2026, 1, 15, tzinfo=UTC), "mer_a", "ord_1", None, None, "card",
        10_000, "INR", "success", 0, True,
    )  # fmt: skip
    column = COLUMN["refunded"]
    assert format_row(base, {})[column] == "—"
    assert format_row(base._replace(refunded_amount=2_000), {})[column] == "₹20.00"
    assert format_row(base._replace(pending_refund_amount=1_500), {})[column] == "₹15.00 requested"
    both = base._replace(refunded_amount=2_000, pending_refund_amount=1_500)
    assert format_row(both, {})[column] == "₹20.00 · ₹15.00 requested"


def test_ids_too_long_for_their_column_keep_both_ends_and_are_whole_on_hover(
    qtbot, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    payment_id = shown_ids(view)[0]
    row = view.model.row_of(payment_id)
    assert row is not None
    order = view.model.index(row, COLUMN["order"])
    whole = view.model._rows[row].order_id
    assert order.data(Qt.ItemDataRole.ToolTipRole) == whole
    assert view.model.index(row, COLUMN["id"]).data(Qt.ItemDataRole.ToolTipRole) == payment_id
    # Narrowed as a person would drag the header: the painted text keeps the id's start and end.
    view.table.horizontalHeader().resizeSection(COLUMN["order"], 90)
    looks = view.model.column_looks()
    assert looks[COLUMN["order"]].elide_middle and looks[COLUMN["id"]].elide_middle
    assert not looks[COLUMN["merchant"]].elide_middle
    view.table.viewport().repaint()
    # What the painter drew for that cell (its memo of elided texts, per font).
    from desktop.lists import row_painter

    drawn = [
        cut
        for _advances, elided in row_painter._MEASURES.values()
        for (text, _room, mode), (cut, _w) in elided.items()
        if text == whole and mode == Qt.TextElideMode.ElideMiddle
    ]
    assert drawn, "the order id was not drawn elided in the middle"
    assert all(c.startswith(whole[:3]) and c.endswith(whole[-2:]) and "…" in c for c in drawn)
