"""The detail pane beside the Reconciliation list: the settlement line side by side with the
payment or refund it matched, the difference and the resolution, the actions a finance person
takes on it (Link…, Accept…, Investigate…, Reopen…; disabled with the reason shown for
everyone else), and the line's history."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from core.money import format_money
from core.recon.listing import ACTIONS, LineDetail
from core.recon.service import LineView
from desktop.lists.detail_pane import DetailPane
from desktop.shell import theme
from desktop.shell.named import named

ACTION_TEXTS = {
    "link": "Link…",
    "accept": "Accept…",
    "investigate": "Investigate…",
    "reopen": "Reopen…",
}
_HISTORY_MAX_HEIGHT = 180


def state_text(state: str) -> str:
    return state.replace("_", " ").capitalize()


def badge_tone(line: LineView) -> str:
    """The badge colour a line's state takes (the status colours of the other views)."""
    if line.resolution == "investigating":
        return "pending"
    if line.resolution in ("linked", "accepted") and line.state != "matched":
        return "approved"
    if line.state == "matched":
        return "success"
    if line.state == "adjustment":
        return "cancelled"
    return "failed"


def resolution_text(line: LineView) -> str:
    if line.resolution == "linked":
        said = f"Linked to {line.linked_id}"
    elif line.resolution == "accepted":
        said = f"Difference accepted ({line.resolution_reason})"
    elif line.resolution == "investigating":
        said = "Under investigation"
    else:
        return "Open exception" if line.open else "Nothing to resolve"
    when = f" at {line.resolved_at:%Y-%m-%d %H:%M} UTC" if line.resolved_at else ""
    return f"{said} by {line.resolved_by}{when}"


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "—"


def line_fields(line: LineView) -> dict[str, str]:
    """The settlement line's side, by the names the matched side uses."""
    m = line.money
    return {
        "Id": line.line_id,
        "Kind": f"{line.kind} ({line.raw_type})" if line.raw_type != line.kind else line.kind,
        "Amount": m(line.amount),
        "Currency": line.currency,
        "Fee": m(line.fee),
        "Tax": m(line.tax),
        "Net": m(line.net),
        "Order": line.order_id or "—",
        "Time": _when(line.occurred_at),
        "Settlement": line.batch_id or "—",
    }


