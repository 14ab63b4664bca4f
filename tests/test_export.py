"""CSV export of payments: the filtered rows, streamed, and a file only when complete."""

from __future__ import annotations

import csv
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.cli import main
from core.demo import generator as demo
from core.errors import InputError, PaydeskError
from core.payments import export
from core.payments import queries as payments
from core.payments.queries import PaymentFilter
from core.store.db import Database, open_database
from core.store.models import Payment

HEADER = [
    "id",
    "created_at",
    "merchant_id",
    "merchant_name",
    "order_id",
    "customer",
    "method",
    "amount",
    "amount_minor",
    "currency",
    "status",
    "refunded_amount",
    "pending_refund_amount",
    "gateway",
]


@pytest.fixture
def seeded(db: Database, clock) -> Database:
    demo.seed(db, payments=1_500, seed=4, now=clock.now())
    return db


@pytest.fixture
def folder(tmp_path) -> Path:
    """An empty folder for the CSV files (the SQLite database lives in tmp_path)."""
    out = tmp_path / "exports"
    out.mkdir()
    return out


def cli(argv: list[str]) -> int:
    """``paydesk`` with ``argv``; argparse's own refusals exit instead of returning."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == HEADER
        return list(reader)


def expected(db: Database, f: PaymentFilter) -> list[payments.PaymentRow]:
    with db.read() as session:
        return payments.page(session, f, limit=1_000_000)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_export_writes_exactly_the_filtered_payments_newest_first(seeded, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 7)  # many pages, so paging is exercised
    f = PaymentFilter(status="success", method="card")
    out = tmp_path / "card.csv"
    assert export.export_payments(seeded, f, out) == len(expected(seeded, f))
    got = read_csv(out)
    want = expected(seeded, f)
    assert [r["id"] for r in got] == [r.id for r in want]
    assert {r["status"] for r in got} == {"success"} and {r["method"] for r in got} == {"card"}
    assert leftovers(tmp_path) == []


def test_rows_carry_exact_decimal_amounts_iso_times_and_merchant_names(seeded, tmp_path):
    out = tmp_path / "all.csv"
    export.export_payments(seeded, PaymentFilter(), out)
    got = {r["id"]: r for r in read_csv(out)}
    with seeded.read() as session:
        names = payments.merchant_names(session)
    rows = expected(seeded, PaymentFilter())
    assert len(got) == len(rows) == 1_500
    places = {"INR": 2, "USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}
    for row in rows:
        line = got[row.id]
        assert line["merchant_name"] == names[row.merchant_id]
        assert line["customer"] == row.customer
        assert int(line["amount_minor"]) == row.amount
        assert Decimal(line["amount"]).scaleb(places[row.currency]) == row.amount
        assert len(line["amount"].partition(".")[2]) == places[row.currency]
        assert Decimal(line["refunded_amount"]).scaleb(places[row.currency]) == (
            row.refunded_amount
        )
        assert Decimal(line["pending_refund_amount"]).scaleb(places[row.currency]) == (
            row.pending_refund_amount
        )
        assert line["created_at"] == payments.iso(row.created_at)
        assert line["created_at"].endswith("Z")


def test_search_narrows_to_one_order(seeded, tmp_path):
    some = expected(seeded, PaymentFilter())[123]
    out = tmp_path / "one.csv"
    assert export.export_payments(seeded, PaymentFilter(search=some.order_id), out) == 1
    assert [r["id"] for r in read_csv(out)] == [some.id]


def test_an_empty_result_still_writes_the_header(seeded, tmp_path):
    out = tmp_path / "none.csv"
    f = PaymentFilter(merchant_id="mer_doesnotexist000")
    assert export.export_payments(seeded, f, out) == 0
    assert read_csv(out) == []


def test_progress_counts_rows_written_after_each_page(seeded, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 400)
    seen: list[int] = []
    total = export.export_payments(
        seeded, PaymentFilter(), tmp_path / "p.csv", progress=seen.append
    )
    assert seen == [400, 800, 1200, 1500] and total == 1500


def test_cells_that_look_like_formulas_are_defused(db, clock, tmp_path):
    demo.seed(db, payments=20, now=clock.now())
    with db.write() as session:
        p = session.query(Payment).first()
        p.order_id = '=HYPERLINK("http://127.0.0.1/")'
        target = p.id
    out = tmp_path / "f.csv"
    export.export_payments(db, PaymentFilter(), out)
    line = next(r for r in read_csv(out) if r["id"] == target)
    assert line["order_id"] == '\'=HYPERLINK("http://127.0.0.1/")'


def test_cancel_leaves_no_file_and_keeps_an_earlier_one(seeded, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 100)
    out = tmp_path / "payments.csv"
    out.write_text("earlier export\n", encoding="utf-8")
    pages: list[int] = []
    with pytest.raises(export.ExportCancelled) as caught:
        export.export_payments(
            seeded,
            PaymentFilter(),
            out,
            progress=pages.append,
            cancelled=lambda: len(pages) >= 3,
        )
    assert str(caught.value) == "Export cancelled; no file was written."
    assert pages == [100, 200, 300]
    assert out.read_text(encoding="utf-8") == "earlier export\n"
    assert leftovers(tmp_path) == []


def test_cancel_before_the_first_page_writes_nothing(seeded, folder):
    out = folder / "never.csv"
    with pytest.raises(export.ExportCancelled):
        export.export_payments(seeded, PaymentFilter(), out, cancelled=lambda: True)
    assert list(folder.iterdir()) == []


def test_a_failure_midway_leaves_no_file(seeded, folder, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 100)
    real_page = payments.page
    calls = []

    def failing_page(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise PaydeskError("The database went away.")
        return real_page(*args, **kwargs)

    monkeypatch.setattr(payments, "page", failing_page)
    with pytest.raises(PaydeskError, match="went away"):
        export.export_payments(seeded, PaymentFilter(), folder / "x.csv")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda tmp: tmp / "missing" / "out.csv", "does not exist"),
        (lambda tmp: tmp, "is a folder"),
        (lambda tmp: tmp / "file.txt" / "out.csv", "is not a folder"),
    ],
)
def test_bad_paths_are_refused_before_anything_is_written(seeded, tmp_path, where, message):
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(InputError, match=message):
        export.export_payments(seeded, PaymentFilter(), where(tmp_path))
    assert sorted(tmp_path.rglob("*")) == before


def test_a_folder_that_cannot_be_written_is_refused(seeded, tmp_path):
    if os.geteuid() == 0:
        # Permission bits do not stop root; /proc refuses new files even to root.
        target = Path("/proc/paydesk-export.csv")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "out.csv"
    with pytest.raises(InputError, match="writ"):
        export.export_payments(seeded, PaymentFilter(), target)
    assert not target.exists()


def test_a_bad_filter_is_refused(seeded, folder):
    with pytest.raises(InputError, match="not a payment status"):
        export.export_payments(seeded, PaymentFilter(status="paid"), folder / "x.csv")
    assert list(folder.iterdir()) == []


def test_filters_by_merchant_and_time_keep_keyset_order(seeded, tmp_path, clock, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 13)
    merchant = expected(seeded, PaymentFilter())[0].merchant_id
    f = PaymentFilter(
        merchant_id=merchant, created_from=clock.now() - timedelta(days=30), sort="amount"
    )
    out = tmp_path / "m.csv"
    export.export_payments(seeded, f, out)
    got = read_csv(out)
    assert got and [r["id"] for r in got] == [r.id for r in expected(seeded, f)]
    # Sorted by amount means each currency's payments together, largest first within it.
    keys = [(r["currency"], int(r["amount_minor"])) for r in got]
    assert keys == sorted(keys, reverse=True)


# --- command line -------------------------------------------------------------------------


def test_cli_exports_the_filtered_payments(db_url, tmp_path, capsys, clock):
    database = open_database(db_url)
    try:
        from core.store.migrate import upgrade

        upgrade(database)
        demo.seed(database, payments=800, seed=9, now=clock.now())
        want = expected(database, PaymentFilter(status="failed"))
    finally:
        database.dispose()
    out = tmp_path / "failed.csv"
    code = main(
        ["--database", db_url, "export", "payments", "--out", str(out), "--status", "failed"]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == f"Wrote {len(want):,} payments to {out}."
    assert [r["id"] for r in read_csv(out)] == [r.id for r in want]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--out", "{tmp}/missing/x.csv"], "does not exist"),
        (["--out", "{tmp}"], "is a folder"),
        (["--out", "{tmp}/x.csv", "--method", "cheque"], "invalid choice"),
        (["--out", "{tmp}/x.csv", "--search", "   ", "--status", "nope"], "invalid choice"),
    ],
)
def test_cli_refuses_bad_arguments_with_one_sentence(db_url, folder, capsys, arguments, message):
    argv = [a.replace("{tmp}", str(folder)) for a in arguments]
    assert cli(["--database", db_url, "export", "payments", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paydesk: ") and message in err and err.count("\n") == 1
    assert list(folder.iterdir()) == []


def test_cli_needs_an_output_file(db_url, capsys):
    assert cli(["--database", db_url, "export", "payments"]) == 2
    assert "--out" in capsys.readouterr().err
