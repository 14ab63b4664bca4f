"""The Payments view over 1,000,000 payments, beside Qt's own QSqlQueryModel in a QTableView,
on SQLite and on Postgres.

Each database is seeded once with ``paydesk --database URL demo --payments 1000000`` and kept
(a database that already has payments is reused). Each database is measured in a process of its
own; in it, the Paydesk view and the QSqlQueryModel view run over the same database, taking turns
``--rounds`` times (so a drift in the machine's speed weighs on both alike), and the script prints
for both, as medians of the ``--runs`` runs of every round:

- open: from building the view to its first rows painted (and, beside it, how much of that is
  the constructor's own time: Paydesk's filter bar and table, QSqlQueryModel's table and query),
- search by exact payment id and by exact order id: from Enter in the search box, the text
  already typed (QSqlQueryModel: from ``setQuery``),
- status filter change,
- next page on scroll (scroll to the bottom until the new rows are painted),
- process RSS after each side's first round (the Paydesk side runs first),

each from a view at rest, on both sides alike: before a figure is taken, the pages the previous
action reads ahead (Paydesk reads them after its paint) are in, as they are by the time a person
acts again, a view closed before is deleted, and the garbage collector has run (not with
``--no-collect``: then each figure starts with the caches as the last one left them).

with the ratio Paydesk / QSqlQueryModel and the budgets (DESIGN.md §7): first rows ≤ 40 ms,
search ≤ 10 ms, status filter ≤ 40 ms, next page ≤ 10 ms, RSS ≤ 200 MB, and on SQLite no slower
than QSqlQueryModel on any time figure.

    python bench/payments_view.py [--only sqlite|postgres] [--runs 3] [--rounds 3] [--no-collect]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PAYMENTS = 1_000_000
SQLITE_FILE = Path("/tmp/paydesk-bench/payments.sqlite3")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "paydesk_bench_payments"
PAYDESK = Path(sys.executable).with_name("paydesk")
SIZE = (1280, 760)
QSQL_COLUMNS = (
    "id, created_at, merchant_id, order_id, customer_email, customer_vpa, method, amount, "
    "currency, status, refunded_amount"
)
BUDGET_MS = {"open": 40.0, "search id": 10.0, "search order": 10.0, "status": 40.0, "next": 10.0}
BUDGET_RSS_MB = 200.0
# Whether the garbage collector runs before each figure (on both sides; ``--no-collect``
# measures both with whatever the last figure left in the caches instead).
COLLECT = True


def database_url(kind: str) -> str:
    if kind == "sqlite":
        SQLITE_FILE.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{SQLITE_FILE}"
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,))
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    return f"{PG_SERVER}/{PG_DATABASE}"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ensure_seeded(url: str) -> int:
    from sqlalchemy import text

    from core.store.db import open_database
    from core.store.migrate import upgrade

    db = open_database(url)
    upgrade(db)
    with db.read() as s:
        count = s.execute(text("SELECT count(*) FROM payments")).scalar_one()
    db.dispose()
    if count:
        print(f"  reusing {count:,} payments")
        return int(count)
    start = time.perf_counter()
    subprocess.run(
        [str(PAYDESK), "--database", url, "demo", "--payments", str(PAYMENTS)], check=True
    )
    print(f"  seeded {PAYMENTS:,} payments in {time.perf_counter() - start:.1f} s")
    return PAYMENTS


# -- waiting for paint -------------------------------------------------------------------------


class Painted:
    """Watches viewports: after ``arm(cond)``, ``wait()`` runs the event loop until a viewport
    has painted while ``cond()`` held, and returns the time right after that paint.

    The wait is a real ``QEventLoop.exec()``, so the UI thread sleeps in Qt between events as
    it does in the app (a Python polling loop would hold the GIL against the pool threads)."""

    def __init__(self, app: Any) -> None:
        from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

        self.app = app
        self.loop = QEventLoop()
        self.flag = False
        self.cond: Callable[[], bool] = lambda: True
        outer = self

        class Filter(QObject):
            def eventFilter(self, _obj: Any, event: Any) -> bool:
                # Only a paint of the rows asked for counts (not one of the previous state).
                if event.type() == QEvent.Type.Paint and not outer.flag and outer.cond():
                    outer.flag = True
                    # Runs once this paint (and the rest of the window's) has finished.
                    QTimer.singleShot(0, outer.loop.quit)
                return False

        self.filter = Filter()
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.loop.quit)

    def watch(self, viewport: Any) -> None:
        viewport.installEventFilter(self.filter)

    def arm(self, cond: Callable[[], bool]) -> None:
        self.flag = False
        self.cond = cond

    def wait(self, timeout: float = 30.0) -> float:
        self.timer.start(int(timeout * 1000))
        if not self.flag:
            self.loop.exec()
        self.timer.stop()
        done = time.perf_counter()
        if not self.flag:
            raise TimeoutError("the view did not paint in time")
        return done


def settle(app: Any) -> None:
    from PySide6.QtCore import QEvent

    for _ in range(5):
        app.processEvents()
    # A view closed with deleteLater() is deleted now, not inside the next figure's wait
    # (processEvents() leaves deferred deletes of its own loop level for later).
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if COLLECT:
        gc.collect()


# -- Paydesk -----------------------------------------------------------------------------------


def measure_paydesk(app: Any, url: str, picks: dict[str, list[str]], runs: int) -> dict:
    from PySide6.QtCore import QEventLoop, Qt
    from PySide6.QtTest import QTest

    from core.context import Context
    from core.store.db import open_database
    from desktop.payments.view import PaymentsView
    from desktop.shell.runner import TaskRunner
    from desktop.shell.views import AppServices

    db = open_database(url)
    services = AppServices(ctx=Context(db=db), runner=TaskRunner())
    painted = Painted(app)
    out: dict[str, list[float]] = {k: [] for k in BUDGET_MS}

    built: list[float] = []

    def open_view() -> tuple[PaymentsView, float]:
        holder: dict[str, PaymentsView] = {}
        painted.arm(lambda: "v" in holder and holder["v"].model.rowCount() > 0)
        start = time.perf_counter()
        view = holder["v"] = PaymentsView(services)
        built.append((time.perf_counter() - start) * 1000)
        painted.watch(view.table.viewport())
        view.resize(*SIZE)
        view.show()
        done = painted.wait()
        return view, (done - start) * 1000

    loads = {"n": 0}

    def quiet() -> None:
        # Each figure starts from a view at rest, as a person's next action does: the pages
        # the last action reads ahead (after its paint) are in, not still being read. The
        # read-ahead starts on a timer after the paint, so events are handled until none is
        # left to start one. (Not ``runner.wait()``: once done, Qt ends the pool's idle
        # threads, which the app keeps.)
        settle(app)
        while services.runner.in_flight:
            while services.runner.in_flight:
                app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
            settle(app)

    def run_query(
        view: PaymentsView, change: Callable[[], None], before: Callable[[], None] | None = None
    ) -> float:
        if before is not None:
            before()  # untimed: what the person did before the timed action
        quiet()
        seen = loads["n"]
        painted.arm(lambda: loads["n"] > seen)
        start = time.perf_counter()
        change()
        done = painted.wait()
        return (done - start) * 1000

    for i in range(runs + 1):  # the first run warms imports, the pool and statement caches
        view, ms = open_view()
        if i:
            out["open"].append(ms)
        view.close()
        view.deleteLater()
        quiet()

    view, _ = open_view()
    view.loaded.connect(lambda _n: loads.__setitem__("n", loads["n"] + 1))
    for i in range(runs):
        for key, values in (("search id", picks["ids"]), ("search order", picks["orders"])):

            def typed(text: str = values[i % len(values)]) -> None:
                # The text is typed and on screen; the pause that would run the search by
                # itself has not passed yet, so Enter starts it.
                view.search.blockSignals(True)
                view.search.setText(text)
                view.search.blockSignals(False)

            def enter() -> None:
                QTest.keyClick(view.search, Qt.Key.Key_Return)

            out[key].append(run_query(view, enter, typed))
        view.search.blockSignals(True)
        view.search.clear()
        view.search.blockSignals(False)
        combo = view.status_combo
        for status in ("failed", "pending"):
            out["status"].append(
                run_query(view, lambda s=status, c=combo: c.setCurrentIndex(c.findData(s)))
            )
        run_query(view, lambda: view.status_combo.setCurrentIndex(0))

    for _ in range(runs):
        quiet()
        before = view.model.rowCount()
        painted.arm(lambda b=before: view.model.rowCount() > b)
        start = time.perf_counter()
        view.table.scrollToBottom()
        done = painted.wait()
        out["next"].append((done - start) * 1000)
    rss = rss_mb()
    view.close()
    view.deleteLater()
    settle(app)
    services.runner.wait()
    db.dispose()
    return {"times": out, "rss": rss, "built": built[1:-1]}


# -- QSqlQueryModel --------------------------------------------------------------------------------


def open_qsql(kind: str) -> Any:
    from PySide6.QtSql import QSqlDatabase

    if QSqlDatabase.contains("bench"):  # opened in an earlier round
        return QSqlDatabase.database("bench")
    if kind == "sqlite":
        db = QSqlDatabase.addDatabase("QSQLITE", "bench")
        db.setDatabaseName(str(SQLITE_FILE))
    else:
        db = QSqlDatabase.addDatabase("QPSQL", "bench")
        db.setHostName("127.0.0.1")
        db.setPort(5432)
        db.setUserName("postgres")
        db.setDatabaseName(PG_DATABASE)
    if not db.open():
        raise SystemExit(f"QSqlDatabase did not open: {db.lastError().text()}")
    return db


def measure_qsql(app: Any, kind: str, picks: dict[str, list[str]], runs: int) -> dict:
    from PySide6.QtSql import QSqlQueryModel
    from PySide6.QtWidgets import QTableView

    db = open_qsql(kind)
    painted = Painted(app)
    out: dict[str, list[float]] = {k: [] for k in BUDGET_MS}
    order = "ORDER BY created_at DESC, id DESC"

    def sql(where: str = "") -> str:
        return f"SELECT {QSQL_COLUMNS} FROM payments {where} {order}"

    built: list[float] = []

    def open_view() -> tuple[QTableView, QSqlQueryModel, float]:
        painted.arm(lambda: True)
        start = time.perf_counter()
        model = QSqlQueryModel()
        model.setQuery(sql(), db)
        view = QTableView()
        view.setModel(model)
        built.append((time.perf_counter() - start) * 1000)
        painted.watch(view.viewport())
        view.resize(*SIZE)
        view.show()
        done = painted.wait()
        assert model.rowCount() > 0, model.lastError().text()
        return view, model, (done - start) * 1000

    def run_query(model: QSqlQueryModel, text: str) -> float:
        settle(app)  # at rest, as the Paydesk side is before each figure
        painted.arm(lambda: True)  # setQuery is synchronous: the next paint shows its rows
        start = time.perf_counter()
        model.setQuery(text, db)
        done = painted.wait()
        return (done - start) * 1000

    for i in range(runs + 1):
        view, model, ms = open_view()
        if i:
            out["open"].append(ms)
        view.close()
        view.deleteLater()
        del model
        settle(app)

    view, model, _ = open_view()
    for i in range(runs):
        out["search id"].append(run_query(model, sql(f"WHERE id = '{picks['ids'][i % 5]}'")))
        out["search order"].append(
            run_query(model, sql(f"WHERE order_id = '{picks['orders'][i % 5]}'"))
        )
        for status in ("failed", "pending"):
            out["status"].append(run_query(model, sql(f"WHERE status = '{status}'")))
    run_query(model, sql())
    shown = 0
    for _ in range(runs):
        settle(app)
        before = model.rowCount()
        if model.canFetchMore():
            painted.arm(lambda b=before: model.rowCount() > b)
            start = time.perf_counter()
            view.scrollToBottom()
        else:
            # QPSQL knows the size of the result, so every row was read with the query:
            # the next page is only a scroll to rows already in memory.
            shown = min(before - 1, shown + 256)
            painted.arm(lambda: True)
            start = time.perf_counter()
            view.scrollTo(model.index(shown, 0))
        done = painted.wait()
        out["next"].append((done - start) * 1000)
    rss = rss_mb()
    view.close()
    return {"times": out, "rss": rss, "built": built[1:-1]}


# -- one database ------------------------------------------------------------------------------


def picks_for(url: str) -> dict[str, list[str]]:
    """Five payments spread over the id space (chosen untimed)."""
    from sqlalchemy import select

    from core.store.db import open_database
    from core.store.models import Payment

    db = open_database(url)
    ids, orders = [], []
    with db.read() as s:
        for start in ("pay_A", "pay_M", "pay_f", "pay_s", "pay_9"):
            row = s.execute(
                select(Payment.id, Payment.order_id)
                .where(Payment.id > start)
                .order_by(Payment.id)
                .limit(1)
            ).one()
            ids.append(row.id)
            orders.append(row.order_id)
    db.dispose()
    return {"ids": ids, "orders": orders}


def take_turns(app: Any, kind: str, url: str, picks: dict, runs: int, rounds: int) -> tuple:
    """Both sides, ``rounds`` times in turn; the times of every round together, and the RSS
    after each side's first round (later rounds would count what the other side left)."""
    paydesk = measure_paydesk(app, url, picks, runs)
    qsql = measure_qsql(app, kind, picks, runs)
    for _ in range(rounds - 1):
        for total, more in (
            (paydesk, measure_paydesk(app, url, picks, runs)),
            (qsql, measure_qsql(app, kind, picks, runs)),
        ):
            for key, values in more["times"].items():
                total["times"][key].extend(values)
            total["built"].extend(more["built"])
    return paydesk, qsql


