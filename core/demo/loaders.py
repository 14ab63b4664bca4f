"""Bulk writers for demo rows: ``executemany`` on SQLite, ``COPY`` on Postgres, with the
loaded tables' secondary indexes (and on Postgres their keys) set aside and rebuilt once."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from queue import Queue
from typing import Any

from sqlalchemy.orm import Session

from core.demo.pools import BULK_TABLES, Rows
from core.errors import Refused
from core.overview import rollups
from core.store.db import Database


class Loader(ABC):
    """One transaction for the whole load, on the driver connection under a SQLAlchemy
    connection (which begins and ends it): refuse a database with payments, set aside the
    bulk tables' secondary indexes, load, rebuild them, commit."""

    placeholder = "?"

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sa = db.write_engine.connect()
        driver = self.sa.connection.driver_connection
        assert driver is not None  # an open connection has its driver's
        self.conn: Any = driver
        self.cur: Any = self.conn.cursor()
        dbapi = db.engine.dialect.dbapi
        assert dbapi is not None
        self.errors: type[Exception] = dbapi.Error
        self._rebuild: list[str] = []  # statements that put set-aside indexes back
        self.tx: Any = None

    def begin(self) -> None:
        self.tx = self.sa.begin()

    def finish(self) -> None:
        self.tx.commit()

    def rollback(self) -> None:
        if self.tx is not None and self.tx.is_active:
            self.tx.rollback()

    def close(self) -> None:
        self.cur.close()
        self.sa.close()

    def scalar(self, sql: str) -> Any:
        self.cur.execute(sql)
        return self.cur.fetchone()[0]

    def column(self, sql: str) -> list[Any]:
        """The first column of a query's rows."""
        self.cur.execute(sql)
        return [row[0] for row in self.cur.fetchall()]

    def has_payments(self) -> int:
        return int(self.scalar("SELECT count(*) FROM payments"))

    def execute_many(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        rows = list(rows)
        if rows:
            self.cur.executemany(sql, rows)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        marks = ", ".join([self.placeholder] * len(columns))
        self.execute_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def load(self, batches: Iterable[Rows]) -> None:
        """Write each batch, table by table in foreign-key order."""
        for rows in batches:
            for table, columns in BULK_TABLES.items():
                self.insert(table, columns, rows[table])

    @abstractmethod
    def secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        """Supplied by each subclass."""

    def set_aside_indexes(self) -> None:
        # Building an index once from sorted rows is far cheaper than a million random
        # inserts into it.
        for table in BULK_TABLES:
            for name, sql in self.secondary_indexes(table):
                self.cur.execute(f'DROP INDEX "{name}"')
                self._rebuild.append(sql)

    def restore(self) -> None:
        for sql in self._rebuild:
            self.cur.execute(sql)
        self._rebuild.clear()


# For this connection and this load only; the previous values come back before it returns
# to the pool. The load is still one transaction: a crash mid-load leaves the database as it
# was (WAL), it only may lose the load itself.
SQLITE_LOAD_PRAGMAS = {
    "synchronous": "OFF",
    "cache_size": "-262144",  # 256 MiB
    "temp_store": "MEMORY",
    "threads": "2",  # sorter helper threads for the index builds
    # The generator keeps every reference by construction (tests run foreign_key_check);
    # checking each of two million rows costs about a tenth of the load.
    "foreign_keys": "OFF",
}


class SqliteLoader(Loader):
    def begin(self) -> None:
        # In WAL mode every page of a load is written twice: into the WAL, then by the
        # checkpoint into the database (a fifth of a million-payment load). A rollback journal
        # writes pages past the old end of the file once, unjournalled, and still undoes a
        # load that stops half way. SQLite only leaves WAL for a connection that is alone on
        # the file; with anyone else there (the app's own readers) the load stays in WAL.
        self._left_wal = self._leave_wal()
        self._saved = {p: self.scalar(f"PRAGMA {p}") for p in SQLITE_LOAD_PRAGMAS}
        for pragma, value in SQLITE_LOAD_PRAGMAS.items():
            self.cur.execute(f"PRAGMA {pragma} = {value}")
        super().begin()  # BEGIN IMMEDIATE (core.store.db): the write lock for the whole load

    def _leave_wal(self) -> bool:
        # Asked without waiting: a reader in the middle of a query makes SQLite refuse
        # (busy) rather than answer "wal", and the load should not wait for it either.
        timeout = self.scalar("PRAGMA busy_timeout")
        self.cur.execute("PRAGMA busy_timeout = 0")
        try:
            return self.scalar("PRAGMA journal_mode = DELETE") == "delete"
        except self.errors:
            return False
        finally:
            self.cur.execute(f"PRAGMA busy_timeout = {int(timeout)}")

    def finish(self) -> None:
        super().finish()
        self._restore_pragmas()

    def rollback(self) -> None:
        super().rollback()
        self._restore_pragmas()

    def _restore_pragmas(self) -> None:
        for pragma, value in getattr(self, "_saved", {}).items():
            self.cur.execute(f"PRAGMA {pragma} = {int(value)}")
        self._saved = {}
        if getattr(self, "_left_wal", False):
            self._left_wal = False
            self.cur.execute("PRAGMA journal_mode = WAL")

    def secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        self.cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        )
        return [(name, sql) for name, sql in self.cur.fetchall()]

    def set_aside_indexes(self) -> None:
        super().set_aside_indexes()
        # The dashboard rollup triggers (migration 0003) run a statement pair per inserted
        # row; the rollups are recounted from the loaded rows instead (see ``restore``).
        self.cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('payments', 'refunds')"
        )
        self._triggers = self.cur.fetchall()
        for name, _sql in self._triggers:
            self.cur.execute(f'DROP TRIGGER "{name}"')

    def restore(self) -> None:
        super().restore()
        for _name, sql in self._triggers:
            self.cur.execute(sql)
        if self._triggers:
            with Session(bind=self.sa) as session:
                rollups.rebuild_in(session)


