"""One full repaint of the Payments table: Paydesk's row painter beside Qt's own item painting
(a QTableView with the default delegate and the status badge delegate) over the same model,
the same rows and the same size, under Paydesk's style sheet.

Uses the 1,000,000-payment SQLite file of bench/payments_view.py (seeded there); prints the
median and the fastest of ``--runs`` synchronous repaints of each viewport.

    /work/venv/bin/python bench/table_paint.py [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATABASE = "sqlite:////tmp/paydesk-bench/payments.sqlite3"
SIZE = (1280, 760)


def repaint_times(widget: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        widget.repaint()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--database", default=DATABASE)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication, QTableView

    from core.context import Context
    from core.store.db import open_database
    from desktop.lists.status_badge import StatusBadgeDelegate
    from desktop.payments.model import COLUMN, STATUS_ROLE
    from desktop.payments.view import PaymentsView
    from desktop.shell.app import make_application
    from desktop.shell.runner import TaskRunner
    from desktop.shell.views import AppServices

    app = make_application()
    db = open_database(args.database)
    services = AppServices(ctx=Context(db=db), runner=TaskRunner())
    view = PaymentsView(services)
    view.resize(*SIZE)
    view.show()
    while not view.is_loaded:
        app.processEvents()
    services.runner.wait()
    table = view.table

    plain = QTableView()
    plain.setModel(view.model)
    plain.setSelectionBehavior(table.selectionBehavior())
    plain.setAlternatingRowColors(table.alternatingRowColors())
    plain.setShowGrid(table.showGrid())
    plain.setWordWrap(table.wordWrap())
    plain.verticalHeader().setHidden(table.verticalHeader().isHidden())
    plain.verticalHeader().setDefaultSectionSize(table.verticalHeader().defaultSectionSize())
    for col in range(view.model.columnCount()):
        plain.setColumnWidth(col, table.columnWidth(col))
    plain.setItemDelegateForColumn(COLUMN["status"], StatusBadgeDelegate(STATUS_ROLE, plain))
    plain.resize(table.size())
    plain.show()
    for _ in range(20):
        app.processEvents()

    rows = len(range(table.rowAt(0), table.rowAt(table.viewport().height() - 1) + 1))
    print(f"one repaint of a {table.viewport().width()}×{table.viewport().height()} viewport")
    print(f"showing {rows} rows of 9 columns, median / fastest of {args.runs}:")
    for name, widget in (
        ("Paydesk row painter", table.viewport()),
        ("QTableView + delegates", plain.viewport()),
    ):
        repaint_times(widget, 5)  # warm the glyph and badge caches
        times = repaint_times(widget, args.runs)
        print(f"  {name:<24}{statistics.median(times):>7.2f} ms {min(times):>7.2f} ms")
    view.close()
    plain.close()
    QApplication.processEvents()
    services.runner.wait()
    db.dispose()


if __name__ == "__main__":
    main()