def run_one(kind: str, runs: int, rounds: int) -> None:
    url = database_url(kind)
    print(f"\n== {kind}")
    ensure_seeded(url)
    picks = picks_for(url)
    from desktop.shell.app import make_application

    app = make_application()
    base = rss_mb()
    paydesk, qsql = take_turns(app, kind, url, picks, runs, rounds)
    print(f"  process RSS before either view: {base:.0f} MB")
    print(f"  {'figure':<16}{'Paydesk':>10}{'QSqlQueryModel':>16}{'ratio':>8}   budget")
    failures = []
    for key, budget in BUDGET_MS.items():
        p = statistics.median(paydesk["times"][key])
        q = statistics.median(qsql["times"][key])
        ok = p <= budget and (kind != "sqlite" or p <= q)
        if not ok:
            failures.append(key)
        mark = "ok" if ok else "OVER"
        print(f"  {key:<16}{p:>8.1f}ms{q:>14.1f}ms{p / q:>8.2f}   ≤ {budget:.0f} ms {mark}")
        if key == "open":
            p_built = statistics.median(paydesk["built"])
            q_built = statistics.median(qsql["built"])
            print(
                f"  {'  constructor':<16}{p_built:>8.1f}ms{q_built:>14.1f}ms"
                "           (Paydesk: filter bar and table; QSqlQueryModel: table and query)"
            )
    p_rss, q_rss = paydesk["rss"], qsql["rss"]
    mark = "ok" if p_rss <= BUDGET_RSS_MB else "OVER"
    print(
        f"  {'RSS after':<16}{p_rss:>8.0f}MB{q_rss:>14.0f}MB{p_rss / q_rss:>8.2f}"
        f"   ≤ {BUDGET_RSS_MB:.0f} MB {mark}"
    )
    print(
        "  (RSS is the whole process after each side's first round; QSqlQueryModel runs second,"
        " so its figure includes what Paydesk's side left)"
    )
    if failures:
        print(f"  over budget: {', '.join(failures)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--runs", type=int, default=3, help="runs per side in each round")
    parser.add_argument("--rounds", type=int, default=3, help="times the two sides take turns")
    parser.add_argument(
        "--no-collect",
        action="store_true",
        help="do not run the garbage collector before each figure (on either side)",
    )
    parser.add_argument("--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        global COLLECT
        COLLECT = not args.no_collect
        run_one(args.child, args.runs, args.rounds)
        return
    for kind in ("sqlite", "postgres"):
        if args.only and kind != args.only:
            continue
        # A process per database, so one's memory and caches do not count for the other.
        subprocess.run(
            [sys.executable, __file__, "--child", kind, "--runs", str(args.runs), "--rounds",
             str(args.rounds), *(["--no-collect"] if args.no_collect else [])],
            check=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
