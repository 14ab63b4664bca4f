"""The Payments filter bar: the title row (the row counter, Reload, Refund…, Export CSV…) and
the filters (search, status, method, merchant, created days, Clear), with a removable chip for
what a link narrowed to that the bar has no widget for (a currency, an hour range) and the
banner a refused or failed query leaves.

The bar says what its filters select (``current_filter``) and sets itself to a link
(``show_link``); the view runs the queries, through the ``apply`` it hands in. Widgets that
start hidden (the chips, the banner, the export's progress) are built when first shown: each
costs its construction and its style sheet polish, and opening the view pays for what is on
screen only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import cast

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QLineEdit, QPushButton, QToolButton, QWidget

from core.payments import queries as payments
from core.payments.queries import PaymentFilter
from desktop.lists import list_page
from desktop.lists.filter_buttons import ChoiceButton, DateRangeButton
from desktop.lists.filter_row import FilterRow
from desktop.lists.retry_banner import RetryBanner
from desktop.lists.time_range import range_text
from desktop.payments.model import METHOD_NAMES, STATUS_NAMES
from desktop.shell import theme
from desktop.shell.named import named

SEARCH_DEBOUNCE_MS = 150


def local_midnight(day: QDate) -> datetime:
    # Midnight where the person is; the column type stores it as UTC.
    return datetime.combine(cast(date, day.toPython()), time()).astimezone()


def is_local_midnight(dt: datetime) -> bool:
    return dt.astimezone().time() == time()


def local_qdate(dt: datetime) -> QDate:
    d = dt.astimezone().date()
    return QDate(d.year, d.month, d.day)


class PaymentFilterBar:
    """Lays ``page`` out with the filter bar on top; ``page_layout`` takes the rest. Every
    change of a filter calls ``apply`` (the search box after a pause in typing, or on
    Return); Reload and the banner's Retry call ``refresh``."""

    def __init__(
        self, page: QWidget, apply: Callable[[], None], refresh: Callable[[], None]
    ) -> None:
        self._apply = apply
        self._refresh = refresh
        # What a link narrowed to that the filter bar has no widget for (shown as chips).
        self.link_currency: str | None = None
        self.link_range: tuple[datetime | None, datetime | None] | None = None
        self.debounce = list_page.debounce_timer(page, SEARCH_DEBOUNCE_MS, apply)
        self.page_layout, bar_lay, title_row, self.counter = list_page.filter_bar(page, "Payments")
        bar = bar_lay.parentWidget()
        assert bar is not None  # the frame the layout is set on
        self.frame = bar
        self._bar_layout = bar_lay
        self._title_row = title_row
        self.refresh_button = list_page.refresh_button(bar, refresh)
        title_row.addWidget(self.refresh_button)
        self.refund_button = QPushButton(theme.icon("refunds"), "Refund…", bar)
        self.refund_button.setToolTip("Request a refund of the selected payment")
        self.refund_button.setEnabled(False)
        title_row.addWidget(self.refund_button)
        self.export_button = QPushButton(theme.icon("export"), "Export CSV…", bar)
        title_row.addWidget(self.export_button)

        filters = FilterRow()  # wraps onto a second line in a narrow window
        self.search = QLineEdit(bar)
        self.search.setPlaceholderText("Payment id, order id, or customer email / VPA")
        self.search.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumWidth(280)
        self.search.setAccessibleName("Search")
        self.search.setAccessibleDescription(self.search.placeholderText())
        self.search.textChanged.connect(self._search_edited)
        self.search.returnPressed.connect(apply)
        filters.addWidget(self.search, 3)

        # Buttons with drop-down lists rather than combos, and the dates behind one button:
        # what they open is built when first opened (see desktop.lists.filter_buttons).
        self.status_combo = ChoiceButton(bar)
        self.status_combo.addItem("All statuses", None)
        for key in payments.STATUSES:
            self.status_combo.addItem(STATUS_NAMES[key], key)
        self.method_combo = ChoiceButton(bar)
        self.method_combo.addItem("All methods", None)
        for key in payments.METHODS:
            self.method_combo.addItem(METHOD_NAMES[key], key)
        self.merchant_combo = ChoiceButton(bar, min_chars=14)
        self.merchant_combo.addItem("All merchants", None)
        for combo, name in (
            (self.status_combo, "Status"),
            (self.method_combo, "Method"),
            (self.merchant_combo, "Merchant"),
        ):
            combo.setAccessibleName(f"{name} filter")
            combo.setAccessibleDescription(f"Show the payments of one {name.lower()}")
            combo.currentIndexChanged.connect(apply)
            filters.addWidget(combo, 1)

        self.dates = DateRangeButton(
            "Created", bar, tips=("Created on or after", "Created on or before")
        )
        self.dates.setAccessibleName("Created between")
        self.dates.setAccessibleDescription("Show the payments created from one day to another")
        self.dates.rangeChanged.connect(self._dates_changed)
        filters.addWidget(self.dates)
        self._filters_row = filters
        self._currency_chip: QToolButton | None = None
        self._range_chip: QToolButton | None = None
        self.clear_button = list_page.clear_button(bar, self.clear_filters)
        filters.addWidget(self.clear_button)
        bar_lay.addLayout(filters)
        self._banner: RetryBanner | None = None

    # -- what the filters select -------------------------------------------------------------
    def current_filter(self, sort: str, descending: bool) -> PaymentFilter:
        """What the filter widgets say now (not yet validated), in the order given."""
        created_from = created_to = None
        first, last = self.dates.range()
        if (d := first) is not None:
            created_from = local_midnight(d)
        if (d := last) is not None:
            # "To" is inclusive for a person; the query's bound is exclusive.
            created_to = local_midnight(d) + timedelta(days=1)
        if self.link_range is not None:
            created_from, created_to = self.link_range
        return PaymentFilter(
            status=self.status_combo.currentData(),
            merchant_id=self.merchant_combo.currentData(),
            method=self.method_combo.currentData(),
            created_from=created_from,
            created_to=created_to,
            search=self.search.text(),
            sort=sort,
            descending=descending,
            currency=self.link_currency,
        )

    def _search_edited(self, text: str) -> None:
        # The clear button (shown only while there is text) is added with the first text
        # rather than with the view: it is a widget, an action and an icon of its own.
        if text and not self.search.isClearButtonEnabled():
            self.search.setClearButtonEnabled(True)
        self.debounce.start()

    def _dates_changed(self, *_: object) -> None:
        # A day chosen by the person replaces a linked hour range.
        if self.link_range is not None:
            self.set_link_extras(self.link_currency, None)
        self._apply()

    def set_merchants(self, names: dict[str, str]) -> None:
        """Offer ``names`` (merchant id → name), keeping the merchant chosen."""
        combo = self.merchant_combo
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("All merchants", None)
        for merchant_id, name in sorted(names.items(), key=lambda kv: kv[1].lower()):
            combo.addItem(name, merchant_id)
        found = combo.findData(current) if current else 0
        combo.setCurrentIndex(max(0, found))
        combo.blockSignals(False)

    def _filter_widgets(self) -> tuple[QWidget, ...]:
        return (self.search, self.status_combo, self.method_combo, self.merchant_combo,
                self.dates)  # fmt: skip

    def clear_filters(self) -> None:
        widgets = self._filter_widgets()
        for w in widgets:
            w.blockSignals(True)
        self.search.clear()
        for combo in (self.status_combo, self.method_combo, self.merchant_combo):
            combo.setCurrentIndex(0)
        self.dates.clear_range()
        for w in widgets:
            w.blockSignals(False)
        self.set_link_extras(None, None)
        self._apply()

    def show_link(self, link: PaymentFilter) -> None:
        """Set the filters to ``link`` without applying them. A currency, or a time range that
        is not whole local days, has no widget and shows as a removable chip instead."""
        widgets = self._filter_widgets()
        for w in widgets:
            w.blockSignals(True)
        try:
            self.debounce.stop()
            self.search.setText(link.search or "")
            for combo, value in (
                (self.status_combo, link.status),
                (self.method_combo, link.method),
                (self.merchant_combo, link.merchant_id),
            ):
                found = combo.findData(value) if value else 0
                if found < 0 and combo is self.merchant_combo and value:
                    # Merchants not loaded yet: keep the id so the query and the combo agree.
                    combo.addItem(value, value)
                    found = combo.count() - 1
                combo.setCurrentIndex(max(0, found))
            whole_days = all(
                b is None or is_local_midnight(b) for b in (link.created_from, link.created_to)
            )
            first = last = None
            if link.created_from is not None and whole_days:
                first = local_qdate(link.created_from)
            if link.created_to is not None and whole_days:
                # The widget's "to" day is inclusive; the filter's bound is exclusive.
                last = local_qdate(link.created_to - timedelta(days=1))
            self.dates.set_range(first, last)
        finally:
            for w in widgets:
                w.blockSignals(False)
        has_range = link.created_from is not None or link.created_to is not None
        self.set_link_extras(
            link.currency.upper() if link.currency else None,
            (link.created_from, link.created_to) if has_range and not whole_days else None,
        )

    # -- chips for what a link narrowed to --------------------------------------------------
    def set_link_extras(
        self, currency: str | None, span: tuple[datetime | None, datetime | None] | None
    ) -> None:
        self.link_currency = currency
        self.link_range = span
        if currency is not None or self._currency_chip is not None:
            self.currency_chip.setText(f"Currency: {currency}" if currency else "")
            self.currency_chip.setVisible(currency is not None)
        if span is not None or self._range_chip is not None:
            self.range_chip.setText(f"Created {range_text(*span)}" if span else "")
            self.range_chip.setVisible(span is not None)

    def remove_currency_chip(self) -> None:
        self.set_link_extras(None, self.link_range)
        self._apply()

    def remove_range_chip(self) -> None:
        self.set_link_extras(self.link_currency, None)
        self._apply()

    def _chip(self, tip: str, remove: Callable[[], None], before: QWidget) -> QToolButton:
        """A removable chip for what a link narrowed to, in the filter row before ``before``."""
        chip = named(QToolButton(self.frame), "Chip")
        chip.setIcon(theme.icon("clear"))
        chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        chip.setLayoutDirection(Qt.LayoutDirection.RightToLeft)  # the ✕ after the words
        chip.setToolTip(tip)
        chip.clicked.connect(remove)
        chip.hide()
        self._filters_row.insertWidget(self._filters_row.indexOf(before), chip)
        return chip

    @property
    def currency_chip(self) -> QToolButton:
        if self._currency_chip is None:
            self._currency_chip = self._chip(
                "Show every currency",
                self.remove_currency_chip,
                self._range_chip or self.clear_button,
            )
        return self._currency_chip

    @property
    def range_chip(self) -> QToolButton:
        if self._range_chip is None:
            self._range_chip = self._chip(
                "Show every time of day", self.remove_range_chip, self.clear_button
            )
        return self._range_chip

    # -- the banner and the title row ----------------------------------------------------------
    @property
    def banner(self) -> RetryBanner:
        if self._banner is None:
            self._banner = RetryBanner(self.frame, self._refresh)
            self._banner.hide()
            self._bar_layout.addWidget(self._banner)
        return self._banner

    def show_banner(self, text: str) -> None:
        self.banner.text.setText(text)
        self.banner.show()

    def hide_banner(self) -> None:
        if self._banner is not None:
            self._banner.hide()

    def insert_in_title_row(self, widget: QWidget) -> None:
        """Put ``widget`` in the title row, before its buttons."""
        self._title_row.insertWidget(self._title_row.indexOf(self.refresh_button), widget)
