"""Rollup tables behind the dashboard: payments and refunds per 15-minute UTC bucket.

Database triggers (migration 0003) keep ``payment_rollup`` and ``refund_rollup`` in the
same transaction as every change to ``payments`` and ``refunds``, whoever makes it. This
module recomputes them from the raw rows (``rebuild``), folds Postgres' delta rows
(``compact``) and counts them afresh for comparison (``recount`` / ``rolled_up``).

Why 15 minutes: local days and hours are summed from UTC buckets, so a bucket must never
straddle a local midnight. Every UTC offset in use today is a multiple of 15 minutes
(India +5:30, Nepal +5:45, Chatham +12:45), so 15-minute buckets give exact local days in
every zone, where hourly buckets would be wrong by half an hour in India.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from core.jobs.task import Task
from core.store.db import Database

BUCKET_SECONDS = 900
ROLLUP_TABLES = ("payment_rollup", "refund_rollup")
# The per-key column of each rollup table.
KEY_COLUMN = {"payment_rollup": "status", "refund_rollup": "measure"}
# How often a running copy folds Postgres' delta rows (see ``compact_task``).
COMPACT_INTERVAL = 3600.0

Counts = dict[tuple[int, str, str], tuple[int, int]]


def bucket_sql(dialect: str, column: str) -> str:
    """SQL for the epoch second at which ``column``'s 15-minute UTC bucket starts."""
    if dialect == "postgresql":
        return (
            f"(floor(extract(epoch FROM {column}))::bigint / {BUCKET_SECONDS} * {BUCKET_SECONDS})"
        )
    # Whole seconds of the stored "YYYY-MM-DD HH:MM:SS.ffffff" (as migration 0003's
    # triggers): SQLite's date functions round to milliseconds.
    return (
        f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) "
        f"/ {BUCKET_SECONDS} * {BUCKET_SECONDS})"
    )


def epoch_sql(dialect: str, column: str) -> str:
    """SQL for ``column`` as whole epoch seconds (UTC)."""
    if dialect == "postgresql":
        return f"floor(extract(epoch FROM {column}))::bigint"
    return f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"


def _recount_queries(dialect: str) -> dict[str, list[str]]:
    b = lambda col: bucket_sql(dialect, col)  # noqa: E731
    return {
        "payment_rollup": [
            f"SELECT {b('created_at')}, currency, status, count(*), sum(amount) FROM payments "
            "GROUP BY 1, 2, 3"
        ],
        "refund_rollup": [
            f"SELECT {b('created_at')}, currency, 'requested', count(*), sum(amount) "
            "FROM refunds GROUP BY 1, 2",
            f"SELECT {b('processed_at')}, currency, 'processed', count(*), sum(amount) "
            "FROM refunds WHERE status = 'processed' AND processed_at IS NOT NULL GROUP BY 1, 2",
        ],
    }


@dataclass(frozen=True)
class RebuildResult:
    """Rows written per rollup table and how long the rebuild took."""

    rows: dict[str, int]
    seconds: float

    def sentence(self) -> str:
        parts = ", ".join(f"{n:,} rows in {table}" for table, n in self.rows.items())
        return f"Rebuilt the dashboard rollups from the raw rows: {parts} ({self.seconds:.1f} s)."


# Trigger names of migration 0003, per table.
TRIGGERS: dict[str, dict[str, Sequence[str]]] = {
    "sqlite": {
        "payments": ("payment_rollup_insert", "payment_rollup_update", "payment_rollup_delete"),
        "refunds": (
            "refund_rollup_insert",
            "refund_rollup_update_requested",
            "refund_rollup_update_processed",
            "refund_rollup_delete",
        ),
    },
    "postgresql": {
        "payments": ("payment_rollup_insert", "payment_rollup_update", "payment_rollup_delete"),
        "refunds": ("refund_rollup_insert", "refund_rollup_update", "refund_rollup_delete"),
    },
}


def rebuild_statements(dialect: str) -> list[str]:
    """The SQL that empties the rollup tables and refills them from the raw rows."""
    out = []
    for table, queries in _recount_queries(dialect).items():
        key = KEY_COLUMN[table]
        out.append(f"DELETE FROM {table}")
        out += [
            f"INSERT INTO {table} (bucket, currency, {key}, count, amount) {q}" for q in queries
        ]
    return out


@contextmanager
def triggers_suspended(conn: Any, dialect: str) -> Iterator[None]:
    """For bulk loaders: inside the loader's own open transaction on the DBAPI connection
    ``conn`` (sqlite3 or psycopg), switch the rollup triggers off, and on leaving switch
    them on again and rebuild the rollups from the raw rows, in that same transaction.

    A million-row load saves most of the triggers' cost (a few seconds) for a rebuild of
    about a second. On an error nothing is restored here: the loader rolls back, and the
    rollback brings the triggers back (DDL is transactional on both databases). On
    Postgres the tables stay locked against other writers until the loader commits.
    """
    if dialect == "postgresql":
        for table, names in TRIGGERS[dialect].items():
            for name in names:
                conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        yield
        for table, names in TRIGGERS[dialect].items():
            for name in names:
                conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
    else:
        names = [n for ns in TRIGGERS[dialect].values() for n in ns]
        marks = ", ".join("?" * len(names))
        saved = conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
            names,
        ).fetchall()
        for name, _sql in saved:
            conn.execute(f'DROP TRIGGER "{name}"')
        yield
        for _name, sql in saved:
            conn.execute(sql)
    for sql in rebuild_statements(dialect):
        conn.execute(sql)


