"""The command line's last line of defence: any database or system error is one sentence on
stderr with exit 1 (the traceback only under ``--verbose``), and each case that used to print
a traceback is also handled where it starts."""

from __future__ import annotations

import errno
import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from core.cli import main
from core.demo import generator as demo
from core.errors import CLI_DETAILS, InputError, exit_code, sentence
from core.payments import queries as payments
from core.store.db import open_database
from core.store.migrate import upgrade
from tests.conftest import POSTGRES_URL

ENTRY = [sys.executable, "-c", "import sys; from desktop.entry import main; sys.exit(main())"]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's refusals
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_sentence(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("paydesk: ") and err.endswith(".\n"), err
    return err[len("paydesk: ") : -1]


def seeded_file(tmp_path: Path, payments_: int = 1_500) -> tuple[str, Path]:
    path = tmp_path / "paydesk.sqlite3"
    url = f"sqlite:///{path}"
    db = open_database(url)
    upgrade(db)
    demo.seed(db, payments=payments_, seed=3)
    db.dispose()
    return url, path


# -- the one function ----------------------------------------------------------------------------


def test_sentence_names_what_went_wrong_without_a_traceback():
    def wrapped(exc: Exception) -> OperationalError:
        return OperationalError("SELECT 1", {}, exc)

    assert (
        sentence(wrapped(sqlite3.OperationalError("database is locked")), database="/d.sqlite3")
        == "The database /d.sqlite3 is locked by another program; try again."
    )
    assert sentence(wrapped(sqlite3.DatabaseError("database disk image is malformed"))) == (
        "The database is damaged (database disk image is malformed); restore it from a backup "
        "(`paydesk health` checks it)."
    )
    full = OSError(errno.ENOSPC, "No space left on device", "/x/out.csv")
    assert (
        sentence(full) == "No space is left on the device for /x/out.csv; free some and try again."
    )
    assert sentence(PermissionError(13, "Permission denied", "/x")) == (
        "Paydesk could not use /x: Permission denied."
    )
    assert sentence(RuntimeError("boom\nmore")) == (
        "Paydesk failed unexpectedly (RuntimeError: boom); the log has the details."
    )
    assert sentence(RuntimeError("boom"), details=CLI_DETAILS) == (
        "Paydesk failed unexpectedly (RuntimeError: boom); "
        "run the command again with --verbose to see the details."
    )
    assert sentence(InputError("Bad.")) == "Bad."
    assert (exit_code(InputError("x")), exit_code(full), exit_code(RuntimeError())) == (2, 1, 1)


def test_an_unexpected_error_is_one_sentence_and_verbose_adds_the_traceback(
    db_url, db, monkeypatch, capsys
):
    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(payments, "page", broken)
    code, out, err = run(["--database", db_url, "payments", "list"], capsys)
    assert (code, out) == (1, "")
    assert one_sentence(err).startswith("Paydesk failed unexpectedly (RuntimeError: boom)")
    code, out, err = run(["--verbose", "--database", db_url, "payments", "list"], capsys)
    assert (
        code == 1
        and "Traceback (most recent call last)" in err
        and 'raise RuntimeError("boom")' in err
    )
    assert err.endswith("--verbose to see the details.\n")


def test_an_os_error_is_one_sentence(db_url, db, monkeypatch, capsys):
    def denied(*_a, **_k):
        raise PermissionError(13, "Permission denied", "/var/lib/paydesk")

    monkeypatch.setattr(payments, "page", denied)
    code, out, err = run(["--database", db_url, "payments", "list"], capsys)
    assert (code, out) == (1, "")
    assert one_sentence(err) == "Paydesk could not use /var/lib/paydesk: Permission denied."


# -- a locked SQLite database ----------------------------------------------------------------------


def test_a_locked_sqlite_database_waits_then_says_so(tmp_path, monkeypatch, capsys):
    url, path = seeded_file(tmp_path, 50)
    monkeypatch.setattr("core.store.db.SQLITE_BUSY_TIMEOUT_MS", 200)  # 10 s in real use
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program's write transaction
    try:
        code, out, err = run(
            ["--database", url, "policy", "set", "webhook_timeout_seconds", "9"], capsys
        )
    finally:
        holder.rollback()
        holder.close()
    assert (code, out) == (1, "")
    assert one_sentence(err) == f"The database {path} is locked by another program; try again."
    code, out, err = run(["--database", url, "policy", "show", "--json"], capsys)
    assert code == 0 and json.loads(out)["webhook_timeout_seconds"] != 9


# -- a damaged SQLite page -------------------------------------------------------------------------


def corrupt_a_payments_page(path: Path) -> int:
    """Overwrite the cells of a leaf page of the payments table in the middle of the file."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    try:
        pages = [
            r[0]
            for r in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'payments' AND pagetype = 'leaf' "
                "ORDER BY pageno"
            )
        ]
    except sqlite3.OperationalError:  # no dbstat in this SQLite: the table's root page
        pages = [
            conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'payments'").fetchone()[0]
        ]
    conn.close()
    page = pages[len(pages) // 2]
    with path.open("r+b") as fh:
        fh.seek((page - 1) * page_size + 8)
        fh.write(b"\xde\xad\xbe\xef" * (page_size // 8))
    return page


def test_a_damaged_page_is_one_sentence_and_health_reports_it(tmp_path, capsys):
    url, path = seeded_file(tmp_path)
    page = corrupt_a_payments_page(path)
    assert 0 < page < path.stat().st_size // 4096
    code, out, err = run(["--database", url, "payments", "list", "--limit", "5000"], capsys)
    assert (code, out) == (1, "")
    assert one_sentence(err) == (
        f"The database {path} is damaged (database disk image is malformed); "
        "restore it from a backup (`paydesk health` checks it)."
    )
    # The refunds list does not read that page, but health reads every page.
    code, out, err = run(["--database", url, "health"], capsys)
    assert code == 1 and err == ""
    assert "problem    The database file is damaged (PRAGMA quick_check: On tree page " in out
    code, out, err = run(["--database", url, "health", "--json"], capsys)
    report = json.loads(out)
    assert code == 1 and report["status"] == "unhealthy"
    assert report["problems"][0].startswith("The database file is damaged (PRAGMA quick_check:")


def test_health_of_an_intact_file_finds_nothing_damaged(tmp_path, capsys):
    url, _path = seeded_file(tmp_path, 50)
    _code, out, err = run(["--database", url, "health", "--json"], capsys)
    assert err == "" and not any("damaged" in p for p in json.loads(out)["problems"])


# -- --limit -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["payments"], ["refunds"], ["webhooks"]])
@pytest.mark.parametrize("limit", ["99999999999999999999", "100001", "9" * 5000, "1_0", "٣"])
def test_every_limit_is_a_bounded_whole_number(tmp_path, capsys, command, limit):
    url = f"sqlite:///{tmp_path / 'never.sqlite3'}"
    code, out, err = run(["--database", url, *command, "list", "--limit", limit], capsys)
    assert (code, out) == (2, "")
    text = one_sentence(err)
    assert text.startswith("Argument --limit: ")
    assert ("more than 100,000" in text) == limit.startswith(("9", "1000"))
    assert not (tmp_path / "never.sqlite3").exists()


def test_the_largest_limit_is_accepted(db_url, db, capsys):
    code, _out, err = run(["--database", db_url, "payments", "list", "--limit", "100000"], capsys)
    assert (code, err) == (0, "")


# -- Postgres cancelling a query -----------------------------------------------------------------------


def test_a_statement_timeout_is_one_sentence(pg_schema_url, capsys):
    db = open_database(pg_schema_url)
    upgrade(db)
    demo.seed(db, payments=50, seed=3)
    db.dispose()
    schema = pg_schema_url.rsplit("%3D", 1)[1]
    url = pg_schema_url + "%20-cstatement_timeout%3D200"
    # Another session holds the payments table, so the list's query waits past the timeout.
    with psycopg.connect(POSTGRES_URL) as holder:
        holder.execute(f'LOCK TABLE "{schema}".payments IN ACCESS EXCLUSIVE MODE')
        code, out, err = run(["--database", url, "payments", "list"], capsys)
        holder.rollback()
    assert (code, out) == (1, "")
    assert one_sentence(err) == "The database cancelled the query: statement timeout."


def test_the_statement_timeout_url_of_the_report_prints_no_traceback(pg_schema_url):
    url = f"{POSTGRES_URL}?options=-c statement_timeout=1"
    proc = subprocess.run(
        [*ENTRY, "--database", url, "payments", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    one_sentence(proc.stderr)


# -- a closed pipe ------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX shell and head")
def test_output_piped_into_head_ends_quietly(tmp_path):
    url, _path = seeded_file(tmp_path, 3_000)
    command = shlex.join([*ENTRY, "--database", url, "payments", "list", "--limit", "3000"])
    proc = subprocess.run(
        f"{command} | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stderr == ""
    assert proc.stdout.startswith("created") and proc.stdout.count("\n") == 1
    assert proc.returncode == 1  # Python's documented exit status after EPIPE


# -- inputs that printed a traceback, through the whole command line --------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--amount", "1e999999999"], "'1e999999999' is not an amount."),
        (["--amount=--"], "An amount is needed, like 12.50."),
    ],
)
def test_odd_amounts_are_one_sentence(tmp_path, capsys, argv, expected):
    url, _path = seeded_file(tmp_path, 50)
    code, out, _ = run(["--database", url, "payments", "list", "--json", "--limit", "1"], capsys)
    payment = json.loads(out)[0]["id"]
    code, out, err = run(
        ["--database", url, "refunds", "request", payment, *argv, "--reason", "duplicate"], capsys
    )
    assert (code, out) == (2, "")
    assert one_sentence(err) == expected


def test_an_sqlite_url_without_a_file_is_one_sentence(capsys):
    code, out, err = run(["--database", "sqlite://", "payments", "list"], capsys)
    assert (code, out) == (2, "")
    assert "names no database file" in one_sentence(err)
