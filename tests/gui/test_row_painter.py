"""The Payments table paints its rows itself (desktop.lists.row_painter). What a person sees must be
what Qt's own item painting shows for the same model: the test renders the same rows through a
plain QTableView with the default delegate (and the status badge delegate) and compares the
two pictures pixel by pixel, under Paydesk's style sheet in light and dark, with a selected
row, elided text, a horizontal scroll and a row changed in place."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QStyledItemDelegate, QTableView

from core.payments.queries import PAGE_SIZE, PaymentRow
from desktop.lists.status_badge import StatusBadgeDelegate
from desktop.payments.model import COLUMN, STATUS_ROLE, PaymentsModel
from desktop.payments.view import FIRST_ROWS, PaymentsView
from desktop.shell import theme
from desktop.shell.views import AppServices

pytestmark = pytest.mark.gui


@pytest.fixture(params=["light", "dark"])
def styled(request, qapp) -> Iterator[bool]:
    """Paydesk's palette and style sheet on the application for the test, then the old ones."""
    dark = request.param == "dark"
    palette, sheet, was_dark = qapp.palette(), qapp.styleSheet(), theme.is_dark()
    theme.apply(qapp, dark)
    yield dark
    theme._state["dark"] = was_dark
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)


def open_view(qtbot, services: AppServices, width: int = 1280) -> PaymentsView:
    view = PaymentsView(services)
    qtbot.addWidget(view)
    view.resize(width, 600)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded, timeout=10_000)
    qtbot.waitUntil(lambda: view.runner.in_flight == 0, timeout=10_000)
    return view


class _MiddleElided(QStyledItemDelegate):
    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


def reference_for(qtbot, view: PaymentsView) -> QTableView:
    """A plain QTableView over the same model, set up as the Payments table is, painting
    through Qt's item delegates."""
    table = view.table
    ref = QTableView()
    qtbot.addWidget(ref)
    ref.setModel(view.model)
    # Every setting that changes what a cell looks like, taken from the Payments table.
    ref.setSelectionBehavior(table.selectionBehavior())
    ref.setAlternatingRowColors(table.alternatingRowColors())
    ref.setShowGrid(table.showGrid())
    ref.setWordWrap(table.wordWrap())
    ref.setTextElideMode(table.textElideMode())
    ref.setHorizontalScrollMode(table.horizontalScrollMode())
    ref.setVerticalScrollMode(table.verticalScrollMode())
    ref.verticalHeader().setHidden(table.verticalHeader().isHidden())
    ref.verticalHeader().setDefaultSectionSize(table.verticalHeader().defaultSectionSize())
    ref.setItemDelegateForColumn(COLUMN["status"], StatusBadgeDelegate(STATUS_ROLE, ref))
    for col in (COLUMN["id"], COLUMN["order"]):  # ids keep both ends when elided
        ref.setItemDelegateForColumn(col, _MiddleElided(ref))
    ref.resize(table.size())
    ref.show()
    qtbot.waitExposed(ref)
    return ref


def same_state(view: PaymentsView, ref: QTableView) -> None:
    """Size, selection and scroll position of the Payments table, on the reference (a
    selected row opens the detail pane beside the table, which narrows it)."""

    # The pane's detail is read in the pool: once it is in, the table may narrow again (and
    # its columns give way), so wait until its size and columns stop changing.
    def layout() -> tuple:
        table = view.table
        return table.size(), [table.columnWidth(c) for c in range(view.model.columnCount())]

    for _ in range(100):
        before = layout()
        QApplication.processEvents()
        time.sleep(0.01)
        QApplication.processEvents()
        if layout() == before:
            break
    ref.resize(view.table.size())
    for col in range(view.model.columnCount()):
        ref.setColumnWidth(col, view.table.columnWidth(col))
    QApplication.processEvents()
    rows = {i.row() for i in view.table.selectionModel().selectedRows()}
    ref.clearSelection()
    for row in rows:
        ref.selectRow(row)
    ref.horizontalScrollBar().setValue(view.table.horizontalScrollBar().value())
    ref.verticalScrollBar().setValue(view.table.verticalScrollBar().value())
    QApplication.processEvents()


