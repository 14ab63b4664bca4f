"""Move every table from one database to another (``paydesk db copy`` and the app's "Move this
standalone database to shared Postgres…").

The target is migrated to this app's schema first, then filled in ONE transaction: a failure,
a cancel or a mismatch rolls everything back and leaves the target as it was (empty, or with
its old data when ``force`` was asked for). The source is read in one snapshot and streamed in
chunks: ``COPY … FROM STDIN`` into Postgres, ``executemany`` into SQLite. Before committing,
row counts per table and money totals per table per currency are compared with the source.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    Table,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, OperationalError

from core.clock import system_clock
from core.context import standalone_actor
from core.errors import DatabaseUnavailable, InputError, PaydeskError, Refused
from core.store import dburl
from core.store.db import Database, explain_connect_error, first_line, open_database
from core.store.dburl import DatabaseTarget
from core.store.migrate import check_not_newer, head_revision, upgrade
from core.store.models import AuditEvent, Base

log = logging.getLogger(__name__)

# Rows read from the source and handed to the target at a time: large enough that per-chunk
# overhead vanishes, small enough that memory stays flat for any table size.
CHUNK_ROWS = 10_000
# How long to wait for other copies of the app to let go of the target's tables.
LOCK_TIMEOUT = "10s"
# From this many rows on, a table's plain indexes are dropped before the rows arrive and rebuilt
# after (in the same transaction): one sorted build beats a million index insertions.
REBUILD_INDEXES_FROM = 50_000
VERSION_TABLE = "alembic_version"
# Tables the target's own triggers fill as payments and refunds arrive (migration 0003), in a
# layout of their own per database: copying them as well would count every row twice. They
# are emptied with the rest on --force and rebuilt by the triggers.
DERIVED_TABLES = frozenset({"payment_rollup", "refund_rollup"})
_AUDIT_EVENTS = cast(Table, AuditEvent.__table__)

Progress = Callable[[str, int, int], None]


class CopyCancelled(PaydeskError):
    """The person cancelled the copy; the target was rolled back."""


@dataclass(frozen=True)
class TableCopy:
    """One table's outcome: rows copied and, for tables holding money, totals per currency."""

    name: str
    rows: int
    totals: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CopyReport:
    """What a finished (and verified) copy moved."""

    source: str  # masked URLs
    target: str
    tables: tuple[TableCopy, ...]
    replaced_rows: int  # rows the target held before (only with force)
    seconds: float

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def table(self, name: str) -> TableCopy:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)


@dataclass(frozen=True)
class _Stats:
    rows: int
    totals: dict[str, int]


