"""The Reconciliation view with real widgets: importing (the entry point, a dropped file, the
column-mapping step for an unknown header, Cancel, the demo's sample reports), the batches and
their lines, a line's detail beside what it matched, resolving and reopening with a note, and
support's read-only view. On both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from core.context import Context
from core.recon import importer, samples
from desktop.recon import importing
from desktop.recon.view import COLUMN, ReconView
from desktop.shell.views import AppServices
from tests.gui.conftest import app_services
from tests.test_recon import counts, rz_row, write_csv
from tests.test_refunds import add_merchant, add_payment, add_staff

pytestmark = pytest.mark.gui


@pytest.fixture
def services(ctx: Context) -> Iterator[AppServices]:
    add_staff(ctx)  # root admin, alice support, bob finance
    add_merchant(ctx)
    with app_services(ctx, changes=False) as services:
        yield services


def open_view(qtbot, services: AppServices, monkeypatch, actor: str = "bob") -> ReconView:
    monkeypatch.setattr(services.ctx, "default_actor", lambda: actor)
    view = ReconView(services)
    qtbot.addWidget(view)
    view.resize(1280, 800)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded)
    return view


def cells(view: ReconView, key: str) -> list[str]:
    return [view.model.index(r, COLUMN[key]).data() for r in range(view.model.rowCount())]


def import_and_wait(qtbot, view: ReconView, path: Path) -> str:
    with qtbot.waitSignal(view.imported, timeout=15_000) as got:
        view.import_file(path)
    return str(got.args[0])


def open_line(qtbot, view: ReconView, row: int) -> None:
    with qtbot.waitSignal(view.detailShown, timeout=10_000):
        view.table.selectRow(row)


def two_lines(ctx: Context, tmp_path: Path) -> tuple[str, Path]:
    """A short payment (amount mismatch) and one Paydesk never saw, in one settlement."""
    p = add_payment(ctx, amount=20_000)
    rows = [rz_row(p, amount=19_000), rz_row("pay_unknown000001")]
    return p, write_csv(tmp_path / "s.csv", rows)


def test_finance_imports_a_report_and_sees_the_batches_and_lines(
    qtbot, services, monkeypatch, tmp_path
):
    _p, path = two_lines(services.ctx, tmp_path)
    other = add_payment(services.ctx, amount=5_000)
    second = write_csv(
        tmp_path / "t.csv",
        [rz_row(other, amount=5_000, settlement_id="setl_B", settlement_utr="UTR2")],
    )
    view = open_view(qtbot, services, monkeypatch)
    assert view.import_button.isEnabled()
    assert view.headline.text() == "0 open exceptions"
    assert view.pages.currentWidget() is view.offer.page  # nothing imported yet
    assert import_and_wait(qtbot, view, path).startswith("Imported 2 of 2 lines of s.csv")
    assert view.banner_text.text().startswith("Imported 2 of 2 lines of s.csv")
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)
    assert view.pages.currentWidget() is view.table
    assert view.headline.text() == "2 open exceptions; unexplained difference ₹88.00"
    assert cells(view, "state") == ["amount mismatch", "not in paydesk"]
    import_and_wait(qtbot, view, second)
    qtbot.waitUntil(lambda: view.model.rowCount() == 3)
    rows = view.batches.row_texts()
    assert [r[1] for r in rows] == ["Every settlement", "setl_A", "setl_B"]
    setl_a = rows[1]
    assert (setl_a[2], setl_a[3], setl_a[6]) == ("UTR0001", "2", "2")
    assert setl_a[5] == "₹88.00"  # the difference
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.batches.choose("setl_B")
    assert cells(view, "batch") == ["setl_B"]
    assert cells(view, "state") == ["matched"]
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.batches.choose("setl_A")
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.state_combo.setCurrentIndex(view.state_combo.findData("not_in_paydesk"))
    assert cells(view, "id") == ["pay_unknown000001"]
    view.search.setText("nothing-like-this")
    qtbot.waitUntil(lambda: view.pages.currentWidget() is view.empty_page)
    assert view.empty_title.text() == "No lines match"
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.show_all_button.click()
    assert view.model.rowCount() == 3 and view.batches.choice() == ""
    assert import_and_wait(qtbot, view, path) == (
        "All 2 lines of s.csv were already imported; nothing was added."
    )


def test_a_file_dropped_on_the_view_is_imported(qtbot, services, monkeypatch, tmp_path):
    _p, path = two_lines(services.ctx, tmp_path)
    view = open_view(qtbot, services, monkeypatch)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(view, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    with qtbot.waitSignal(view.imported, timeout=15_000) as got:
        QApplication.sendEvent(view, drop)
    assert got.args[0].startswith("Imported 2 of 2 lines of s.csv")
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)


def test_a_lines_detail_shows_what_it_matched_and_resolving_changes_it(
    qtbot, services, monkeypatch, tmp_path
):
    p, path = two_lines(services.ctx, tmp_path)
    view = open_view(qtbot, services, monkeypatch)
    import_and_wait(qtbot, view, path)
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)
    open_line(qtbot, view, 0)
    pane = view.detail
    assert pane.isVisible()
    assert pane.badge.text() == "Amount mismatch"
    assert (pane.value("Amount", 1), pane.value("Amount", 2)) == ("₹190.00", "₹200.00")
    assert (pane.value("Id", 1), pane.value("Id", 2)) == (p, p)
    assert pane.value("Status", 2) == "success"
    assert pane.difference.text() == "Difference -₹10.00 (Paydesk has ₹200.00)"
    assert pane.history_lines() == ["Not resolved or reopened yet"]
    assert pane.buttons["investigate"].isEnabled()
    assert not pane.buttons["reopen"].isEnabled()
    assert "not resolved" in pane.buttons["reopen"].toolTip()

    # Investigate: a note is required before the button can be pressed.
    pane.buttons["investigate"].click()
    dialog = view.resolve_dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.ok.isEnabled()
    dialog.note.setPlainText("Asked the processor about the short payment")
    assert dialog.ok.isEnabled()
    with qtbot.waitSignal(view.detailShown, timeout=10_000):
        dialog.ok.click()
    assert view.resolve_dialog is None
    qtbot.waitUntil(lambda: cells(view, "resolution")[0] == "investigating")
    assert pane.resolution.text().startswith("Under investigation by bob")
    assert pane.history_lines()[-1].endswith(
        "bob · Marked under investigation\n    “Asked the processor about the short payment”"
    )
    assert view.headline.text() == "2 open exceptions; unexplained difference ₹88.00"

    # Accept the difference as a fee: no longer open, no longer unexplained.
    pane.buttons["accept"].click()
    dialog = view.resolve_dialog
    assert dialog is not None
    dialog.reason.setCurrentIndex(dialog.reason.findData("fee"))
    dialog.note.setPlainText("Processor fee taken off the payment")
    with qtbot.waitSignal(view.actionFinished, timeout=10_000) as said:
        dialog.ok.click()
    assert said.args[0].startswith("Line ")
    qtbot.waitUntil(lambda: cells(view, "resolution")[0] == "accepted")
    qtbot.waitUntil(lambda: view.headline.text().startswith("1 open exceptions"))
    qtbot.waitUntil(lambda: len(pane.history_lines()) == 2)
    assert "Accepted the difference" in pane.history_lines()[-1]
    assert "reason fee" in pane.history_lines()[-1]
    assert not pane.buttons["link"].isEnabled()
    assert "reopen it first" in pane.buttons["link"].toolTip()

    # Reopen takes it back.
    pane.buttons["reopen"].click()
    dialog = view.resolve_dialog
    assert dialog is not None
    dialog.note.setPlainText("Fee was not agreed")
    with qtbot.waitSignal(view.actionFinished, timeout=10_000):
        dialog.ok.click()
    qtbot.waitUntil(lambda: cells(view, "resolution")[0] == "open")
    qtbot.waitUntil(lambda: len(pane.history_lines()) == 3)
    assert "Reopened" in pane.history_lines()[-1] and "was accepted" in pane.history_lines()[-1]
    qtbot.waitUntil(lambda: view.headline.text().startswith("2 open exceptions"))


def test_linking_by_hand_matches_the_line_and_a_bad_id_is_said_in_the_dialog(
    qtbot, services, monkeypatch, tmp_path
):
    _p, path = two_lines(services.ctx, tmp_path)
    late = add_payment(services.ctx, amount=10_000)
    view = open_view(qtbot, services, monkeypatch)
    import_and_wait(qtbot, view, path)
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)
    open_line(qtbot, view, 1)
    pane = view.detail
    assert pane.badge.text() == "Not in paydesk"
    assert pane.value("Id", 2) == ""
    pane.buttons["link"].click()
    dialog = view.resolve_dialog
    assert dialog is not None
    dialog.link_id.setText("pay_nosuchthing")
    dialog.ok.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible())
    assert dialog.error.text() == "There is no payment or refund pay_nosuchthing."
    dialog.link_id.setText(late)
    with qtbot.waitSignal(view.actionFinished, timeout=10_000):
        dialog.ok.click()
    qtbot.waitUntil(lambda: cells(view, "state")[1] == "matched")
    assert cells(view, "matched")[1] == late
    qtbot.waitUntil(lambda: pane.value("Id", 2) == late)
    assert pane.resolution.text().startswith(f"Linked to {late} by bob")


def test_support_sees_the_view_read_only(qtbot, services, monkeypatch, tmp_path):
    _p, path = two_lines(services.ctx, tmp_path)
    importer.import_report(services.ctx, "bob", path)
    view = open_view(qtbot, services, monkeypatch, actor="alice")
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)
    assert not view.import_button.isEnabled()
    assert view.import_button.toolTip() == (
        "Only finance and admin staff can import settlement reports."
    )
    assert view.read_only_note.isVisible()
    open_line(qtbot, view, 0)
    pane = view.detail
    for button in pane.buttons.values():
        assert not button.isEnabled()
        assert button.toolTip().startswith("Only finance and admin staff can resolve")
    assert pane.why.isVisible()
    assert pane.why.text().startswith("Only finance and admin staff can resolve")
    # A dropped file is refused too.
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(view, enter)
    assert not enter.isAccepted()


def test_an_unknown_header_goes_through_the_column_mapping_step(
    qtbot, services, monkeypatch, tmp_path
):
    p = add_payment(services.ctx, amount=12_345)
    cols = ["Txn", "Kind", "Amount", "Cur", "When", "Payout", "Fee", "Ref"]
    path = write_csv(
        tmp_path / "acme.csv",
        [
            {"Txn": "T1", "Kind": "Sale", "Amount": "123.45", "Cur": "INR",
             "When": "2026-01-09 10:00:00", "Payout": "P1", "Fee": "2.47", "Ref": p},
            {"Txn": "T2", "Kind": "Sale", "Amount": "50.00", "Cur": "INR",
             "When": "2026-01-09 11:00:00", "Payout": "P1", "Fee": "1.00", "Ref": "pay_other"},
        ],
        cols,
    )  # fmt: skip
    view = open_view(qtbot, services, monkeypatch)
    view.import_file(path)
    qtbot.waitUntil(lambda: view.importer.mapping_dialog is not None)
    dialog = view.importer.mapping_dialog
    assert dialog is not None and dialog.isVisible()
    # The preview shows the file's first rows under its own header.
    assert [dialog.table.horizontalHeaderItem(i).text() for i in range(len(cols))] == cols
    assert dialog.table.rowCount() == 2 and dialog.table.item(0, 0).text() == "T1"
    # Guessed from the names and the values.
    assert dialog.columns["id"].currentData() == "Txn"
    assert dialog.columns["amount"].currentData() == "Amount"
    assert dialog.unit.currentData() == "major"
    assert dialog.payment_types.text() == "Sale"
    # A required field left out is one sentence in the dialog.
    dialog.choose("batch", "")
    dialog.ok.click()
    assert dialog.error.isVisible()
    assert dialog.error.text() == "Choose the column that holds the settlement batch."
    dialog.choose("batch", "Payout")
    dialog.choose("ref_id", "Ref")
    with qtbot.waitSignal(view.imported, timeout=15_000) as got:
        dialog.ok.click()
    assert got.args[0].startswith("Imported 2 of 2 lines of acme.csv (mapped, 1 settlement)")
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)
    assert cells(view, "state") == ["matched", "not in paydesk"]


def test_cancelling_the_mapping_step_imports_nothing(qtbot, services, monkeypatch, tmp_path):
    path = write_csv(tmp_path / "odd.csv", [{"a": "1", "b": "2"}], ["a", "b"])
    view = open_view(qtbot, services, monkeypatch)
    view.import_file(path)
    qtbot.waitUntil(lambda: view.importer.mapping_dialog is not None)
    dialog = view.importer.mapping_dialog
    assert dialog is not None
    dialog.reject()
    qtbot.waitUntil(lambda: view.import_button.isEnabled())
    assert counts(services.ctx)[0] == 0


def test_cancel_during_an_import_leaves_nothing_imported(qtbot, services, monkeypatch, tmp_path):
    ids = [add_payment(services.ctx, amount=1_000) for _ in range(6)]
    path = write_csv(tmp_path / "s.csv", [rz_row(p, amount=1_000) for p in ids])
    gate = threading.Event()
    real = importer.import_report

    def held(*args, progress=None, **kw):  # the first chunk waits until Cancel was pressed
        def report(lines: int, done: int, total: int) -> None:
            progress(lines, done, total)
            gate.wait(10)

        return real(*args, progress=report, **kw)

    monkeypatch.setattr(importing.importer, "import_report", held)
    view = open_view(qtbot, services, monkeypatch)
    view.importer.chunk_lines = 2
    view.import_file(path)
    bar = view.import_bar
    qtbot.waitUntil(lambda: bar.isVisible() and bar.progress.maximum() == 1000)
    assert bar.text.text().startswith("Importing s.csv: 2 lines")
    assert not view.import_button.isEnabled()
    with qtbot.waitSignal(view.imported, timeout=15_000) as got:
        bar.cancel_button.click()
        gate.set()
    assert got.args[0] == "The import was cancelled; nothing was imported."
    assert not bar.isVisible()
    assert counts(services.ctx) == (0, 0, 0)
    assert view.import_button.isEnabled()


def test_the_empty_view_offers_the_demo_sample_reports(qtbot, services, monkeypatch, tmp_path):
    p = add_payment(services.ctx, amount=20_000)
    folder = samples.sample_folder()
    folder.mkdir(parents=True)
    write_csv(folder / "demo-settlement-20260110.csv", [rz_row(p, amount=20_000)])
    write_csv(
        folder / "demo-settlement-20260111.csv",
        [rz_row("pay_demoStranger0111", settlement_id="setl_B")],
    )
    view = open_view(qtbot, services, monkeypatch)
    offer = view.offer
    assert view.pages.currentWidget() is offer.page
    assert not view.batches.isVisible()
    assert "The demo wrote 2 sample settlement reports" in offer.text.text()
    assert offer.samples_button.isVisible()
    with qtbot.waitSignal(view.imported, timeout=15_000) as got:
        offer.samples_button.click()
    assert got.args[0] == "Imported 2 lines from 2 sample settlement reports; 1 need a look."
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)
    assert view.pages.currentWidget() is view.table
    assert view.batches.isVisible()
    assert [r[1] for r in view.batches.row_texts()][1:] == ["setl_A", "setl_B"] or [
        r[1] for r in view.batches.row_texts()
    ][1:] == ["setl_B", "setl_A"]


def test_the_offer_without_demo_payments_says_what_to_do(qtbot, services, monkeypatch):
    view = open_view(qtbot, services, monkeypatch)
    assert "import sample reports made from the demo payments" in view.offer.text.text()
    with qtbot.waitSignal(view.imported, timeout=15_000) as got:
        view.offer.samples_button.click()
    assert got.args[0] == (
        "There are no demo payments to settle yet: load the demo data in Payments first."
    )
    assert view.pages.currentWidget() is view.offer.page


def test_support_is_told_who_imports_on_the_empty_view(qtbot, services, monkeypatch):
    view = open_view(qtbot, services, monkeypatch, actor="alice")
    assert view.pages.currentWidget() is view.offer.page
    assert not view.offer.samples_button.isVisible()
    assert view.offer.text.text().startswith("Finance or admin staff import")
