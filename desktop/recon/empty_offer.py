"""What the Reconciliation view shows before any settlement report was imported: a sentence,
"Import settlement report…" and, in one click, the demo's sample reports (finance and admin;
everyone else reads who imports them)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from desktop.lists import list_page
from desktop.shell.named import named


class EmptyOffer:
    """The page (``page``, for the view's stack) and its two buttons."""

    def __init__(self, parent: QWidget) -> None:
        page, lay, self.title, self.text = list_page.state_page(
            parent, "trend", "No settlement reports yet", ""
        )
        self.page = page
        self.import_button = QPushButton("Import settlement report…", page)
        self.samples_button = named(QPushButton("Import the sample reports", page), "Primary")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.import_button)
        row.addWidget(self.samples_button)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addStretch(3)

    def offer(self, may_import: bool, samples: tuple[str, ...]) -> None:
        """Say what there is to import: the demo's reports waiting in the data folder, or
        reports written from the demo payments in the database."""
        self.import_button.setVisible(may_import)
        self.samples_button.setVisible(may_import)
        if not may_import:
            self.text.setText(
                "Finance or admin staff import the processor's settlement reports; the lines "
                "and their exceptions appear here."
            )
            return
        if samples:
            found = f"{len(samples)} sample settlement report{'s' if len(samples) != 1 else ''}"
            self.text.setText(
                "Import the processor's settlement report (CSV) to match every line against "
                f"Paydesk's payments and refunds.\nThe demo wrote {found} for its payments; "
                "import them to try reconciliation in one click."
            )
        else:
            self.text.setText(
                "Import the processor's settlement report (CSV) to match every line against "
                "Paydesk's payments and refunds.\nTo try it, import sample reports made from "
                "the demo payments in this database."
            )
