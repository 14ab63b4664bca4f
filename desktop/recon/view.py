"""The Reconciliation view: the headline (open exceptions and the unexplained difference), the
settlement batches, and for the chosen batch its lines with a state filter and search; the
detail pane of a line with the payment or refund it matched and its history; resolving and
reopening; and importing settlement reports (file dialog, drag and drop, the column-mapping
step, the demo's sample reports).

The page is the one list page (``desktop.lists.list_page.ListPage``) under the runner key
``"recon"``; its reads are ``core.recon.listing``'s, and imports and resolutions go through the
runner too. Importing and resolving are finance's and admin's; support sees the view
read-only, with the reason beside what it may not use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from core import errors
from core.money import format_money
from core.recon import listing, matching
from core.recon import service as recon
from core.recon.listing import Headline, LineDetail, LinesPage
from desktop.lists import list_page
from desktop.lists.keyset_model import KeysetTableModel
from desktop.lists.list_page import ListPage, quiet
from desktop.recon import batches as batch_choice
from desktop.recon.batches import BatchesTable
from desktop.recon.detail import LineDetailPane, resolution_text, state_text
from desktop.recon.dialogs import ResolveDialog
from desktop.recon.empty_offer import EmptyOffer
from desktop.recon.importing import ImportBar, ReportImport
from desktop.shell.named import named
from desktop.shell.views import AppServices

COLUMNS: tuple[tuple[str, str], ...] = (
    ("line", "Line"),
    ("batch", "Settlement"),
    ("id", "Id"),
    ("kind", "Kind"),
    ("amount", "Amount"),
    ("state", "State"),
    ("matched", "Matched"),
    ("difference", "Difference"),
    ("resolution", "Resolution"),
)
COLUMN = {key: i for i, (key, _) in enumerate(COLUMNS)}
READ_ONLY_IMPORT = "Only finance and admin staff can import settlement reports."
# The widest text each column usually holds; widths follow the font in use.
_COLUMN_SAMPLES = {
    "line": "100,000",
    "batch": "setl_demo20260101",
    "id": "pay_test0000000000",
    "kind": "adjustment",
    "amount": "₹1,23,456.00",
    "state": "amount mismatch",
    "matched": "pay_test0000000000",
    "difference": "-₹12,345.00",
}


class LinesModel(KeysetTableModel[recon.LineView]):
    COLUMNS = COLUMNS
    RIGHT_ALIGNED = frozenset({COLUMN["line"], COLUMN["amount"], COLUMN["difference"]})

    def cell(self, row: recon.LineView, col: int, role: int) -> object:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        key = COLUMNS[col][0]
        if key == "line":
            return f"{row.id:,}"
        if key == "batch":
            return row.batch_id or "—"
        if key == "id":
            return row.line_id
        if key == "kind":
            return row.kind
        if key == "amount":
            return format_money(row.amount, row.currency)
        if key == "state":
            return row.state.replace("_", " ")
        if key == "matched":
            return row.matched_id or ""
        if key == "difference":
            return format_money(row.difference, row.currency) if row.difference else ""
        return row.resolution or ("open" if row.open else "")


def resolved_sentence(line: recon.LineView) -> str:
    return f"Line {line.id:,} is {line.state.replace('_', ' ')}: {resolution_text(line)}."


class ReconView(ListPage[recon.LineView, recon.LineFilter, LineDetail]):
    """Emits ``imported`` with an import's sentence (the rest as every list page)."""

    imported = Signal(str)

    KEY = "recon"
    DETAIL_KEY = "recon-detail"
    PAGE_SIZE = listing.PAGE_SIZE
    SEARCH_DEBOUNCE_MS = 200
    # Import sentences share the message bar and stay in sight across the reload.
    BANNER = "ReconMessage"
    CLEAR_BANNER_ON_LOAD = False
    SHOWS_LOADING = False
    DETAIL_WIDTH = (900, 460)

    detail: LineDetailPane

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(services, LinesModel(), recon.LineFilter(), parent)
        self.may_import = False
        self.nothing_yet = False  # no line imported at all: the offer is shown
        self.resolve_dialog: ResolveDialog | None = None
        self._build()
        self.loaded.connect(self._after_load)
        self.start()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root, bar_lay, title_row, self.counter = list_page.filter_bar(self, "Reconciliation")
        self.read_only_note = named(QLabel("Read-only"), "Muted")
        self.read_only_note.hide()
        title_row.addWidget(self.read_only_note)
        self.import_button = QPushButton("Import settlement report…", self)
        self.import_button.clicked.connect(self.choose_file)
        self.import_button.setEnabled(False)  # until the role is known
        title_row.addWidget(self.import_button)
        title_row.addWidget(list_page.refresh_button(self, self.refresh))
        self.headline = named(QLabel(""), "Headline")
        bar_lay.addWidget(self.headline)
        self.batches = BatchesTable(self)
        self.batches.chosen.connect(self._batch_chosen)
        bar_lay.addWidget(self.batches)

        filters = QHBoxLayout()
        self.search = list_page.search_box(
            self, "Line, payment, refund or order id", 200, self._debounce, self.apply_filters
        )
        filters.addWidget(self.search, 2)
        self.state_combo = QComboBox(self)
        self.state_combo.addItem("Every state", None)
        for state in matching.STATES:
            self.state_combo.addItem(state_text(state), state)
        self.state_combo.setAccessibleName("State filter")
        self.state_combo.setAccessibleDescription("Show the lines in one state")
        self.state_combo.currentIndexChanged.connect(self.apply_filters)
        filters.addWidget(self.state_combo, 1)
        self.open_only = QCheckBox("Open exceptions only", self)
        self.open_only.toggled.connect(self.apply_filters)
        filters.addWidget(self.open_only)
        filters.addWidget(list_page.clear_button(self, self.clear_filters))
        bar_lay.addLayout(filters)
        self.import_bar = ImportBar(self)
        bar_lay.addWidget(self.import_bar)
        self.importer = ReportImport(self.services, self.import_bar, self)
        self.importer.busyChanged.connect(lambda _b: self._update_import_button())
        self.importer.finished.connect(self._import_finished)

        self.build_list(
            root,
            bar_lay,
            icon="trend",
            empty="No lines match",
            show_all="Show every line",
            loading="",
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName("Settlement lines")
        self.table.setAccessibleDescription(
            "The settlement report's lines and what each matched; Enter opens a line's detail"
        )
        list_page.fit_columns(self.table, self.model, _COLUMN_SAMPLES, COLUMN, header_pad=34)
        self.offer = EmptyOffer(self)
        self.offer.import_button.clicked.connect(self.choose_file)
        self.offer.samples_button.clicked.connect(self.import_samples)
        self.pages.addWidget(self.offer.page)
        pane = LineDetailPane(self)
        pane.actionChosen.connect(self.ask_action)
        self.add_detail(pane)
        self.setAcceptDrops(True)

    # -- queries -----------------------------------------------------------------------------
    def current_filter(self) -> recon.LineFilter:
        choice = self.batches.choice()
        return recon.LineFilter(
            batch_id=None if choice in (batch_choice.EVERY, batch_choice.MISSING) else choice,
            state=self.state_combo.currentData(),
            open_only=self.open_only.isChecked(),
            search=self.search.text().strip() or None,
        )

    def read_first(self, f: recon.LineFilter, setup: bool) -> Callable[[], LinesPage]:
        # The headline and the role come with every first page; the batches with the setup.
        db, actor = self.db, self.actor
        return lambda: listing.first_page(db, f, actor, setup=setup)

    def read_after(self, f: recon.LineFilter, after: Any) -> Callable[[], list[recon.LineView]]:
        db = self.db
        return lambda: listing.page_after(db, f, after)

    def take_page(self, page: LinesPage) -> None:
        self.may_import = page.may_import
        self.read_only_note.setVisible(not page.may_import)
        self.read_only_note.setToolTip(listing.READ_ONLY)
        self._update_import_button()
        self._show_headline(page.totals)
        if page.batches is not None:
            self.has_setup = True
            self.batches.set_batches(page.batches, self.batches.choice())
            self.nothing_yet = not page.batches
            self.offer.offer(page.may_import, page.sample_reports)

    def _show_headline(self, totals: recon.OpenTotals) -> None:
        money = ", ".join(format_money(v, c) for c, v in sorted(totals.unexplained.items()))
        self.headline.setText(
            f"{totals.open_exceptions:,} open exceptions"
            + (f"; unexplained difference {money}" if money else "")
        )

    def _after_load(self, count: int) -> None:
        nothing = self.nothing_yet and not count
        self.batches.setVisible(not nothing)
        if nothing:
            self.pages.setCurrentWidget(self.offer.page)

    def empty_texts(self, f: recon.LineFilter) -> tuple[str, str, bool]:
        return "No lines match", "Try another settlement, state or search.", True

    def filter_widgets(self) -> tuple[QWidget, ...]:
        return (self.search, self.state_combo, self.open_only, self.batches)

    def clear_more_filters(self) -> None:
        self.open_only.setChecked(False)
        self.batches.choose(batch_choice.EVERY)

    def _batch_chosen(self, choice: str) -> None:
        if choice == batch_choice.MISSING:
            # Paydesk's own missing lines belong to no batch: they are a state.
            with quiet(self.state_combo):
                self.state_combo.setCurrentIndex(self.state_combo.findData(matching.MISSING))
        elif self.state_combo.currentData() == matching.MISSING:
            with quiet(self.state_combo):
                self.state_combo.setCurrentIndex(0)
        self.apply_filters()

    def reload_headline(self) -> None:
        """Read the batches and the headline again (an import or a resolution moved them)."""
        db = self.db

        def done(h: Headline) -> None:
            self._show_headline(h.totals)
            self.batches.set_batches(h.batches, self.batches.choice())

        self.runner.submit(lambda: listing.headline(db), done, lambda _e: None, key="recon-head")

    # -- detail and actions ------------------------------------------------------------------
    def read_detail(self, row_id: Any) -> Callable[[], LineDetail]:
        db, actor = self.db, self.actor
        return lambda: listing.line_detail(db, int(row_id), actor)

    def detail_row(self, shown: LineDetail) -> recon.LineView:
        return shown.line

    def show_detail(self, shown: LineDetail) -> None:
        self.detail.show_detail(shown)

    def shown_detail(self) -> LineDetail | None:
        return self._detail

    def ask_action(self, action: str) -> None:
        """Open the dialog of ``action`` (one of ``listing.ACTIONS``) for the line shown."""
        shown = self._detail
        if shown is None or shown.why_not.get(action) or self.resolve_dialog is not None:
            return
        line = shown.line
        dialog = ResolveDialog(action, line, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        ctx, actor = self.ctx, self.actor

        def submit(values: dict[str, Any]) -> None:
            read = self.model.next_read()

            def work() -> recon.LineView:
                if action == "reopen":
                    return recon.reopen(ctx, actor, line.id, note=values.get("note"))
                return recon.resolve(ctx, actor, line.id, **values)

            def done(view: recon.LineView) -> None:
                self.model.update_rows([view], read)
                dialog.accept()
                self._after_action(view)

            self.runner.submit(work, done, lambda exc: dialog.show_error(errors.sentence(exc)))

        dialog.submitted.connect(submit)
        dialog.finished.connect(lambda _r: setattr(self, "resolve_dialog", None))
        self.resolve_dialog = dialog
        dialog.open()

    def _after_action(self, view: recon.LineView) -> None:
        sentence = resolved_sentence(view)
        self.banner.hide()
        self.message.emit(sentence)
        # A line's id is its number, as the table's rows hold it.
        self.load_detail(view.id)  # type: ignore[arg-type]
        self.reload_headline()
        self.actionFinished.emit(sentence)

    # -- importing ---------------------------------------------------------------------------
    def _update_import_button(self) -> None:
        busy = self.importer.busy
        self.import_button.setEnabled(self.may_import and not busy)
        self.offer.import_button.setEnabled(not busy)
        self.offer.samples_button.setEnabled(not busy)
        self.import_button.setToolTip(
            READ_ONLY_IMPORT
            if not self.may_import
            else "An import is running."
            if busy
            else "Import a processor's settlement report (CSV); you can also drop it here"
        )

    def choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Import settlement report", "", "CSV files (*.csv);;All files (*)"
        )
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> None:
        """Import ``path`` off the UI thread (through the column-mapping step when its header
        is not a known format); the sentence comes back in the message bar."""
        if not self.may_import:
            self.show_banner(READ_ONLY_IMPORT)
            return
        self.importer.import_file(Path(path))

    def import_samples(self) -> None:
        self.importer.import_samples()

    def _import_finished(self, sentence: str, changed: bool) -> None:
        if sentence:
            self.show_banner(sentence)
            self.imported.emit(sentence)
        if changed:
            self.refresh()

    @staticmethod
    def _dropped_file(event: QDragEnterEvent | QDropEvent) -> Path | None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if len(urls) != 1 or not urls[0].isLocalFile():
            return None
        return Path(urls[0].toLocalFile())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.may_import and not self.importer.busy and self._dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_file(event)
        if path is None or not self.may_import:
            event.ignore()
            return
        event.acceptProposedAction()
        self.import_file(path)