def copy_database(
    source_url: str,
    target_url: str,
    *,
    force: bool = False,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> CopyReport:
    """Copy every Paydesk table from ``source_url`` into ``target_url``.

    The target is migrated first. A target that already holds rows is refused unless
    ``force`` is given, in which case its rows are replaced. ``progress(table, done, total)``
    is called as rows move; ``cancelled()`` is polled between chunks. Everything written to
    the target is one transaction, so any failure leaves it as it was. Raises a
    PaydeskError subclass with one sentence (passwords masked) on any problem.
    """
    started = time.perf_counter()
    source_t = dburl.parse(source_url)
    target_t = dburl.parse(target_url)
    _refuse_same_database(source_t, target_t)
    _refuse_missing_source_file(source_t)

    source = open_database(source_url, pool_size=1)
    try:
        _require_source_at_head(source)
        target = open_database(target_url, pool_size=1)
        try:
            upgrade(target)
            tables = _tables_to_copy(target)
            report = _copy(source, target, tables, force, progress, cancelled)
        finally:
            target.dispose()
    finally:
        source.dispose()
    return CopyReport(
        source=source_t.masked(),
        target=target_t.masked(),
        tables=report[0],
        replaced_rows=report[1],
        seconds=time.perf_counter() - started,
    )


def target_holdings(target_url: str) -> dict[str, int]:
    """Rows per Paydesk table already in ``target_url`` (non-empty tables only), without
    migrating or writing anything; an empty or brand-new database gives ``{}``."""
    target = open_database(target_url, pool_size=1)
    try:
        existing = set(inspect(target.engine).get_table_names())
        with target.engine.connect() as conn:
            counts = {
                t.name: _count(conn, t)
                for t in Base.metadata.sorted_tables
                if t.name in existing and t.name not in DERIVED_TABLES
            }
    finally:
        target.dispose()
    return {name: n for name, n in counts.items() if n}


def describe_holdings(holdings: dict[str, int]) -> str:
    """``"1,000 payments, 3 staff"`` for a sentence."""
    return ", ".join(f"{n:,} {name}" for name, n in holdings.items())


# --- checks before anything is written -------------------------------------------------------


def _identity(target: DatabaseTarget) -> tuple[object, ...]:
    url = target.url
    if target.is_sqlite:
        path = target.sqlite_path
        return ("sqlite", str(path.resolve()) if path else ":memory:")
    return (
        "postgresql",
        (url.host or "localhost").lower(),
        url.port or 5432,
        url.database,
        tuple(sorted((k, str(v)) for k, v in url.query.items())),
    )


def _refuse_same_database(source: DatabaseTarget, target: DatabaseTarget) -> None:
    if _identity(source) == _identity(target):
        raise InputError(f"The source and the target are the same database ({source.masked()}).")


def _refuse_missing_source_file(source: DatabaseTarget) -> None:
    path = source.sqlite_path
    if source.is_sqlite and path is None:
        raise InputError("An in-memory SQLite database cannot be copied from.")
    if path is not None and (not path.is_file() or path.stat().st_size == 0):
        raise InputError(f"The source file {path} does not exist or is empty.")


def _require_source_at_head(source: Database) -> None:
    # Reading only: the source is never migrated by a copy, so a backup stays as it was.
    with source.engine.connect() as conn:
        current = check_not_newer(conn)
    head = head_revision()
    if current is None:
        raise InputError(f"{source.target.masked()} holds no Paydesk data to copy.")
    if current != head:
        raise InputError(
            f"{source.target.masked()} is at schema {current}, older than this Paydesk ({head}); "
            "run `paydesk db upgrade` on it first."
        )


def _tables_to_copy(target: Database) -> list[Table]:
    """Every table of the migrated target in dependency order, typed like the models.

    Reflecting the target (rather than using the models alone) picks up tables and columns
    that migrations add; where the models know a column its type is used, so datetimes keep
    their UTC handling on both databases.
    """
    reflected = MetaData()
    reflected.reflect(bind=target.engine)
    tables: list[Table] = []
    for table in reflected.sorted_tables:
        if table.name == VERSION_TABLE:
            continue
        model = Base.metadata.tables.get(table.name)
        if model is not None:
            for col in table.columns:
                if col.name in model.c:
                    col.type = model.c[col.name].type
        tables.append(table)
    return tables


def _money_columns(table: Table) -> tuple[Column[Any], Column[Any]] | None:
    if "amount" in table.c and "currency" in table.c:
        return table.c.amount, table.c.currency
    return None


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _stats(conn: Connection, table: Table) -> _Stats:
    totals: dict[str, int] = {}
    money = _money_columns(table)
    if money is not None:
        amount, currency = money
        # Sums come back as int or Decimal depending on the database: int() makes them one.
        rows: Sequence[tuple[str, Any]] = conn.execute(
            select(currency, func.coalesce(func.sum(amount), 0)).group_by(currency)
        ).all()
        totals = {str(cur): int(total) for cur, total in rows}
    return _Stats(_count(conn, table), totals)


# --- the copy itself ---------------------------------------------------------------------------


@contextmanager
def _source_snapshot(source: Database) -> Iterator[Connection]:
    """One read-only snapshot of the source, so counts and rows agree even if it is in use."""
    with source.engine.connect() as conn:
        if source.is_postgres:
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with conn.begin():
            if source.is_postgres:
                conn.execute(text("SET LOCAL TimeZone = 'UTC'"))
            yield conn


def _copy(
    source: Database,
    target: Database,
    tables: list[Table],
    force: bool,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> tuple[tuple[TableCopy, ...], int]:
    copied = [t for t in tables if t.name not in DERIVED_TABLES]
    with _source_snapshot(source) as src:
        missing = {t.name for t in copied} - set(inspect(src).get_table_names())
        if missing:
            raise InputError(
                f"{source.target.masked()} has no table {sorted(missing)[0]}; it is not a "
                "Paydesk database this version can copy."
            )
        expected = {t.name: _stats(src, t) for t in copied}
        engine = target.write_engine if not target.is_postgres else target.engine
        with engine.connect() as dst:
            current_table = ""
            try:
                with dst.begin():
                    replaced = _prepare_target(target, dst, tables, force)
                    for table in copied:
                        current_table = table.name
                        rows = expected[table.name].rows
                        rebuild = rows >= REBUILD_INDEXES_FROM
                        indexes = _drop_plain_indexes(dst, table) if rebuild else []
                        _copy_table(src, dst, table, rows, progress, cancelled)
                        for statement in indexes:
                            dst.exec_driver_sql(statement)
                    current_table = ""
                    if target.is_postgres:
                        _reset_sequences(dst, tables)
                    _verify(dst, copied, expected)
                    _record_move(target, dst, source, expected)
            except PaydeskError:
                raise
            except (DBAPIError, psycopg.Error, sqlite3.Error) as exc:
                # COPY and executemany run on the driver's connection, so its own errors
                # arrive here unwrapped.
                raise _explain_copy_error(exc, target, current_table) from None
        if target.is_postgres:
            # Fresh planner statistics, so the first searches on the new database are fast.
            with target.engine.connect() as conn:
                for table in tables:
                    conn.execute(text(f"ANALYZE {_quoted_table(conn.dialect, table)}"))
                conn.commit()
    return (
        tuple(TableCopy(t.name, expected[t.name].rows, expected[t.name].totals) for t in copied),
        replaced,
    )


def _prepare_target(target: Database, dst: Connection, tables: list[Table], force: bool) -> int:
    """Lock the target's tables, refuse or empty them. Returns how many rows were removed."""
    if target.is_postgres:
        names = ", ".join(_quoted_table(dst.dialect, t) for t in tables)
        dst.execute(text("SET LOCAL TimeZone = 'UTC'"))
        # Other copies of the app may read during the move but not write.
        dst.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        dst.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
        dst.execute(text("SET LOCAL lock_timeout = 0"))
    holdings = {t.name: n for t in tables if t.name not in DERIVED_TABLES and (n := _count(dst, t))}
    if not holdings:
        return 0  # derived tables may hold rows, but they sum to nothing without base rows
    if not force:
        raise Refused(
            f"The target {target.target.masked()} already holds data "
            f"({describe_holdings(holdings)}); nothing was copied (use --force to replace it)."
        )
    if target.is_postgres:
        dst.execute(text(f"TRUNCATE {names}"))
    else:
        for table in reversed(tables):
            dst.execute(table.delete())
    return sum(holdings.values())


def _quoted_table(dialect: Dialect, table: Table) -> str:
    return dialect.identifier_preparer.format_table(table)


def _bind_converter(
    table: Table, dialect: Dialect
) -> Callable[[Sequence[Sequence[Any]]], Sequence[Sequence[Any]]]:
    """Turn rows as the source gave them (Python values) into what the target's driver takes,
    using each column type's own bind processing (UTC datetimes, booleans on SQLite)."""
    procs = [
        (i, p)
        for i, col in enumerate(table.columns)
        if (p := col.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    if not procs:
        return lambda rows: rows

    def convert(rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        out = []
        for row in rows:
            values = list(row)
            for i, proc in procs:
                if values[i] is not None:
                    values[i] = proc(values[i])
            out.append(values)
        return out

    return convert


def _copy_table(
    src: Connection,
    dst: Connection,
    table: Table,
    total: int,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> None:
    if progress:
        progress(table.name, 0, total)
    if total == 0:
        return
    prep = dst.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c.name) for c in table.columns)
    into = _quoted_table(dst.dialect, table)
    done = 0
    raw = dst.connection.driver_connection
    assert raw is not None
    if dst.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {into} ({cols}) FROM STDIN") as copy:
            for chunk in _chunks(src, dst, table):
                _check_cancel(cancelled)
                for row in chunk:
                    copy.write_row(row)
                done += len(chunk)
                if progress:
                    progress(table.name, done, total)
        return
    marks = ", ".join("?" for _ in table.columns)
    cur = raw.cursor()
    try:
        for chunk in _chunks(src, dst, table):
            _check_cancel(cancelled)
            cur.executemany(f"INSERT INTO {into} ({cols}) VALUES ({marks})", chunk)
            done += len(chunk)
            if progress:
                progress(table.name, done, total)
    finally:
        cur.close()


def _chunks(src: Connection, dst: Connection, table: Table) -> Iterator[Sequence[Sequence[Any]]]:
    """The source's rows, CHUNK_ROWS at a time, as values the target's driver accepts."""
    if src.dialect.name == "sqlite" and dst.dialect.name == "postgresql":
        # SQLite hands out plain text, numbers and NULLs, which COPY's text format parses by
        # the target column's type: UTC datetime text (the session is in UTC), 0/1 booleans.
        # Skipping Python-side type conversion makes this path several times faster.
        prep = src.dialect.identifier_preparer
        cols = ", ".join(prep.quote(c.name) for c in table.columns)
        raw = src.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            cur.execute(f"SELECT {cols} FROM {_quoted_table(src.dialect, table)}")
            while chunk := cur.fetchmany(CHUNK_ROWS):
                yield chunk
        finally:
            cur.close()
        return
    convert = _bind_converter(table, dst.dialect)
    result = src.execution_options(yield_per=CHUNK_ROWS).execute(select(*table.columns))
    try:
        for chunk in result.partitions():
            yield convert(chunk)
    finally:
        result.close()


def _drop_plain_indexes(dst: Connection, table: Table) -> list[str]:
    """Drop the table's indexes that back no constraint; return the statements that rebuild
    them exactly as they were (the database writes them, so nothing is lost in translation)."""
    if dst.dialect.name == "postgresql":
        query = (
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary AND NOT i.indisunique "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        )
        rows: Sequence[tuple[str, str]] = dst.execute(
            text(query), {"t": _quoted_table(dst.dialect, table)}
        ).all()
        if rows:
            dst.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    else:
        # Constraint indexes have no SQL of their own in sqlite_master.
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
            "AND sql IS NOT NULL AND upper(sql) NOT LIKE 'CREATE UNIQUE%'"
        )
        found: Sequence[tuple[str, str]] = dst.execute(text(query), {"t": table.name}).all()
        rows = [(dst.dialect.identifier_preparer.quote(name), sql) for name, sql in found]
    for name, _ in rows:
        dst.exec_driver_sql(f"DROP INDEX {name}")
    return [definition for _, definition in rows]


def _check_cancel(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise CopyCancelled("The copy was cancelled; the target was left as it was.")


def _reset_sequences(dst: Connection, tables: list[Table]) -> None:
    """Rows arrived with their ids, so each serial sequence must continue after the largest
    (audit_events, webhook_attempts); otherwise the next insert would collide."""
    for table in tables:
        for col in table.primary_key.columns:
            seq = dst.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": _quoted_table(dst.dialect, table), "c": col.name},
            ).scalar()
            if seq is None:
                continue
            top = dst.execute(select(func.max(col))).scalar()
            dst.execute(
                text("SELECT setval(CAST(:s AS regclass), :v, :called)"),
                {"s": seq, "v": top if top is not None else 1, "called": top is not None},
            )


def _verify(dst: Connection, tables: list[Table], expected: dict[str, _Stats]) -> None:
    for table in tables:
        want = expected[table.name]
        got = _stats(dst, table)
        if got.rows != want.rows:
            raise PaydeskError(
                f"The copy of {table.name} has {got.rows:,} rows but the source has "
                f"{want.rows:,}; nothing was kept in the target."
            )
        if got.totals != want.totals:
            raise PaydeskError(
                f"The money totals of {table.name} differ between the copy and the source; "
                "nothing was kept in the target."
            )


def _record_move(
    target: Database, dst: Connection, source: Database, expected: dict[str, _Stats]
) -> None:
    """One audit event in the target, written after the comparison so counts stay exact."""
    actor = (
        str(dst.execute(text("SELECT session_user")).scalar())
        if target.is_postgres
        else standalone_actor()
    )
    dst.execute(
        _AUDIT_EVENTS.insert().values(
            at=system_clock.now(),
            actor=actor,
            action="database.copied_in",
            entity_type="database",
            entity_id=None,
            details=json.dumps(
                {
                    "from": source.target.masked(),
                    "rows": {name: s.rows for name, s in expected.items()},
                },
                sort_keys=True,
            ),
        )
    )


def _explain_copy_error(exc: BaseException, target: Database, table: str) -> PaydeskError:
    raw = str(getattr(exc, "orig", exc) or exc)
    low = raw.lower()
    if "lock timeout" in low:
        return DatabaseUnavailable(
            f"Other Paydesk copies are using {target.target.masked()}; close them and try again."
        )
    if isinstance(exc, (OperationalError, psycopg.OperationalError)) and not table:
        return DatabaseUnavailable(explain_connect_error(exc, target.target))
    where = f" while copying {table}" if table else ""
    return PaydeskError(
        f"The copy failed{where} ({first_line(raw)}); the target was left as it was."
    )
