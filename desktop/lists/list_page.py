"""The one list page (Refunds, Webhooks, Activity, Reconciliation) and the parts it is built
of, so every list looks and behaves alike.

``ListPage`` is a page over one keyset-paged query. What it does for every list: the filter
query (validated; a refused filter shows its sentence and drops what was in flight), the first
page and the pages after it, read off the UI thread under the page's runner key (a newer query
makes older answers stale); the banner, the empty and loading pages; the detail pane beside
the table, loaded for the current row; live updates from change notices, coalesced while one
is read, and gathered while the page is hidden to be applied when it is shown again (a
hidden page costs nothing while work goes on elsewhere); the context menu and the clipboard.
Every read that may replace rows is numbered by the model (``KeysetTableModel.next_read``),
the one guard against a slow read undoing a newer one.

A page names its runner ``KEY``, the notices' ``TABLE`` it follows, and answers its own
filters (``current_filter``), its three reads (``read_first``, ``read_after``,
``read_changes``) and, when it has a detail pane, ``read_detail``, ``detail_row`` and
``show_detail``. Each read returns the work to run: a call of a ``core`` function that opens
its own session.

The functions below it are the parts: the filter bar with its title row (and
``ListPage.add_filter_row`` for a row of search, combos, link chips and Clear), the search box, the
Refresh and Clear buttons, a dismissable message bar, the table's plain settings, the empty
and loading pages, and the merge of a live first page that keeps the person's scroll position.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, Self, TypeVar

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.errors import PaydeskError
from desktop.lists import layout_memory
from desktop.lists.keyset_model import KeysetTableModel, Row
from desktop.lists.link_chips import LinkChips
from desktop.lists.table_look import set_list_look
from desktop.shell import theme
from desktop.shell.named import named
from desktop.shell.views import AppServices


def filter_bar(page: QWidget, title: str) -> tuple[QVBoxLayout, QVBoxLayout, QHBoxLayout, QLabel]:
    """Lay ``page`` out as a filter bar above the rest. Returns the page's layout (the bar is
    in it already), the bar's layout, the bar's title row and the row counter in it."""
    root = QVBoxLayout(page)
    root.setContentsMargins(0, 0, 0, 0)
    root.setSpacing(0)
    bar = named(QFrame(page), "FilterBar")
    bar_lay = QVBoxLayout(bar)
    bar_lay.setContentsMargins(16, 12, 16, 10)
    bar_lay.setSpacing(10)
    root.addWidget(bar)

    title_row = QHBoxLayout()
    title_row.setSpacing(8)
    title_row.addWidget(named(QLabel(title), "PageTitle"))
    counter = named(QLabel(""), "Counter")
    title_row.addWidget(counter)
    title_row.addStretch(1)
    bar_lay.addLayout(title_row)
    return root, bar_lay, title_row, counter


def counter_text(count: int, has_more: bool) -> str:
    """``1,200 shown · scroll for more``; nothing when no row is shown."""
    if count == 0:
        return ""
    more = " · scroll for more" if has_more else ""
    return f"{count:,} shown{more}"


def refresh_button(parent: QWidget, refresh: Callable[[], None]) -> QToolButton:
    button = QToolButton(parent)
    button.setIcon(theme.icon("refresh"))
    button.setToolTip("Reload (F5)")
    button.setAccessibleName("Reload")
    button.clicked.connect(refresh)
    return button


def debounce_timer(parent: QWidget, ms: int, slot: Callable[[], None]) -> QTimer:
    """A single-shot timer that runs ``slot`` once typing has paused for ``ms``."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return timer


def search_box(
    parent: QWidget, placeholder: str, min_width: int, debounce: QTimer, apply: Callable[[], None]
) -> QLineEdit:
    """A search field that applies after a pause in typing (``debounce``) or on Return."""
    search = QLineEdit(parent)
    search.setPlaceholderText(placeholder)
    search.setAccessibleName("Search")
    search.setAccessibleDescription(placeholder)
    search.setClearButtonEnabled(True)
    search.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
    search.setMinimumWidth(min_width)
    search.textChanged.connect(lambda _t: debounce.start())
    search.returnPressed.connect(apply)
    return search