def rebuild_in(session: Session) -> dict[str, int]:
    """Recompute every rollup table from ``payments`` and ``refunds`` inside ``session``'s
    transaction (the caller commits). On Postgres the two tables are locked against writers
    first, so no change lands between the delete and the recount."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("LOCK TABLE payments, refunds IN SHARE MODE"))
    rows: dict[str, int] = {}
    for table, queries in _recount_queries(dialect).items():
        key = KEY_COLUMN[table]
        session.execute(text(f"DELETE FROM {table}"))
        written = 0
        for query in queries:
            result = cast(
                CursorResult[Any],
                session.execute(
                    text(f"INSERT INTO {table} (bucket, currency, {key}, count, amount) {query}")
                ),
            )
            written += max(result.rowcount or 0, 0)
        rows[table] = written
    return rows


def rebuild(db: Database) -> RebuildResult:
    """Recompute the rollups from the raw rows in one transaction.

    Safe at any time (also while other copies write); needed after data was loaded with the
    triggers bypassed, or to repair a rollup that someone edited by hand.
    """
    start = time.perf_counter()
    with db.write() as session:
        rows = rebuild_in(session)
    return RebuildResult(rows, time.perf_counter() - start)


def compact(db: Database) -> int:
    """Fold each key's rows into one and drop keys that add up to nothing; returns the
    number of rows removed. On Postgres the triggers append delta rows, so this keeps the
    tables small; on SQLite it only drops zero rows. Safe while others write: one statement
    deletes the rows it sums, and rows committed meanwhile are left for the next time."""
    removed = 0
    with db.write() as session:
        dialect = session.get_bind().dialect.name
        for table, key in KEY_COLUMN.items():
            if dialect == "postgresql":
                before: int = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                session.execute(
                    text(
                        f"WITH dup AS (SELECT bucket, currency, {key} FROM {table} "
                        f"GROUP BY bucket, currency, {key} "
                        "HAVING count(*) > 1 OR (sum(count) = 0 AND sum(amount) = 0)), "
                        f"gone AS (DELETE FROM {table} t USING dup WHERE t.bucket = dup.bucket "
                        f"AND t.currency = dup.currency AND t.{key} = dup.{key} "
                        f"RETURNING t.bucket, t.currency, t.{key}, t.count, t.amount) "
                        f"INSERT INTO {table} (bucket, currency, {key}, count, amount) "
                        f"SELECT bucket, currency, {key}, sum(count), sum(amount) FROM gone "
                        f"GROUP BY bucket, currency, {key} "
                        "HAVING sum(count) <> 0 OR sum(amount) <> 0"
                    )
                )
                after: int = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                removed += int(before) - int(after)
            else:
                result = cast(
                    CursorResult[Any],
                    session.execute(text(f"DELETE FROM {table} WHERE count = 0 AND amount = 0")),
                )
                removed += max(result.rowcount or 0, 0)
    return removed


def recount(session: Session) -> dict[str, Counts]:
    """What the rollups should hold, counted from the raw rows (keys with nothing left out)."""
    dialect = session.get_bind().dialect.name
    out: dict[str, Counts] = {}
    for table, queries in _recount_queries(dialect).items():
        counts: Counts = {}
        for query in queries:
            # Sums come back as int or Decimal depending on the database: int() makes them one.
            rows: Iterable[tuple[Any, str, str, Any, Any]] = session.execute(text(query))
            for bucket, currency, key, n, amount in rows:
                counts[(int(bucket), currency, key)] = (int(n), int(amount))
        out[table] = counts
    return out


def rolled_up(session: Session) -> dict[str, Counts]:
    """What the rollups hold, summed per key (keys that add up to nothing left out)."""
    out: dict[str, Counts] = {}
    for table, key in KEY_COLUMN.items():
        rows: Any = session.execute(
            text(
                f"SELECT bucket, currency, {key}, sum(count), sum(amount) FROM {table} "
                f"GROUP BY bucket, currency, {key}"
            )
        )
        out[table] = {
            (int(b), c, k): (int(n), int(a)) for b, c, k, n, a in rows if int(n) or int(a)
        }
    return out


def drift(session: Session) -> dict[str, int]:
    """Keys per table where the rollup and a full recount disagree (0 everywhere = exact)."""
    expected, actual = recount(session), rolled_up(session)
    return {
        table: sum(
            1
            for key in expected[table].keys() | actual[table].keys()
            if expected[table].get(key) != actual[table].get(key)
        )
        for table in KEY_COLUMN
    }


def _run_compact(ctx: Any) -> str | None:
    removed = compact(ctx.db)
    return f"{removed:,} rollup rows folded" if removed else None


def compact_task() -> Any:
    """A scheduler task that folds the rollups' delta rows every hour."""
    return Task(
        name="rollup_compaction",
        title="Fold dashboard rollups",
        interval=COMPACT_INTERVAL,
        run=_run_compact,
        initial_delay=60.0,
    )