def picture(table: QTableView) -> QImage:
    """What the window shows where the table's viewport is (its backing store, not a fresh
    rendering: a region the painter left unpainted would show what was there before)."""
    QApplication.processEvents()
    viewport = table.viewport()
    window = viewport.window()
    at = viewport.mapTo(window, QPoint(0, 0))
    screen = window.windowHandle().screen()
    grabbed = screen.grabWindow(window.winId(), at.x(), at.y(), viewport.width(), viewport.height())
    return grabbed.toImage()


def differing_pixels(a: QImage, b: QImage) -> int:
    """Pixels that differ where both pictures have them (a scroll bar's width apart)."""
    width, height = min(a.width(), b.width()), min(a.height(), b.height())
    assert width > 0.95 * max(a.width(), b.width()) and height > 0.95 * max(a.height(), b.height())
    return sum(1 for y in range(height) for x in range(width) if a.pixel(x, y) != b.pixel(x, y))


def assert_same_picture(view: PaymentsView, ref: QTableView) -> None:
    same_state(view, ref)
    mine, theirs = picture(view.table), picture(ref)
    # The rows are really there (not two empty pictures that agree).
    y = view.table.rowViewportPosition(0) + view.table.rowHeight(0) // 2
    assert len({mine.pixel(x, y) for x in range(0, mine.width(), 3)}) > 3
    assert differing_pixels(mine, theirs) == 0