def clear_button(parent: QWidget, clear: Callable[[], None]) -> QToolButton:
    button = QToolButton(parent)
    button.setText("Clear")
    button.setToolTip("Clear every filter")
    button.clicked.connect(clear)
    return button


def fit_combos(*combos: QComboBox, length: int = 12) -> None:
    """Combos of names (merchants, people) keep a sensible width whatever they hold."""
    for combo in combos:
        combo.setMinimumContentsLength(length)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)


def refill_combo(combo: QComboBox, everything: str, items: list[tuple[str, str]]) -> None:
    """Replace a filter list's ``(data, text)`` items, keeping the choice when it is still
    there; ``everything`` is the first item, meaning no filter."""
    current = combo.currentData()
    combo.clear()
    combo.addItem(everything, None)
    for data, text in items:
        combo.addItem(text, data)
    combo.setCurrentIndex(max(0, combo.findData(current)) if current else 0)


def message_bar(parent: QWidget, name: str) -> tuple[QFrame, QLabel]:
    """A hidden, dismissable bar (style sheet name ``name``) and the label of its sentence;
    the sentence can be selected, so a person can copy an error."""
    frame = named(QFrame(parent), name)
    lay = QHBoxLayout(frame)
    lay.setContentsMargins(10, 6, 6, 6)
    text = QLabel("")
    text.setWordWrap(True)
    text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    dismiss = QToolButton(frame)
    dismiss.setIcon(theme.icon("clear"))
    dismiss.setAutoRaise(True)
    dismiss.setToolTip("Dismiss")
    dismiss.setAccessibleName("Dismiss")
    dismiss.clicked.connect(frame.hide)
    lay.addWidget(text, 1)
    lay.addWidget(dismiss)
    frame.hide()
    return frame, text


def list_table(
    parent: QWidget, model: KeysetTableModel[Any], selection: QAbstractItemView.SelectionMode
) -> QTableView:
    """A read-only table of whole rows over ``model`` (``table_look.set_list_look``)."""
    table = QTableView(parent)
    set_list_look(table, model, selection)
    return table


def state_page(
    parent: QWidget, icon: str, title: str, text: str
) -> tuple[QWidget, QVBoxLayout, QLabel, QLabel]:
    """A page in place of the table (nothing found, loading): a large icon, a title and a
    sentence, centred. Returns the page, its layout (to add to) and the two labels."""
    page = named(QWidget(parent), "Page")
    lay = QVBoxLayout(page)
    lay.addStretch(2)
    pic = QLabel(page)
    pic.setPixmap(theme.icon(icon).pixmap(56, 56))
    pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lay.addWidget(pic)
    head = named(QLabel(title), "EmptyTitle")
    head.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lay.addWidget(head)
    body = named(QLabel(text), "EmptyText")
    body.setAlignment(Qt.AlignmentFlag.AlignCenter)
    body.setWordWrap(True)
    lay.addWidget(body)
    lay.addSpacing(8)
    return page, lay, head, body


def empty_page(
    parent: QWidget, icon: str, title: str, show_all: str, clear: Callable[[], None]
) -> tuple[QWidget, QLabel, QLabel, QPushButton]:
    """The page shown when a query found nothing, with a button that clears the filters.
    Returns the page, its title and sentence labels, and the button."""
    page, lay, head, body = state_page(parent, icon, title, "")
    button = QPushButton(show_all, page)
    button.clicked.connect(clear)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(button)
    row.addStretch(1)
    lay.addLayout(row)
    lay.addStretch(3)
    return page, head, body, button


def loading_page(parent: QWidget, icon: str, title: str) -> QWidget:
    page, lay, _h, _b = state_page(parent, icon, title, "")
    lay.addStretch(3)
    return page


