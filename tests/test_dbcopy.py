"""`paydesk db copy`: every table moves, in one transaction, counted and totalled."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)

from core.cli import main as cli_main
from core.cli.db_cmd import ProgressLine
from core.errors import InputError, PaydeskError, Refused, SchemaTooNew
from core.store import dbcopy
from core.store.db import open_database
from core.store.migrate import upgrade
from core.store.models import Base
from tests.conftest import POSTGRES_URL

ROWS = 300
CURRENCIES = ("INR", "USD", "JPY", "KWD")
# Realistic values where a column holds one of a few words.
CHOICES: dict[str, tuple[Any, ...]] = {
    "payments.status": ("success", "failed", "pending"),
    "payments.method": ("upi", "card", "netbanking", "wallet"),
    "refunds.status": ("pending_approval", "approved", "processed", "rejected", "failed"),
    "refunds.kind": ("full", "partial", "pro_rata"),
    "webhook_logs.status": ("pending", "success", "failed"),
    "webhook_attempts.trigger": ("scheduled", "manual", "test"),
    "clients.kind": ("app", "worker"),
    "staff.role": ("support", "finance", "admin"),
    "task_runs.outcome": ("ok", "failed"),
}
START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def _value(table: Table, col: Any, i: int, parents: dict[str, list[Any]]) -> Any:
    if col.foreign_keys:
        fk = next(iter(col.foreign_keys))
        keys = parents[fk.column.table.name]
        return keys[i % len(keys)]
    if f"{table.name}.{col.name}" in CHOICES:
        options = CHOICES[f"{table.name}.{col.name}"]
        return options[i % len(options)]
    if col.name == "currency":
        return CURRENCIES[i % len(CURRENCIES)]
    if col.name == "amount":
        return 1_000 + i * 37
    kind = col.type
    if isinstance(kind, Boolean):
        return i % 3 == 0
    if isinstance(kind, Float):
        return i / 4
    if isinstance(kind, Integer | BigInteger):
        return i + 1
    if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
        if col.nullable and i % 5 == 0:
            return None
        return START + timedelta(minutes=i * 7, microseconds=i)
    if col.nullable and i % 7 == 0:
        return None
    word = f"{table.name[:6]}-{col.name[:10]}-{i}"
    if isinstance(kind, String) and kind.length:
        return word[-kind.length :]
    return word + " — ünïcode, tab\tand newline\n"


def seed(url: str, rows: int = ROWS) -> None:
    """A few hundred rows in every table Paydesk copies, inserted with SQLAlchemy Core."""
    db = open_database(url)
    upgrade(db)
    parents: dict[str, list[Any]] = {}
    with db.engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in dbcopy.DERIVED_TABLES:
                continue
            data = [
                {c.name: _value(table, c, i, parents) for c in table.columns} for i in range(rows)
            ]
            conn.execute(insert(table), data)
            first_pk = next(iter(table.primary_key.columns)).name
            parents[table.name] = [row[first_pk] for row in data]
    db.dispose()


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every copied table, read through the models, in key order."""
    db = open_database(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in dbcopy.DERIVED_TABLES:
                continue
            query = select(table).order_by(*table.primary_key.columns)
            if table.name == "audit_events":  # the move records itself in the target
                query = query.where(table.c.action != "database.copied_in")
            out[table.name] = [tuple(r) for r in conn.execute(query)]
    db.dispose()
    return out


def counts(url: str) -> dict[str, int]:
    db = open_database(url)
    with db.engine.connect() as conn:
        result = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
        }
    db.dispose()
    return result


def execute(url: str, *statements: Any) -> None:
    db = open_database(url)
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)
    db.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'standalone.sqlite3'}"


@pytest.fixture
def pg_far_from_utc(pg_schema_url) -> str:
    """The test schema, with sessions in a time zone far from UTC (as a staff machine's
    server might be), so a datetime read or written in local time shows up."""
    return pg_schema_url + "%20-ctimezone%3DAsia/Kolkata"


@pytest.fixture(params=["sqlite_to_postgres", "postgres_to_sqlite"])
def direction(request, sqlite_url, pg_far_from_utc) -> tuple[str, str]:
    if request.param == "sqlite_to_postgres":
        return sqlite_url, pg_far_from_utc
    return pg_far_from_utc, sqlite_url


@pytest.fixture
def small_chunks(monkeypatch) -> None:
    # Several chunks per table, so "mid-copy" really is in the middle.
    monkeypatch.setattr(dbcopy, "CHUNK_ROWS", 40)