def test_rows_look_as_qts_own_painting_draws_them(qtbot, styled, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    assert_same_picture(view, reference_for(qtbot, view))


def test_a_selected_row_looks_as_qts_own_painting_draws_it(
    qtbot, styled, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    ref = reference_for(qtbot, view)
    view.table.selectRow(2)
    assert_same_picture(view, ref)


def test_text_too_long_for_its_column_is_elided_as_qt_elides_it(
    qtbot, styled, view_services, seeded_payments
):
    view = open_view(qtbot, view_services, width=900)
    view.table.setColumnWidth(COLUMN["id"], 70)
    view.table.setColumnWidth(COLUMN["order"], 40)
    view.table.horizontalScrollBar().setValue(30)
    assert_same_picture(view, reference_for(qtbot, view))


def test_a_search_that_leaves_one_row_shows_nothing_of_the_rows_before(
    qtbot, styled, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    ref = reference_for(qtbot, view)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.search.setText(seeded_payments.order_id(seeded_payments.ids[3]))
        view.apply_filters()
    assert view.model.rowCount() == 1
    assert_same_picture(view, ref)


def test_a_row_changed_in_place_is_repainted_with_its_new_values(
    qtbot, styled, view_services, seeded_payments
):
    view = open_view(qtbot, view_services)
    ref = reference_for(qtbot, view)
    old = view.model.row_at(1)
    assert old is not None
    new: PaymentRow = old._replace(status="success", refunded_amount=old.amount // 2)
    before = picture(view.table)
    view.model.update_rows([new])
    QApplication.processEvents()
    assert differing_pixels(before, picture(view.table)) > 0
    assert_same_picture(view, ref)


def rows_read_by_a_repaint(view: PaymentsView, rect=None) -> set[int]:
    """The rows whose texts one repaint of the viewport (or of ``rect`` of it) reads."""
    QApplication.processEvents()  # nothing else left to paint
    read: set[int] = set()
    real = PaymentsModel.display_texts

    def counting(model: PaymentsModel, row: int) -> tuple[str, ...]:
        read.add(row)
        return real(model, row)

    # On the class, not the instance: a function in a Qt object's own __dict__ that refers
    # back to it is a reference cycle, and collecting such a wrapper later, after Qt has
    # deleted its object, is what crashes PySide.
    PaymentsModel.display_texts = counting  # type: ignore[method-assign]
    try:
        viewport = view.table.viewport()
        if rect is None:
            viewport.repaint()
        else:
            viewport.repaint(rect)
    finally:
        PaymentsModel.display_texts = real  # type: ignore[method-assign]
    return read


def test_a_repaint_reads_only_the_rows_in_sight(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: view.model.rowCount() == FIRST_ROWS + PAGE_SIZE, timeout=5000)
    table = view.table
    table.scrollTo(view.model.index(FIRST_ROWS + PAGE_SIZE // 2, 0))
    QApplication.processEvents()
    top = table.rowAt(0)
    bottom = table.rowAt(table.viewport().height() - 1)
    assert rows_read_by_a_repaint(view) == set(range(top, bottom + 1))


def test_a_repaint_below_the_last_row_reads_no_row(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.status_combo.setCurrentIndex(view.status_combo.findData("failed"))
        view.search.setText(seeded_payments.order_id(seeded_payments.ids[1]))
        view.apply_filters()
    assert view.model.rowCount() == 1
    viewport = view.table.viewport()
    below = viewport.rect().adjusted(0, viewport.height() // 2, 0, 0)
    assert rows_read_by_a_repaint(view, below) == set()
    assert rows_read_by_a_repaint(view) == {0}


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def test_a_new_query_leaves_the_header_as_it_was(qtbot, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    header = view.table.horizontalHeader()
    titles = [view.model.headerData(c, Qt.Orientation.Horizontal) for c in range(header.count())]
    shown = [header.model().headerData(c, Qt.Orientation.Horizontal) for c in range(header.count())]
    assert shown == titles and "Payment" in shown
    # From one row to another: the scroll bar stays hidden, so the header keeps its size.
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.search.setText(seeded_payments.order_id(seeded_payments.ids[2]))
        view.apply_filters()
    QApplication.processEvents()
    widths = [header.sectionSize(c) for c in range(header.count())]
    counter = PaintCounter()
    header.viewport().installEventFilter(counter)
    asked: list[int] = []
    real = PaymentsModel.headerData

    def counting(model: PaymentsModel, section: int, *args: object) -> object:
        asked.append(section)
        return real(model, section, *args)

    PaymentsModel.headerData = counting  # type: ignore[method-assign]
    try:
        with qtbot.waitSignal(view.loaded, timeout=5000):
            view.search.setText(seeded_payments.order_id(seeded_payments.ids[1]))
            view.apply_filters()
        QApplication.processEvents()
        assert view.model.rowCount() == 1
        assert counter.paints == 0  # the query did not repaint the header
        header.viewport().repaint()
        assert counter.paints == 1
    finally:
        PaymentsModel.headerData = real  # type: ignore[method-assign]
        header.viewport().removeEventFilter(counter)
    assert asked == []  # it paints its own copy of the titles, not the model's
    assert [header.sectionSize(c) for c in range(header.count())] == widths


def search(qtbot, view: PaymentsView, text: str) -> None:
    with qtbot.waitSignal(view.loaded, timeout=5000):
        view.search.setText(text)
        view.apply_filters()


def test_lines_left_blank_below_one_row_stay_right_through_later_queries(
    qtbot, styled, view_services, seeded_payments
):
    # A query of one row after another does not paint the empty lines below the row again:
    # whatever came between (more rows, another page, a scroll, a taller window), what the
    # window shows must still be what Qt's own painting shows.
    view = open_view(qtbot, view_services)
    ref = reference_for(qtbot, view)
    order = seeded_payments.order_id
    ids = seeded_payments.ids
    steps = [
        lambda: search(qtbot, view, order(ids[3])),
        lambda: search(qtbot, view, order(ids[4])),
        lambda: search(qtbot, view, ""),  # every row again, over the blank lines
        lambda: search(qtbot, view, order(ids[5])),
        lambda: search(qtbot, view, "no-such-order-anywhere"),  # the no-match page
        lambda: search(qtbot, view, order(ids[6])),
        lambda: view.resize(1280, 700),
        lambda: search(qtbot, view, order(ids[7])),
    ]
    for step in steps:
        step()
        if view.pages.currentWidget() is view.table:
            assert_same_picture(view, ref)
    assert view.model.rowCount() == 1


def test_a_grab_paints_every_line_below_the_rows(qtbot, styled, view_services, seeded_payments):
    view = open_view(qtbot, view_services)
    search(qtbot, view, seeded_payments.order_id(seeded_payments.ids[3]))
    search(qtbot, view, seeded_payments.order_id(seeded_payments.ids[4]))
    QApplication.processEvents()
    viewport = view.table.viewport()
    grabbed = viewport.grab().toImage()
    shown = picture(view.table)
    assert grabbed.size() == shown.size()
    assert differing_pixels(grabbed, shown) == 0
    base = viewport.palette().color(viewport.backgroundRole()).rgb()
    y = view.table.rowHeight(0) * 3
    assert {grabbed.pixel(x, y) for x in range(0, grabbed.width(), 7)} == {base}