def add_shortcut(widget: QWidget, keys: QKeySequence.StandardKey, slot: Callable[[], Any]) -> None:
    """Run ``slot`` on ``keys`` while ``widget`` (or a child of it) has the focus."""
    action = QAction(widget)
    action.setShortcut(keys)
    action.triggered.connect(slot)
    widget.addAction(action)


def merge_first_page(
    table: QTableView, pages: QStackedWidget, model: KeysetTableModel[Any], rows: list[Any]
) -> None:
    """Put the rows of a fresh first page that are not shown yet in their place, keeping the
    rows the person is looking at where they were, and show the table once it has rows."""
    bar = table.verticalScrollBar()
    top = model.row_at(table.rowAt(0))
    offset = bar.value()
    added = model.insert_new(rows)
    if added and top is not None and offset > 0:
        now_at = model.row_of(model.row_id(top))
        before = table.rowAt(0)
        if now_at is not None and before >= 0:
            bar.setValue(offset + (now_at - before) * table.rowHeight(now_at))
    if model.rowCount() and pages.currentWidget() is not table:
        pages.setCurrentWidget(table)


def fit_columns(
    table: QTableView,
    model: KeysetTableModel[Any],
    samples: dict[str, str],
    column: dict[str, int],
    *,
    mono: Collection[str] = (),
    cell_pad: int = 24,
    header_pad: int | None = None,
    badge: str | None = None,
) -> None:
    """Give each column of ``samples`` the width of its usual widest text in the font in use
    (ids in ``mono`` are in the id face); with ``header_pad``, at least its header title's
    (bold, with the sort arrow); the ``badge`` column has room for the badge's own padding."""
    fm = table.fontMetrics()
    header_fm = table.horizontalHeader().fontMetrics()
    mono_fm = QFontMetrics(model.id_font)
    for key, sample in samples.items():
        width = (mono_fm if key in mono else fm).horizontalAdvance(sample) + cell_pad
        if header_pad is not None:
            title = model.headerData(column[key], Qt.Orientation.Horizontal)
            width = max(width, header_fm.horizontalAdvance(title) + header_pad)
        table.setColumnWidth(column[key], width + (18 if key == badge else 0))


@contextmanager
def quiet(*widgets: QWidget) -> Iterator[None]:
    """Change filter widgets without each change running a query."""
    for w in widgets:
        w.blockSignals(True)
    try:
        yield
    finally:
        for w in widgets:
            w.blockSignals(False)


class Filter(Protocol):
    def validated(self) -> Self: ...


class FirstPage(Protocol):
    """What a first-page read answers (the page's own setup may come with it)."""

    @property
    def filter(self) -> Any: ...

    @property
    def rows(self) -> Sequence[Any]: ...


class Changes(Protocol):
    """What a changed-rows read answers."""

    @property
    def changed(self) -> Sequence[Any]: ...  # the named rows that exist, read again

    @property
    def first_page(self) -> Sequence[Any] | None: ...  # when the filter may have gained rows


class Pane(Protocol):
    """The detail pane as the page drives it (``desktop.lists.detail_pane.DetailPane``)."""

    closed: Any

    def show_loading(self, row_id: str) -> None: ...

    def show_error(self, message: str) -> None: ...

    def isHidden(self) -> bool: ...

    def show(self) -> None: ...

    def hide(self) -> None: ...


@dataclass
class Notice:
    """Change notices for the page's table, gathered: the ids named (none: anything may
    have changed) and the statuses seen."""

    ids: set[str] = field(default_factory=set)
    statuses: set[str] = field(default_factory=set)
    everything: bool = False

    def merge(self, other: Notice) -> None:
        self.ids |= other.ids
        self.statuses |= other.statuses
        self.everything = self.everything or other.everything


F = TypeVar("F", bound=Filter)
D = TypeVar("D")  # what the detail pane shows