def test_every_row_and_value_arrives_in_both_directions(direction, small_chunks):
    source, target = direction
    seed(source)
    seen: list[tuple[str, int, int]] = []
    report = dbcopy.copy_database(source, target, progress=lambda *a: seen.append(a))

    assert contents(target) == contents(source)
    expected_tables = {t.name for t in Base.metadata.sorted_tables} - dbcopy.DERIVED_TABLES
    assert {t.name for t in report.tables} == expected_tables
    assert all(t.rows == ROWS for t in report.tables)
    assert ("payments", ROWS, ROWS) in seen and ("payments", 0, ROWS) in seen
    assert report.replaced_rows == 0


@pytest.fixture
def second_pg_schema_url() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_every_row_arrives_between_two_databases_of_the_same_kind(request, kind, tmp_path):
    if kind == "sqlite":
        source, target = (f"sqlite:///{tmp_path / n}" for n in ("a.sqlite3", "b.sqlite3"))
    else:
        source = request.getfixturevalue("pg_far_from_utc")
        target = request.getfixturevalue("second_pg_schema_url")
    seed(source)
    dbcopy.copy_database(source, target)
    assert contents(target) == contents(source)


def _index_names(url: str) -> dict[str, set[str]]:
    db = open_database(url)
    found = inspect(db.engine)
    names = {t: {i["name"] for i in found.get_indexes(t)} for t in ("payments", "refunds")}
    db.dispose()
    return names


def test_indexes_set_aside_for_a_big_table_come_back_as_they_were(direction, monkeypatch):
    source, target = direction
    seed(source)
    db = open_database(target)
    upgrade(db)
    db.dispose()
    migrated = _index_names(target)
    assert "ix_payments_created" in migrated["payments"]
    monkeypatch.setattr(dbcopy, "REBUILD_INDEXES_FROM", 100)
    dbcopy.copy_database(source, target)
    assert _index_names(target) == migrated
    assert contents(target) == contents(source)


def test_money_totals_are_reported_per_table_per_currency(direction):
    source, target = direction
    seed(source)
    report = dbcopy.copy_database(source, target)
    amounts = [1_000 + i * 37 for i in range(ROWS)]
    want = {
        c: sum(a for i, a in enumerate(amounts) if i % 4 == k) for k, c in enumerate(CURRENCIES)
    }
    assert report.table("payments").totals == want
    assert report.table("refunds").totals == want
    assert report.table("merchants").totals == {}