# Indexes the integrity triggers look rows up by during a load (see PostgresLoader).
TRIGGER_INDEXES = ("ix_refunds_payment",)


class PostgresLoader(Loader):
    placeholder = "%s"

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._constraints: list[str] = []

    def begin(self) -> None:
        super().begin()
        # Demo rows carry UTC times without an offset.
        self.cur.execute("SET LOCAL TIME ZONE 'UTC'")
        self.cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        self.cur.execute("SET LOCAL synchronous_commit = off")
        # Demo rows carry other people's names (requested_by, decided_by), which the refunds
        # guard (migration 0004) allows only to the owner of the tables, who alone can also
        # set their indexes aside.
        self.cur.execute(
            "SELECT session_user, pg_has_role(session_user, c.relowner, 'MEMBER') "
            "OR pg_has_role(session_user, n.nspowner, 'MEMBER') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'payments'::regclass"
        )
        login, owner = self.cur.fetchone()
        if not owner:
            raise Refused(
                f"Only the login that owns the Paydesk tables can load demo data; {login} does not."
            )
        # Two seeds at once would each see an empty table; the second waits here instead.
        self.cur.execute("LOCK TABLE payments IN SHARE ROW EXCLUSIVE MODE")

    def secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        # Indexes that back a constraint (primary key, unique) stay, and so do the ones the
        # refund-total trigger (migration 0005) reads for every batch of refunds: without
        # them it sums each touched payment's refunds by scanning the whole table.
        self.cur.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = %s AND t.relnamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) "
            "AND i.relname <> ALL (%s)",
            (table, list(TRIGGER_INDEXES)),
        )
        return [(name, sql) for name, sql in self.cur.fetchall()]

    def set_aside_indexes(self) -> None:
        # Constraints too: a foreign key is checked by a trigger per row (a lookup and a row
        # lock each) and a key index takes a million random inserts, where adding them back
        # afterwards is one sort or one join. A key that a table outside the load refers to
        # stays, and so does the payments' key: the refund-total trigger (migration 0005)
        # looks every batch's payments up by it, and without it joins each batch to the whole
        # table row by row.
        self.cur.execute(
            "WITH bulk AS (SELECT t.oid FROM pg_class t WHERE t.relname = ANY (%s) "
            "AND t.relnamespace = current_schema()::regnamespace), "
            "held AS (SELECT c.confrelid FROM pg_constraint c WHERE c.contype = 'f' "
            "AND c.confrelid IN (SELECT oid FROM bulk) AND c.conrelid NOT IN (SELECT oid FROM bulk)) "
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype "
            "FROM pg_constraint c WHERE c.conrelid IN (SELECT oid FROM bulk) "
            "AND (c.contype = 'f' OR (c.contype IN ('p', 'u') "
            "AND c.conrelid NOT IN (SELECT confrelid FROM held) "
            "AND NOT (c.contype = 'p' AND c.conrelid = 'payments'::regclass))) "
            "ORDER BY c.contype = 'f' DESC",  # foreign keys go first, come back last
            (list(BULK_TABLES),),
        )
        for table, name, definition, _kind in self.cur.fetchall():
            self.cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            self._constraints.insert(0, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        super().set_aside_indexes()

    def restore(self) -> None:
        for sql in self._constraints:
            if " FOREIGN KEY " not in sql:
                self.cur.execute(sql)
        super().restore()
        for sql in self._constraints:
            if " FOREIGN KEY " in sql:
                self.cur.execute(sql)
        self._constraints.clear()

    def load(self, batches: Iterable[Rows]) -> None:
        """COPY each batch from a writer thread while this thread generates the next one:
        the server takes in a batch while Python builds the next (the writer holds the GIL
        only to format rows and waits for the server with it released)."""
        queue: Queue[Rows | None] = Queue(maxsize=2)
        failure: list[BaseException] = []
        stop = threading.Event()

        def write() -> None:
            try:
                while (rows := queue.get()) is not None:
                    if stop.is_set():
                        continue  # drain so the producer never blocks on a dead writer
                    for table, columns in BULK_TABLES.items():
                        self.insert(table, columns, rows[table])
            except BaseException as exc:
                failure.append(exc)
                stop.set()
                while queue.get() is not None:
                    pass

        writer = threading.Thread(target=write, name="paydesk-demo-copy", daemon=True)
        writer.start()
        try:
            for rows in batches:
                if stop.is_set():
                    break
                queue.put(rows)
        except BaseException:
            stop.set()
            raise
        finally:
            queue.put(None)
            writer.join()
        if failure:
            raise failure[0]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        # COPY (text format) is the fast path into Postgres; statement-level triggers still
        # see the rows (transition tables), so the dashboard rollups stay exact.
        if rows:
            with self.cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