class LineDetailPane(DetailPane):
    """Shows a ``LineDetail``; ``actionChosen`` with one of ``ACTIONS`` when the person asks
    for it; ``closed`` when they hide the pane."""

    actionChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, min_width=380)
        self.data: LineDetail | None = None
        lay = self.body_layout

        lay.addWidget(named(QLabel("SETTLEMENT LINE AND PAYDESK"), "SectionTitle"))
        self.compare = QGridLayout()
        self.compare.setHorizontalSpacing(12)
        self.compare.setVerticalSpacing(5)
        self.compare.setColumnStretch(1, 1)
        self.compare.setColumnStretch(2, 1)
        lay.addLayout(self.compare)
        self.cells: dict[tuple[str, int], QLabel] = {}

        lay.addWidget(named(QLabel("DIFFERENCE AND RESOLUTION"), "SectionTitle"))
        self.difference = named(QLabel(""), "FieldValue")
        self.resolution = named(QLabel(""), "FieldValue")
        self.note = named(QLabel(""), "FieldValue")
        for label in (self.difference, self.resolution, self.note):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lay.addWidget(label)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.buttons: dict[str, QPushButton] = {}
        for action in ACTIONS:
            button = QPushButton(ACTION_TEXTS[action], self)
            button.clicked.connect(lambda _c=False, a=action: self.actionChosen.emit(a))
            self.buttons[action] = button
            row.addWidget(button)
        row.addStretch(1)
        lay.addLayout(row)
        self.why = named(QLabel(""), "Muted")
        self.why.setWordWrap(True)
        lay.addWidget(self.why)

        self.history_title = named(QLabel("HISTORY"), "SectionTitle")
        lay.addWidget(self.history_title)
        self.history = QListWidget(self)
        self.history.setAccessibleName("History")
        self.history.setAccessibleDescription("How the line was resolved or reopened, and by whom")
        self.history.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.history.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.history.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.history.setWordWrap(True)
        lay.addWidget(self.history)
        lay.addStretch(1)
        self.set_busy(False)

    def show_loading(self, row_id: str) -> None:
        self.subtitle.setText(f"Line {row_id} · loading…")

    def show_error(self, message: str) -> None:
        self.subtitle.setText(message)

    def show_detail(self, data: LineDetail) -> None:
        self.data = data
        line = data.line
        self.title.setText(line.money(line.amount))
        self.badge.set_status(badge_tone(line), state_text(line.state))
        self.subtitle.setText(
            f"Line {line.id:,} · {line.kind} {line.line_id}"
            + (f" · settlement {line.batch_id}" if line.batch_id else " · Paydesk's own record")
        )
        self._fill_compare(data)
        if line.difference:
            self.difference.setText(
                f"Difference {line.money(line.difference)}"
                + (
                    f" (Paydesk has {format_money(line.expected, line.expected_currency)})"
                    if line.expected and line.expected_currency
                    else ""
                )
            )
        else:
            self.difference.setText("No difference")
        self.resolution.setText(resolution_text(line))
        self.note.setText(f"Note: {line.resolution_note}" if line.resolution_note else "")
        self.note.setVisible(bool(line.resolution_note))
        self._fill_history(data)
        self.update_buttons()

    def _fill_compare(self, data: LineDetail) -> None:
        grid = self.compare
        while grid.count():
            item = grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.cells = {}
        theirs = line_fields(data.line)
        ours = dict(data.matched.fields) if data.matched else {}
        paydesk_title = f"Paydesk {data.matched.kind}" if data.matched else "Paydesk"
        for col, text in ((1, "Settlement line"), (2, paydesk_title)):
            head = named(QLabel(text), "FieldName")
            font = QFont(head.font())
            font.setWeight(QFont.Weight.DemiBold)
            head.setFont(font)
            grid.addWidget(head, 0, col)
        names = list(theirs) + [n for n in ours if n not in theirs]
        for row, name in enumerate(names, start=1):
            grid.addWidget(named(QLabel(name), "FieldName"), row, 0, Qt.AlignmentFlag.AlignTop)
            for col, side in ((1, theirs), (2, ours)):
                if col == 2 and data.matched is None:
                    continue  # the whole column says there is nothing
                value = side.get(name, "")
                cell = named(QLabel(value), "FieldValue")
                cell.setWordWrap(True)
                cell.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                other = (ours if col == 1 else theirs).get(name)
                if name in ("Amount", "Currency") and other and value and other != value:
                    cell.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")
                grid.addWidget(cell, row, col)
                self.cells[(name, col)] = cell
        if data.matched is None:
            none = named(QLabel("No payment or refund in Paydesk"), "Muted")
            none.setWordWrap(True)
            grid.addWidget(none, 1, 2, len(names), 1, Qt.AlignmentFlag.AlignTop)

    def _fill_history(self, data: LineDetail) -> None:
        self.history.clear()
        self.history_title.setText(f"HISTORY ({len(data.history)})")
        for h in data.history:
            text = f"{h.at:%d %b %H:%M} · {h.actor} · {h.title}"
            self.history.addItem(QListWidgetItem(text + (f"\n    {h.text}" if h.text else "")))
        if not data.history:
            item = QListWidgetItem("Not resolved or reopened yet")
            item.setForeground(theme.colour("muted"))
            self.history.addItem(item)
        height = 8 + sum(self.history.sizeHintForRow(i) for i in range(self.history.count()))
        self.history.setFixedHeight(min(_HISTORY_MAX_HEIGHT, max(28, height)))

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.update_buttons()

    def update_buttons(self) -> None:
        """Enable what this person may do with the line now; a disabled button says why."""
        data = self.data
        reasons = []
        for action, button in self.buttons.items():
            why = "Loading…" if data is None else data.why_not.get(action)
            if self._busy:
                why = "Working…"
            button.setEnabled(why is None)
            button.setToolTip(why or "")
            if why and why not in reasons and action != "reopen":
                reasons.append(why)
        read_only = data is not None and not data.may_resolve
        self.why.setText(reasons[0] if read_only and reasons else "")
        self.why.setVisible(read_only)

    # -- what a person reads (tests) -------------------------------------------------------
    def value(self, name: str, side: int) -> str:
        """Field ``name`` of the settlement line (``side`` 1) or of Paydesk's record (2)."""
        cell = self.cells.get((name, side))
        return cell.text() if cell is not None else ""

    def history_lines(self) -> list[str]:
        return [self.history.item(i).text() for i in range(self.history.count())]