def test_rollups_are_rebuilt_by_the_target_not_copied_twice(direction):
    source, target = direction
    seed(source)
    dbcopy.copy_database(source, target)
    db = open_database(target)
    with db.engine.connect() as conn:
        rollup = dict(
            conn.execute(
                text("SELECT currency, SUM(count) FROM payment_rollup GROUP BY currency")
            ).all()
        )
    db.dispose()
    assert {c: int(n) for c, n in rollup.items()} == {c: ROWS // 4 for c in CURRENCIES}


def test_postgres_ids_continue_after_the_copied_ones(sqlite_url, pg_schema_url):
    seed(sqlite_url)
    dbcopy.copy_database(sqlite_url, pg_schema_url)
    audit = Base.metadata.tables["audit_events"]
    db = open_database(pg_schema_url)
    with db.engine.begin() as conn:
        new_id = conn.execute(
            insert(audit)
            .values(at=START, actor="ana", action="test", entity_type="x", entity_id=None)
            .returning(audit.c.id)
        ).scalar_one()
        top = conn.execute(select(func.max(audit.c.id))).scalar_one()
    db.dispose()
    assert new_id == top and new_id > ROWS + 1  # after the copied rows and the move's own event


def test_a_target_that_holds_data_is_refused_and_left_alone(direction):
    source, target = direction
    seed(source)
    dbcopy.copy_database(source, target)
    execute(source, delete(Base.metadata.tables["staff"]))
    before = contents(target)
    with pytest.raises(Refused) as err:
        dbcopy.copy_database(source, target)
    assert "already holds data" in str(err.value) and "--force" in str(err.value)
    assert str(err.value).count(". ") == 0  # one sentence
    assert contents(target) == before


def test_force_replaces_what_the_target_held(direction):
    source, target = direction
    seed(source)
    dbcopy.copy_database(source, target)
    payments = Base.metadata.tables["payments"]
    # Payments nothing counts against (a refunded amount never passes the amount).
    small = (payments.c.amount < 2_000) & (payments.c.refunded_amount == 0)
    execute(source, update(payments).where(small).values(amount=5))
    report = dbcopy.copy_database(source, target, force=True)
    assert report.replaced_rows >= ROWS * len(report.tables)
    assert contents(target) == contents(source)


def test_a_database_error_mid_copy_leaves_an_empty_target_empty(
    sqlite_url, pg_schema_url, small_chunks
):
    seed(sqlite_url)
    payments = Base.metadata.tables["payments"]
    # SQLite keeps a 6-letter currency; Postgres refuses it, halfway through payments.
    execute(sqlite_url, update(payments).where(payments.c.amount > 6_000).values(currency="RUPEES"))
    with pytest.raises(PaydeskError) as err:
        dbcopy.copy_database(sqlite_url, pg_schema_url)
    assert "while copying payments" in str(err.value) and "left as it was" in str(err.value)
    assert set(counts(pg_schema_url).values()) == {0}  # merchants, copied first, rolled back too


def test_an_error_mid_copy_keeps_the_old_data_of_a_forced_target(direction, small_chunks):
    source, target = direction
    seed(source)
    dbcopy.copy_database(source, target)
    before = contents(target)

    def explode(table: str, done: int, total: int) -> None:
        if table == "payments" and done >= 120:
            raise RuntimeError("disk unplugged")

    with pytest.raises(RuntimeError):
        dbcopy.copy_database(source, target, force=True, progress=explode)
    assert contents(target) == before


def test_cancelling_leaves_the_target_empty(direction, small_chunks):
    source, target = direction
    seed(source)
    polls = iter(range(1_000))
    with pytest.raises(dbcopy.CopyCancelled, match="cancelled"):
        dbcopy.copy_database(source, target, cancelled=lambda: next(polls) > 5)
    assert set(counts(target).values()) == {0}


def test_a_row_lost_on_the_way_is_an_error_naming_the_table(direction, monkeypatch):
    source, target = direction
    seed(source)
    real = dbcopy._chunks

    def losing(src, dst, table):
        for chunk in real(src, dst, table):
            yield chunk[1:] if table.name == "policy" else chunk

    monkeypatch.setattr(dbcopy, "_chunks", losing)
    with pytest.raises(PaydeskError) as err:
        dbcopy.copy_database(source, target)
    assert "The copy of policy has" in str(err.value) and "nothing was kept" in str(err.value)
    assert err.value.exit_code == 1
    assert set(counts(target).values()) == {0}


def test_money_changed_on_the_way_is_an_error_naming_the_table(direction, monkeypatch):
    source, target = direction
    seed(source)
    real = dbcopy._chunks

    def skimming(src, dst, table):
        at = [c.name for c in table.columns].index("amount") if "amount" in table.c else None
        for chunk in real(src, dst, table):
            if table.name == "refunds":
                chunk = [list(r) for r in chunk]
                chunk[0][at] = chunk[0][at] - 1
            yield chunk

    monkeypatch.setattr(dbcopy, "_chunks", skimming)
    with pytest.raises(PaydeskError, match="money totals of refunds differ"):
        dbcopy.copy_database(source, target)
    assert set(counts(target).values()) == {0}


def test_copying_a_database_onto_itself_is_refused(sqlite_url, pg_schema_url):
    seed(sqlite_url)
    with pytest.raises(InputError, match="same database"):
        dbcopy.copy_database(sqlite_url, sqlite_url.replace("sqlite:///", ""))
    with pytest.raises(InputError, match="same database"):
        dbcopy.copy_database(pg_schema_url, pg_schema_url)


def test_a_missing_source_file_is_refused_and_not_created(tmp_path, pg_schema_url):
    missing = tmp_path / "nope.sqlite3"
    with pytest.raises(InputError, match="does not exist"):
        dbcopy.copy_database(str(missing), pg_schema_url)
    assert not missing.exists()


def test_a_source_without_paydesk_data_is_refused(tmp_path, pg_schema_url):
    import sqlite3

    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE notes (x)").connection.commit()
    with pytest.raises(InputError, match="is another application's database"):
        dbcopy.copy_database(str(other), pg_schema_url)


def test_a_source_on_an_older_schema_is_refused_without_touching_it(sqlite_url, pg_schema_url):
    seed(sqlite_url)
    execute(sqlite_url, text("UPDATE alembic_version SET version_num = '0001'"))
    with pytest.raises(InputError, match="older than this Paydesk"):
        dbcopy.copy_database(sqlite_url, pg_schema_url)
    db = open_database(sqlite_url)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    db.dispose()


def test_a_target_with_a_newer_schema_is_refused(sqlite_url, pg_schema_url):
    seed(sqlite_url)
    db = open_database(pg_schema_url)
    upgrade(db)
    db.dispose()
    execute(pg_schema_url, text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaTooNew):
        dbcopy.copy_database(sqlite_url, pg_schema_url)


# --- the command line ----------------------------------------------------------------------------


def _with_password(pg_url: str, password: str) -> str:
    return pg_url.replace("postgres@", f"postgres:{password}@", 1)


def test_cli_copies_and_prints_counts_and_totals_with_the_password_masked(
    sqlite_url, pg_schema_url, capsys
):
    seed(sqlite_url)
    to = _with_password(pg_schema_url, "s3cret-pw")
    assert cli_main(["db", "copy", "--from", sqlite_url, "--to", to]) == 0
    out, err = capsys.readouterr()
    assert "s3cret-pw" not in out + err and "postgres:***@" in out
    assert "Row counts and money totals match the source." in out
    assert "payments" in out and "₹" in out and "¥" in out
    assert f"payments {ROWS:,}/{ROWS:,}" in err  # not a terminal: one line per table


def test_cli_refuses_a_non_empty_target_in_one_sentence_with_exit_2(
    sqlite_url, pg_schema_url, capsys
):
    seed(sqlite_url)
    to = _with_password(pg_schema_url, "s3cret-pw")
    assert cli_main(["db", "copy", "--from", sqlite_url, "--to", to]) == 0
    capsys.readouterr()
    assert cli_main(["db", "copy", "--from", sqlite_url, "--to", to]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paydesk: The target") and err.count("\n") == 1
    assert "s3cret-pw" not in err and "already holds data" in err


def test_cli_force_asks_for_yes_when_not_at_a_terminal(sqlite_url, pg_schema_url, capsys):
    seed(sqlite_url)
    dbcopy.copy_database(sqlite_url, pg_schema_url)
    before = contents(pg_schema_url)
    code = cli_main(["db", "copy", "--from", sqlite_url, "--to", pg_schema_url, "--force"])
    assert code == 2 and "add --yes" in capsys.readouterr().err
    assert contents(pg_schema_url) == before


def test_cli_force_asks_at_a_terminal_and_no_keeps_the_target(
    sqlite_url, pg_schema_url, monkeypatch, capsys
):
    seed(sqlite_url)
    dbcopy.copy_database(sqlite_url, pg_schema_url)
    execute(sqlite_url, delete(Base.metadata.tables["staff"]))
    monkeypatch.setattr("sys.stdin", _Terminal("no\n"))
    code = cli_main(["db", "copy", "--from", sqlite_url, "--to", pg_schema_url, "--force"])
    assert code == 2 and "Nothing was copied" in capsys.readouterr().err
    assert counts(pg_schema_url)["staff"] == ROWS
    monkeypatch.setattr("sys.stdin", _Terminal("yes\n"))
    code = cli_main(["db", "copy", "--from", sqlite_url, "--to", pg_schema_url, "--force"])
    assert code == 0
    assert counts(pg_schema_url)["staff"] == 0


def test_cli_force_yes_replaces_without_asking(sqlite_url, pg_schema_url, capsys):
    seed(sqlite_url)
    dbcopy.copy_database(sqlite_url, pg_schema_url)
    execute(sqlite_url, delete(Base.metadata.tables["staff"]))
    args = ["db", "copy", "--from", sqlite_url, "--to", pg_schema_url, "--force", "--yes"]
    assert cli_main(args) == 0
    assert "were replaced" in capsys.readouterr().out
    assert counts(pg_schema_url)["staff"] == 0


def test_cli_reports_a_failed_copy_with_exit_1_and_no_password(sqlite_url, pg_schema_url, capsys):
    seed(sqlite_url)
    payments = Base.metadata.tables["payments"]
    execute(sqlite_url, update(payments).values(currency="RUPEES"))
    to = _with_password(pg_schema_url, "s3cret-pw")
    assert cli_main(["db", "copy", "--from", sqlite_url, "--to", to]) == 1
    err = capsys.readouterr().err
    assert "s3cret-pw" not in err and "while copying payments" in err


def test_cli_help_says_the_copy_is_one_transaction(capsys):
    with pytest.raises(SystemExit):
        cli_main(["db", "copy", "--help"])
    assert "is one transaction" in " ".join(capsys.readouterr().out.split()).lower()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_at_a_terminal_is_one_updating_line():
    stream = _Terminal()
    show = ProgressLine(stream)
    show("payments", 0, 1_000_000)
    show("payments", 420_000, 1_000_000)
    show.finish()
    assert stream.getvalue().split("\r\x1b[K")[1:] == [
        "payments 0/1,000,000",
        "payments 420,000/1,000,000",
        "",
    ]
    assert "\n" not in stream.getvalue()
