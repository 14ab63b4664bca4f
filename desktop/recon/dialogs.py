"""The Reconciliation view's dialogs: resolving a line (link it to a payment or refund, accept
its difference with a reason code, mark it under investigation, reopen it; each with a note),
and the column-mapping step for a CSV whose header is not a known format, with a preview of
its first rows."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.errors import InputError
from core.recon import column_mapping
from core.recon.column_mapping import FIELD_NAMES, Preview
from core.recon.formats import REQUIRED_FIELDS, Format
from core.recon.service import MAX_NOTE, REASONS, LineView
from desktop.shell import theme
from desktop.shell.named import named

REASON_NAMES = {
    "fee": "Fee",
    "rounding": "Rounding",
    "fx": "FX (exchange rate)",
    "chargeback": "Chargeback",
    "other": "Other",
}


def _error_label() -> QLabel:
    label = named(QLabel(""), "DialogError")
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.status_colours('failed')[0].name()};")
    label.hide()
    return label


_TITLES = {
    "link": "Link line {id} to a payment or refund",
    "accept": "Accept the difference of line {id}",
    "investigate": "Mark line {id} under investigation",
    "reopen": "Reopen line {id}",
}
_TEXTS = {
    "link": "The line is matched against the payment or refund you name; its state and "
    "difference follow.",
    "accept": "The line keeps its state but is no longer open, and its difference no "
    "longer counts as unexplained.",
    "investigate": "The line stays open, with your note saying who is on it.",
    "reopen": "The resolution is taken back; a linked line is matched by its own ids again.",
}
_OK = {"link": "Link", "accept": "Accept", "investigate": "Investigate", "reopen": "Reopen"}


class ResolveDialog(QDialog):
    """Ask for what one action needs; ``submitted`` with the keyword arguments of
    ``service.resolve`` (or, for reopen, ``{"note": …}``). The view runs it and calls
    ``show_error`` or closes the dialog."""

    submitted = Signal(dict)

    def __init__(self, action: str, line: LineView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.action = action
        self.setWindowTitle(_TITLES[action].format(id=line.id))
        self.setMinimumWidth(440)
        lay = QVBoxLayout(self)
        what = QLabel(
            f"{line.kind.capitalize()} {line.line_id}, {line.money(line.amount)}, "
            f"{line.state.replace('_', ' ')}"
            + (f"; difference {line.money(line.difference)}" if line.difference else "")
            + ".\n"
            + _TEXTS[action]
        )
        what.setWordWrap(True)
        lay.addWidget(what)
        form = QFormLayout()
        self.link_id = QLineEdit(self)
        self.link_id.setPlaceholderText("pay_… or rfnd_…")
        self.reason = QComboBox(self)
        for code in REASONS:
            self.reason.addItem(REASON_NAMES.get(code, code), code)
        if action == "link":
            form.addRow("Payment or refund id", self.link_id)
        if action == "accept":
            form.addRow("Reason", self.reason)
        self.note = QPlainTextEdit(self)
        self.note.setPlaceholderText(
            "Who is on it and why (required)" if action == "investigate" else "Optional"
        )
        self.note.setFixedHeight(80)
        form.addRow("Note", self.note)
        lay.addLayout(form)
        self.error = _error_label()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.ok = named(QPushButton(_OK[action], self), "Primary")
        self.ok.setDefault(True)
        buttons.addButton(self.ok, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.link_id.textChanged.connect(self._check)
        self.note.textChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        note = self.note.toPlainText().strip()
        ok, why = True, ""
        if self.action == "link" and not self.link_id.text().strip():
            ok, why = False, "Name the payment or refund to link the line to."
        elif self.action == "investigate" and not note:
            ok, why = False, "Say in a note who is on it and why."
        elif len(note) > MAX_NOTE:
            ok, why = False, f"A note is at most {MAX_NOTE:,} characters."
        self.ok.setEnabled(ok)
        self.ok.setToolTip(why)

    def values(self) -> dict[str, Any]:
        note = self.note.toPlainText().strip() or None
        if self.action == "link":
            return {"link": self.link_id.text().strip(), "note": note}
        if self.action == "accept":
            return {"accept": self.reason.currentData(), "note": note}
        if self.action == "investigate":
            return {"investigate": True, "note": note}
        return {"note": note}

    def _submit(self) -> None:
        if not self.ok.isEnabled():
            return
        self.error.hide()
        self.ok.setEnabled(False)
        self.submitted.emit(self.values())

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
        self._check()


class MappingDialog(QDialog):
    """The column-mapping step: the file's first rows, and for each field the column that
    holds it (first guessed from the header's names), the amounts' unit, the times' format and
    which type values are payments and refunds. ``format`` is what the person chose once the
    dialog is accepted."""

    def __init__(self, preview: Preview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = preview
        self.format: Format | None = None
        self.setWindowTitle(f"Import {preview.file}: choose the columns")
        self.setMinimumSize(820, 700)
        lay = QVBoxLayout(self)
        intro = QLabel(
            f"{preview.file}'s header is not a settlement report format Paydesk knows. Say "
            "which column holds what; its first rows are below."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.table = named(QTableWidget(len(preview.rows), len(preview.header), self), "Preview")
        self.table.setHorizontalHeaderLabels(preview.header)
        self.table.verticalHeader().hide()
        for r, row in enumerate(preview.rows):
            for c, value in enumerate(row[: len(preview.header)]):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.setMinimumHeight(170)
        lay.addWidget(self.table, 1)

        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        self.columns: dict[str, QComboBox] = {}
        for i, (name, title) in enumerate(FIELD_NAMES.items()):
            combo = QComboBox(self)
            combo.addItem("—", "")
            for column in preview.header:
                if column:
                    combo.addItem(column, column)
            combo.setCurrentIndex(max(0, combo.findData(preview.guess.get(name, ""))))
            self.columns[name] = combo
            required = " *" if name in REQUIRED_FIELDS else ""
            grid.addWidget(QLabel(title + required), i // 2, (i % 2) * 2)
            grid.addWidget(combo, i // 2, (i % 2) * 2 + 1)
        lay.addLayout(grid)

        form = QFormLayout()
        self.unit = QComboBox(self)
        self.unit.addItem("Major units (123.45)", "major")
        self.unit.addItem("Minor units (12345 paise or cents)", "minor")
        self.unit.setCurrentIndex(self.unit.findData(self._guess_unit()))
        self.time = QComboBox(self)
        self.time.addItem("Date and time (2026-01-15 12:00:00)", "iso")
        self.time.addItem("Unix seconds", "unix")
        self.time.setCurrentIndex(self.time.findData(self._guess_time()))
        payments, refunds = column_mapping.guess_types(preview.type_values)
        self.payment_types = QLineEdit(", ".join(payments) or "payment", self)
        self.refund_types = QLineEdit(", ".join(refunds) or "refund", self)
        self.fee_includes_tax = QCheckBox("The fee column already includes the tax", self)
        self.name = QLineEdit("mapped", self)
        self.name.setToolTip("Lines are known by this name, the settlement and the line id")
        form.addRow("Amounts are in", self.unit)
        form.addRow("Times are", self.time)
        form.addRow("Payment types", self.payment_types)
        form.addRow("Refund types", self.refund_types)
        form.addRow("", self.fee_includes_tax)
        form.addRow("Format name", self.name)
        lay.addLayout(form)
        hint = named(QLabel("* required. Types not listed are adjustments."), "Muted")
        lay.addWidget(hint)
        self.error = _error_label()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.ok = named(QPushButton("Import", self), "Primary")
        self.ok.setDefault(True)
        buttons.addButton(self.ok, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _sample(self, name: str) -> list[str]:
        column = self.preview.guess.get(name)
        if not column:
            return []
        i = self.preview.header.index(column)
        return [r[i].strip() for r in self.preview.rows if i < len(r) and r[i].strip()]

    def _guess_unit(self) -> str:
        values = self._sample("amount")
        return "minor" if values and all(v.lstrip("-").isdigit() for v in values) else "major"

    def _guess_time(self) -> str:
        values = self._sample("time")
        return "unix" if values and all(v.isdigit() for v in values) else "iso"

    def choose(self, name: str, column: str) -> None:
        """Choose ``column`` for field ``name`` (as a person picking it would)."""
        combo = self.columns[name]
        combo.setCurrentIndex(combo.findData(column))

    def chosen_format(self) -> Format:
        def values(edit: QLineEdit) -> list[str]:
            return [v.strip() for v in edit.text().split(",") if v.strip()]

        return column_mapping.mapped_format(
            self.preview.header,
            {name: combo.currentData() for name, combo in self.columns.items()},
            name=self.name.text(),
            unit=self.unit.currentData(),
            time=self.time.currentData(),
            payment_types=values(self.payment_types),
            refund_types=values(self.refund_types),
            fee_includes_tax=self.fee_includes_tax.isChecked(),
        )

    def _submit(self) -> None:
        try:
            self.format = self.chosen_format()
        except InputError as exc:
            self.error.setText(errors.sentence(exc))
            self.error.show()
            return
        self.accept()