# ``ListPage.TABLE`` for a page that takes every notice (any action may add to it).
EVERY_TABLE = "*"


class ListPage(QWidget, Generic[Row, F, D]):
    """One keyset-paged list (see the module docstring). Emits ``loaded`` when a query's
    first page is on screen, ``detailShown`` with the id the pane shows, ``actionFinished``
    with the sentence an action ended with, ``liveUpdated`` after change notices were
    applied, and ``message`` with a sentence for the status bar."""

    loaded = Signal(int)
    detailShown = Signal(str)
    actionFinished = Signal(str)
    liveUpdated = Signal()
    message = Signal(str)

    KEY = "list"  # the runner key its queries run under
    DETAIL_KEY = "list-detail"
    TABLE: str | None = None  # the change notices' table it follows (None: none)
    PAGE_SIZE = 200
    SEARCH_DEBOUNCE_MS = 150
    SELECTION = QAbstractItemView.SelectionMode.SingleSelection
    BANNER = "Banner"  # the message bar's style sheet name
    CLEAR_BANNER_ON_LOAD = True
    SHOWS_LOADING = True
    SHOWS_EMPTY = True
    # The least width the table and pane share, and the pane's, when the pane opens.
    DETAIL_WIDTH = (900, 340)

    def __init__(
        self,
        services: AppServices,
        model: KeysetTableModel[Row],
        initial: F,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.services = services
        self.ctx = services.ctx
        self.db = services.ctx.db
        self.runner = services.runner
        self.actor = services.ctx.default_actor()
        self.is_loaded = False
        self.has_setup = False  # what the page reads once (roles, names) is on hand
        self._filter = initial  # what the filters said last
        self._query_filter = initial  # the query of the rows on screen
        self.detail: Pane | None = None
        self._detail: D | None = None
        self._live_running = False
        self._live_pending: Notice | None = None
        self._deferred: Notice | None = None  # notices that came while hidden
        model.setParent(self)
        self.model = model
        self.model.set_fetcher(self._fetch_next)
        self.model.rowsLoaded.connect(self._update_counter)
        self._debounce = debounce_timer(self, self.SEARCH_DEBOUNCE_MS, self.apply_filters)
        self.counter = QLabel("")

    # -- what differs between pages: every view overrides these -------------------------
    def current_filter(self) -> F:
        """What the filter widgets say now (not yet validated)."""
        raise NotImplementedError

    def read_first(self, f: F, setup: bool) -> Callable[[], FirstPage]:
        """The first page of ``f`` (with ``setup``, what the page reads once)."""
        raise NotImplementedError

    def read_after(self, f: F, after: Any) -> Callable[[], list[Row]]:
        raise NotImplementedError

    def read_changes(self, ids: list[str], f: F, first_page: bool) -> Callable[[], Changes]:
        raise NotImplementedError

    def read_detail(self, row_id: str) -> Callable[[], D]:
        raise NotImplementedError

    def detail_row(self, shown: D) -> Row:
        """The row a detail holds (it replaces the row on screen)."""
        raise NotImplementedError

    def show_detail(self, shown: D) -> None:
        raise NotImplementedError

    def take_page(self, page: Any) -> None:
        """A first page arrived: take what came with it (setup, headline)."""

    def empty_texts(self, f: F) -> tuple[str, str, bool]:
        """The empty page's title and sentence for ``f``, and whether "Show all" is offered."""
        return "", "", False

    def filter_widgets(self) -> tuple[QWidget, ...]:
        """The search box and combos that ``clear_filters`` resets."""
        return ()

    def clear_more_filters(self) -> None:
        """Clear what the widgets do not say (a link's chips, a date range)."""

    def status_filter(self) -> str | None:
        """The status the query on screen narrows to (a notice of other statuses cannot add
        rows to it)."""
        return None

    def other_change(self, table: str, ids: Any) -> None:
        """A notice about another table than ``TABLE`` (the detail may read differently)."""

    def detail_outdated(self, row: Row) -> bool:
        """Whether the detail pane shows an older state of ``row`` than the table does."""
        return False

    def update_actions(self) -> None:
        """The selection or the detail changed: enable what may be done now."""

    def build_context_menu(self) -> QMenu:
        return QMenu(self)

    # -- layout --------------------------------------------------------------------------
    def add_filter_row(
        self,
        bar_lay: QVBoxLayout,
        search: QLineEdit,
        combos: Sequence[QComboBox],
        chip_removed: Callable[[str], None],
    ) -> None:
        """The row of filters in the bar: the search box, the combos (each applies as it
        changes), the chips of what a link narrowed to that the combos cannot say
        (``link_chips``; ``chip_removed(key)`` when one is removed) and Clear."""
        filters = QHBoxLayout()
        filters.setSpacing(8)
        filters.addWidget(search, 3)
        for combo in combos:
            combo.currentIndexChanged.connect(self.apply_filters)
            filters.addWidget(combo, 1)
        self.link_chips = LinkChips(self)
        self.link_chips.removed.connect(chip_removed)
        filters.addWidget(self.link_chips)
        self.clear_button = clear_button(self, self.clear_filters)
        filters.addWidget(self.clear_button)
        bar_lay.addLayout(filters)

    def build_list(
        self,
        root: QVBoxLayout,
        bar_lay: QVBoxLayout,
        *,
        icon: str,
        empty: str,
        show_all: str,
        loading: str,
    ) -> None:
        """The banner under the filters; the table with its empty and loading pages below,
        with room for a detail pane beside them."""
        self.banner, self.banner_text = message_bar(self, self.BANNER)
        bar_lay.addWidget(self.banner)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.pages = QStackedWidget(self.splitter)
        self.table = list_table(self, self.model, self.SELECTION)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.pages.addWidget(self.table)
        self.empty_page, self.empty_title, self.empty_text, self.show_all_button = empty_page(
            self, icon, empty, show_all, self.clear_filters
        )
        self.pages.addWidget(self.empty_page)
        self.loading_page = loading_page(self, icon, loading)
        self.pages.addWidget(self.loading_page)
        if self.SHOWS_LOADING:
            self.pages.setCurrentWidget(self.loading_page)
        self.splitter.addWidget(self.pages)
        root.addWidget(self.splitter, 1)
        add_shortcut(self, QKeySequence.StandardKey.Refresh, self.refresh)
        # Enter (or a double click) on a row opens its detail; Escape closes the detail, then
        # clears the search. The page's own windows (dialogs) keep their Escape.
        self.table.activated.connect(self.open_detail)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape.activated.connect(self.escape)

    def add_detail(self, pane: Pane) -> None:
        """Put ``pane`` beside the table; it opens on the current row."""
        self.detail = pane
        pane.closed.connect(self.close_detail)
        pane.hide()
        if isinstance(pane, QWidget):
            self.splitter.addWidget(pane)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)

    def enable_context_menu(self) -> None:
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

    def start(self) -> None:
        """Follow change notices and read the first page (the last step of building)."""
        changes = self.services.changes
        if changes is not None and self.TABLE is not None:
            changes.changed.connect(self._on_changed)
        self.first_load()

    # -- queries -------------------------------------------------------------------------
    def first_load(self) -> None:
        self.run_query(self.current_filter(), setup=True)

    def apply_filters(self) -> None:
        """Run the query the filters describe (the search box calls this after a pause)."""
        self._debounce.stop()
        self.run_query(self.current_filter())

    def refresh(self) -> None:
        self.run_query(self.current_filter(), setup=True)

    def run_query(self, f: F, *, setup: bool = False) -> None:
        """Replace the table with the first page of ``f``; older results are dropped. The
        setup is read too until one has arrived (a link may come before the first answer)."""
        try:
            f = f.validated()
        except PaydeskError as exc:
            self.runner.invalidate(self.KEY)
            self.show_banner(exc.message)
            return
        self._filter = f
        # A live read in flight belongs to the old generation and will be dropped.
        self._live_running = False
        self._live_pending = None
        self.submit_first(self.read_first(f, setup or not self.has_setup))

    def submit_first(self, work: Callable[[], FirstPage]) -> None:
        self.runner.submit(
            work, self._on_first_page, self._on_query_error, key=self.KEY, owner=self
        )

    def _on_first_page(self, page: FirstPage) -> None:
        if self.CLEAR_BANNER_ON_LOAD:
            self.banner.hide()
        self.take_page(page)
        self._filter = self._query_filter = page.filter
        self.model.reset(list(page.rows), more=len(page.rows) == self.PAGE_SIZE)
        self.close_detail()
        if page.rows:
            self.pages.setCurrentWidget(self.table)
            self.table.scrollToTop()
        else:
            self._show_empty(page.filter)
        self.is_loaded = True
        self.loaded.emit(len(page.rows))

    def _show_empty(self, f: F) -> None:
        if not self.SHOWS_EMPTY:
            return
        title, text, show_all = self.empty_texts(f)
        self.empty_title.setText(title)
        self.empty_text.setText(text)
        self.show_all_button.setVisible(show_all)
        self.pages.setCurrentWidget(self.empty_page)

    def _on_query_error(self, exc: BaseException) -> None:
        self.model.fetch_failed()
        if self.SHOWS_LOADING and self.pages.currentWidget() is self.loading_page:
            self._show_empty(self._filter)
        self.show_banner(errors.sentence(exc))

    def _fetch_next(self, after: Any) -> None:
        self.runner.submit(
            self.read_after(self._query_filter, after),
            lambda rows: self.model.append(rows, more=len(rows) == self.PAGE_SIZE),
            self._on_query_error,
            key=self.KEY,
            supersede=False,
            owner=self,
        )

    def reset_filter_widgets(self) -> None:
        """Empty the search box and put every combo back on its first choice."""
        for w in self.filter_widgets():
            if isinstance(w, QLineEdit):
                w.clear()
            elif isinstance(w, QComboBox):
                w.setCurrentIndex(0)

    def clear_filters(self) -> None:
        with quiet(*self.filter_widgets()):
            self.reset_filter_widgets()
            self.clear_more_filters()
        self.apply_filters()

    def _update_counter(self, count: int) -> None:
        self.counter.setText(counter_text(count, self.model.has_more))

    def show_banner(self, text: str) -> None:
        self.banner_text.setText(text)
        self.banner.show()

    # -- live updates --------------------------------------------------------------------
    def _on_changed(self, table: str, ids: Any, statuses: Any) -> None:
        if self.TABLE not in (EVERY_TABLE, table):
            self.other_change(table, ids)
            return
        notice = Notice(set(ids or ()), set(statuses or ()), not ids)
        if not self.isVisible():
            # Catch up when shown (a hidden page costs nothing while work goes on).
            if self._deferred is None:
                self._deferred = notice
            else:
                self._deferred.merge(notice)
            return
        self.take_notice(notice)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._deferred is not None:
            pending, self._deferred = self._deferred, None
            self.take_notice(pending)

    def take_notice(self, notice: Notice) -> None:
        """Apply notices: while one live read runs, further ones are gathered and read
        together after it."""
        if not self.is_loaded:
            return
        if self._live_pending is None:
            self._live_pending = notice
        else:
            self._live_pending.merge(notice)
        if not self._live_running:
            self._run_live()

    def _may_gain(self, notice: Notice) -> bool:
        """Could the first page of the filter on screen now hold rows it did not?"""
        if notice.everything:
            return True
        if not notice.ids - self.model.ids():
            return False
        status = self.status_filter()
        return not (status and notice.statuses and status not in notice.statuses)

    def _run_live(self) -> None:
        notice, self._live_pending = self._live_pending, None
        if notice is None:
            return
        on_screen = self.model.ids() if notice.everything else notice.ids & self.model.ids()
        gain = self._may_gain(notice)
        if not on_screen and not gain:
            return
        read = self.model.next_read()

        def done(update: Changes) -> None:
            self._live_running = False
            self._on_live_update(update, read)
            if self._live_pending is not None:
                self._run_live()

        def failed(_exc: BaseException) -> None:
            # A hint was lost; the rows stay the truth and the next notice tries again.
            self._live_running = False

        self._live_running = True
        # Joins the query's generation: a filter change meanwhile drops this update.
        self.runner.submit(
            self.read_changes(sorted(on_screen), self._query_filter, gain),
            done,
            failed,
            key=self.KEY,
            supersede=False,
            owner=self,
        )

    def _on_live_update(self, update: Changes, read: int) -> None:
        changed_rows = self.model.update_rows(update.changed, read)
        if update.first_page:
            merge_first_page(self.table, self.pages, self.model, list(update.first_page))
        current = self.shown_row()
        if current is not None and (
            self.model.row_of(current.id) in changed_rows or self.detail_outdated(current)
        ):
            self.load_detail(current.id)
        self.liveUpdated.emit()

    # -- selection and detail ------------------------------------------------------------
    def current_row(self) -> Row | None:
        """The current row, when it is selected."""
        index = self.table.currentIndex()
        if index.isValid() and self.table.selectionModel().isRowSelected(index.row()):
            return self.model.row_at(index.row())
        return None

    def shown_row(self) -> Row | None:
        """The row the detail pane is about."""
        return self.current_row()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row_at(current.row()) if current.isValid() else None
        if row is None or self.detail is None:
            return
        if self.detail.isHidden():
            self.detail.show()
            least, width = self.DETAIL_WIDTH
            total = max(least, self.splitter.width())
            width = layout_memory.pane_width(self.splitter, width)
            self.splitter.setSizes([total - width, width])
        self.load_detail(row.id)

    def load_detail(self, row_id: str) -> None:
        pane = self.detail
        if pane is None:
            return
        if self._detail is None or self.detail_row(self._detail).id != row_id:
            self._detail = None
            pane.show_loading(row_id)
            self.update_actions()
        read = self.model.next_read()
        self.runner.submit(
            self.read_detail(row_id),
            lambda shown: self._on_detail(shown, read),
            lambda exc: pane.show_error(errors.sentence(exc)),
            key=self.DETAIL_KEY,
            owner=self,
        )

    def _on_detail(self, shown: D, read: int) -> None:
        self._detail = shown
        row = self.detail_row(shown)
        self.model.update_rows([row], read)
        self.show_detail(shown)
        self.update_actions()
        self.detailShown.emit(str(row.id))

    def open_detail(self, index: QModelIndex | None = None) -> None:
        """Show the detail of the row at ``index`` (default: the current row)."""
        index = index if index is not None and index.isValid() else self.table.currentIndex()
        if not index.isValid() or self.detail is None:
            return
        self.table.selectRow(index.row())
        self._current_changed(index, QModelIndex())

    def escape(self) -> None:
        """Escape: close the detail pane; with it closed, clear the search."""
        if self.detail is not None and not self.detail.isHidden():
            self.close_detail()
            self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)
            return
        search = getattr(self, "search", None)
        if isinstance(search, QLineEdit) and search.text():
            search.clear()
            self.apply_filters()

    def close_detail(self) -> None:
        if self.detail is None:
            return
        self.runner.invalidate(self.DETAIL_KEY)
        self._detail = None
        self.detail.hide()
        self.table.selectionModel().clearSelection()
        self.update_actions()

    # -- context menu and clipboard --------------------------------------------------------
    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if index.isValid() and not self.table.selectionModel().isRowSelected(index.row()):
            self.table.setCurrentIndex(index)
        self.build_context_menu().exec(self.table.viewport().mapToGlobal(pos))

    def copy_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.message.emit(f"Copied {text}")
