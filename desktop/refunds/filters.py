"""The Refunds view's filters: the search, the status (with the gateway's Needs check), merchant,
requester, kind and age combos, the chips of what a dashboard link narrowed to that the combos
cannot say (its currency and time ranges) and Clear, in a row that wraps onto more lines when
the window is narrow (``desktop.lists.filter_row.FilterRow``). ``current`` is the queue filter
they describe (``core.gateway.needs_check.QueueFilter``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QWidget

from core.gateway.needs_check import QueueFilter
from core.refunds.labels import NEEDS_CHECK_LABEL
from core.refunds.queue import QueueSetup
from core.refunds.records import RefundFilter
from core.refunds.states import KINDS, STATUSES
from desktop.lists import list_page
from desktop.lists.filter_row import FilterRow
from desktop.lists.link_chips import LinkChips, span_text
from desktop.lists.list_page import quiet
from desktop.refunds.model import KIND_NAMES, STATUS_NAMES

# The status filter's choice for the gateway's Needs check (not a status of its own).
NEEDS_CHECK = "needs_check"

# (label, min_age, max_age)
AGES: tuple[tuple[str, timedelta | None, timedelta | None], ...] = (
    ("Any age", None, None),
    ("Under 1 hour", None, timedelta(hours=1)),
    ("Under 1 day", None, timedelta(days=1)),
    ("Over 1 day", timedelta(days=1), None),
    ("Over 3 days", timedelta(days=3), None),
    ("Over 7 days", timedelta(days=7), None),
    ("Over 14 days", timedelta(days=14), None),
)


def status_choice(f: RefundFilter) -> str | None:
    """The status filter's data for ``f`` (the Needs-check choice, a status, or None)."""
    return NEEDS_CHECK if getattr(f, "needs_check", False) else f.status


def _combo(page: QWidget, items: list[tuple[str, Any]], name: str, what: str) -> QComboBox:
    combo = QComboBox(page)
    for text, data in items:
        combo.addItem(text, data)
    combo.setAccessibleName(name)
    combo.setAccessibleDescription(what)
    combo.setToolTip(what)
    return combo


class QueueFilters:
    """The filter widgets of ``page``; each applies (``apply``) as it changes, the search
    after ``debounce``. ``chip_removed(key)`` when the person removes a link's chip."""

    def __init__(
        self,
        page: QWidget,
        debounce: QTimer,
        apply: Callable[[], None],
        clear: Callable[[], None],
        chip_removed: Callable[[str], None],
    ) -> None:
        self.search = list_page.search_box(page, "Refund id or payment id", 200, debounce, apply)
        statuses: list[tuple[str, Any]] = [("All statuses", None)]
        statuses += [(STATUS_NAMES[key], key) for key in STATUSES]
        statuses.append((NEEDS_CHECK_LABEL, NEEDS_CHECK))
        self.status = _combo(page, statuses, "Status filter",
                             "Show the refunds of one status, or those that need a check at the "
                             "gateway")  # fmt: skip
        self.status.setItemData(
            self.status.count() - 1,
            "Gateway refunds whose outcome is unknown past the check time",
            Qt.ItemDataRole.ToolTipRole,
        )
        self.merchant = _combo(page, [("All merchants", None)], "Merchant filter",
                               "Show the refunds of one merchant")  # fmt: skip
        self.requester = _combo(page, [("Anyone", None)], "Requested by",
                                "Show the refunds one person requested")  # fmt: skip
        kinds: list[tuple[str, Any]] = [("All kinds", None)]
        kinds += [(KIND_NAMES[kind], kind) for kind in KINDS]
        self.kind = _combo(page, kinds, "Kind filter", "Show full, partial or pro-rata refunds")
        self.age = _combo(page, [(label, i) for i, (label, _lo, _hi) in enumerate(AGES)],
                          "Age of the request", "Show the requests of an age")  # fmt: skip
        list_page.fit_combos(self.merchant, self.requester)

        self.row = FilterRow()
        # The search takes the room a line has left; a combo wrapped onto a line of its own
        # keeps its width rather than spanning the window.
        self.row.addWidget(self.search, 1)
        for combo in self.combos():
            combo.currentIndexChanged.connect(apply)
            self.row.addWidget(combo)
        self.link_chips = LinkChips(page)
        self.link_chips.removed.connect(chip_removed)
        self.row.addWidget(self.link_chips)
        self.clear_button = list_page.clear_button(page, clear)
        self.clear_button.setAccessibleDescription("Clear every filter")
        self.row.addWidget(self.clear_button)
        # What a link narrowed to that the combos cannot say: the filter's currency,
        # created_* and processed_* fields.
        self.link_extras: dict[str, Any] = {}

    def combos(self) -> tuple[QComboBox, ...]:
        return (self.status, self.merchant, self.requester, self.kind, self.age)

    def current(self, descending: bool) -> QueueFilter:
        """The filter the widgets describe now (not yet validated)."""
        _label, min_age, max_age = AGES[self.age.currentData() or 0]
        status = self.status.currentData()
        return QueueFilter(
            status=None if status == NEEDS_CHECK else status,
            needs_check=status == NEEDS_CHECK,
            merchant_id=self.merchant.currentData(),
            requested_by=self.requester.currentData(),
            kind=self.kind.currentData(),
            min_age=min_age,
            max_age=max_age,
            search=self.search.text(),
            descending=descending,
            **self.link_extras,
        )

    def show_status(self, f: RefundFilter) -> None:
        self.status.setCurrentIndex(max(0, self.status.findData(status_choice(f))))

    def take_setup(self, setup: QueueSetup, f: RefundFilter, actor: str) -> None:
        """Show ``f``'s status and fill the merchant and requester lists from ``setup``."""
        with quiet(self.status, self.merchant, self.requester):
            self.show_status(f)
            list_page.refill_combo(
                self.merchant,
                "All merchants",
                sorted(setup.merchants.items(), key=lambda kv: kv[1].lower()),
            )
            people = [(actor, f"Me ({actor})")]
            people += [(u, u) for u in setup.staff if u != actor]
            list_page.refill_combo(self.requester, "Anyone", people)

    def set_link_extras(self, **extras: Any) -> None:
        """Narrow to ``extras`` (currency, created_*/processed_* bounds), shown as chips."""
        self.link_extras = {k: v for k, v in extras.items() if v is not None}
        e = self.link_extras
        currency = e.get("currency")
        chips = [("currency", f"Currency: {currency}" if currency else None, "Show every currency")]
        for key, word in (("created", "Requested"), ("processed", "Processed")):
            start, end = e.get(f"{key}_from"), e.get(f"{key}_to")
            text = f"{word} {span_text(start, end)}" if start or end else None
            chips.append((key, text, f"{word} at any time"))
        for key, text, tip in chips:
            self.link_chips.set_chip(key, text, tip)
            chip = self.link_chips.chip(key)
            if chip is not None:
                chip.setAccessibleDescription(f"Remove this narrowing: {tip.lower()}")

    def drop_link_extra(self, key: str) -> None:
        """The chip ``key`` was removed: drop what it stood for."""
        self.set_link_extras(
            **{k: v for k, v in self.link_extras.items() if not k.startswith(key)}
        )
