"""The one engine factory and the one session factory.

SQLite: WAL, foreign keys, a busy timeout and full sync. Postgres: psycopg 3 with pool
pre-ping. Errors that reach a person are one sentence with the password masked.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core import paths
from core.errors import DatabaseUnavailable, InputError
from core.store import dburl
from core.store.dburl import DatabaseTarget

SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_BUSY_TIMEOUT_MS = 10_000
VERSION_TABLE = "alembic_version"
# Every table Paydesk's migrations create (core.store.models' tables and Alembic's): the only tables
# Paydesk grants on, and what tells its database from another application's. A test keeps it
# equal to the models and to what the migrations leave in an empty schema.
PAYDESK_TABLES = frozenset(
    {
        VERSION_TABLE,
        "audit_events",
        "clients",
        "gateway_connections",
        "idempotency_keys",
        "merchants",
        "payment_rollup",
        "payments",
        "policy",
        "refund_rollup",
        "refunds",
        "settlement_batches",
        "settlement_lines",
        "staff",
        "subscriptions",
        "task_runs",
        "webhook_attempts",
        "webhook_logs",
    }
)


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # Python's sqlite3 opens transactions lazily; take control so BEGIN IMMEDIATE works.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA synchronous = FULL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock at BEGIN, so two writers queue on busy_timeout instead of one
    # failing with "database is locked" when it upgrades a read lock.
    write = conn.get_execution_options().get("paydesk_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def check_sqlite_path(path: Path) -> None:
    """Refuse, before touching anything, a path Paydesk cannot use as its database file."""
    folder = path.parent
    if not folder.exists():
        raise InputError(f"The folder {folder} does not exist.")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder.")
    if path.exists():
        if path.is_dir():
            raise InputError(f"{path} is a folder, not a database file.")
        if path.stat().st_size > 0:
            with path.open("rb") as fh:
                header = fh.read(len(SQLITE_HEADER))
            if header != SQLITE_HEADER:
                raise InputError(
                    f"{path} is not a Paydesk database (not an SQLite file); it was left untouched."
                )
            foreign = foreign_sqlite_tables(path)
            if foreign:
                raise InputError(
                    f"{path} is another application's database (it holds "
                    f"{name_list(foreign)} and no Paydesk schema); it was left untouched."
                )
        if not os.access(path, os.W_OK):
            raise InputError(f"The database file {path} is read-only.")
    if not os.access(folder, os.W_OK):
        raise InputError(f"The folder {folder} is not writable.")


def sqlite_tables(path: Path) -> list[str] | None:
    """The tables of the SQLite file ``path``, read without changing anything: no journal,
    no WAL switch, no ``-wal``/``-shm`` left behind. None when the file cannot be read (the
    usual opening explains why)."""
    uri = path.resolve().as_uri()
    # With no -wal beside it the file holds everything: read it as immutable, which opens no
    # other file (a read-only connection to a WAL-mode file would leave -wal and -shm). With
    # a -wal there, a copy has it open: read-only shares its view and its files.
    wal = path.with_name(path.name + "-wal")
    query = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{uri}?{query}", uri=True)
    except sqlite3.Error:
        return None
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return sorted(str(r[0]) for r in rows)


def foreign_tables(tables: list[str]) -> list[str]:
    """The tables that make a database another application's (empty when it is Paydesk's or
    empty): with an ``alembic_version`` and Paydesk's tables it is Paydesk's whatever else it
    holds; without, any table that is not Paydesk's makes it foreign."""
    names = set(tables)
    others = sorted(names - PAYDESK_TABLES)
    if VERSION_TABLE in names and (names & PAYDESK_TABLES != {VERSION_TABLE} or not others):
        return []
    return others


def foreign_sqlite_tables(path: Path) -> list[str]:
    """The foreign tables of the SQLite file ``path`` (see ``foreign_tables``)."""
    tables = sqlite_tables(path)
    return foreign_tables(tables) if tables else []


def name_list(names: list[str], most: int = 3) -> str:
    """``"app_secrets, users and 2 more"`` for a sentence."""
    shown = names[:most]
    rest = len(names) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    if len(shown) > 1:
        return f"{', '.join(shown[:-1])} and {shown[-1]}"
    return shown[0] if shown else ""


def make_engine(
    target: DatabaseTarget, *, pool_size: int = 5, echo: bool = False, use_keyring: bool = True
) -> Engine:
    """The engine for ``target``. Postgres passwords missing from the URL come from the keyring
    (unless ``use_keyring`` is False: loading the keyring costs a tenth of a second)."""
    if target.is_sqlite:
        path = target.sqlite_path
        if path is not None:
            check_sqlite_path(path)
            # Owner-only from the first byte; SQLite gives -wal/-shm the same permissions.
            paths.create_private_file(path)
        engine = create_engine(
            target.url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size + 3,
            max_overflow=10,
            pool_pre_ping=False,
            # The connection used last has its page cache and prepared statements warm.
            pool_use_lifo=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if use_keyring:
        target = dburl.with_password(target)
    return create_engine(
        target.url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=10,
        pool_use_lifo=True,
        connect_args={"connect_timeout": 5, "application_name": "paydesk"},
    )


def explain_connect_error(exc: BaseException, target: DatabaseTarget) -> str:
    """One sentence for a failed connection, with no password in it."""
    raw = dburl.scrub(str(getattr(exc, "orig", exc) or exc), target.url)
    low = raw.lower()
    where = target.describe().split("· ", 1)[-1]
    if target.is_sqlite:
        if "file is not a database" in low:
            return f"{target.sqlite_path} is not a Paydesk database (not an SQLite file)."
        if "unable to open" in low:
            return f"The database file {target.sqlite_path} cannot be opened."
        return f"The database file {target.sqlite_path} cannot be used: {first_line(raw)}."
    if "password authentication failed" in low or "no password supplied" in low:
        return f"The server at {where} refused the login {target.url.username!r}: wrong or missing password."
    if "no pg_hba.conf entry" in low and ("no encryption" in low or "ssl off" in low):
        return f"The server at {where} requires SSL; set the SSL mode to require."
    if "server does not support ssl" in low:
        return f"The server at {where} does not offer SSL; set the SSL mode to prefer or disable."
    if "no pg_hba.conf entry" in low:
        return f"The server at {where} does not accept the login {target.url.username!r} from this machine."
    if 'role "' in low and "does not exist" in low:
        return f"The login {target.url.username!r} does not exist on the server at {where}."
    if "does not exist" in low and "database" in low:
        return f"The database {target.url.database!r} does not exist on {target.url.host}."
    if (
        "could not translate host name" in low
        or "name or service not known" in low
        or "failed to resolve host" in low
    ):
        return f"The database host {target.url.host!r} was not found."
    if "connection refused" in low:
        return f"Nothing is accepting connections at {target.url.host}:{target.url.port or 5432}; is the database server running?"
    if "timeout" in low or "timed out" in low:
        return f"The database at {where} did not answer in time."
    if "ssl" in low:
        return f"The database at {where} needs a different SSL setting: {first_line(raw)}."
    return f"Cannot reach the database at {dburl.mask(target.url)}: {first_line(raw)}."


def first_line(text_: str) -> str:
    line = text_.strip().splitlines()[0] if text_.strip() else "unknown error"
    return line.rstrip(".")


@dataclass
class Database:
    """An open database: the engine, the one session factory, and what it is."""

    target: DatabaseTarget
    engine: Engine
    sessions: sessionmaker[Session] = field(init=False)
    write_sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Same pool; on SQLite its transactions start with BEGIN IMMEDIATE.
        self.write_engine = self.engine.execution_options(paydesk_write=True)
        self.write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def describe(self) -> str:
        return self.target.describe()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with self.sessions() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def driver(self) -> Iterator[Any]:
        """A pooled connection of the database driver itself (``sqlite3`` or psycopg), for
        the list reads that run on every filter change and scroll: statements written for the
        driver run on it with nothing in between, which matters most when the code is cold.
        Each statement sees its own snapshot (it runs in autocommit: on Postgres that spares
        a read the BEGIN before it and the ROLLBACK after, two round trips that took longer than
        a page read by key). Driver errors come out as SQLAlchemy's ``DBAPIError``, like every
        other read's."""
        dbapi = self.engine.dialect.dbapi
        assert dbapi is not None
        pooled = self.engine.raw_connection()
        conn: Any = pooled.driver_connection
        # SQLite connections are in autocommit from the start (see ``_sqlite_pragmas``).
        switch = self.engine.dialect.name == "postgresql" and not conn.autocommit
        try:
            if switch:
                conn.autocommit = True
            yield conn
        except dbapi.Error as exc:
            raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc
        finally:
            try:
                if switch and not conn.closed:
                    conn.autocommit = False  # as the pool's other users expect it
            except dbapi.Error:
                pooled.invalidate()  # broken meanwhile: the pool opens a new one
            pooled.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work commits as one transaction, or not at all."""
        with self.write_sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> float:
        """Round trip in seconds; raises DatabaseUnavailable."""
        import time

        start = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(explain_connect_error(exc, self.target)) from None
        return time.perf_counter() - start

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url_text: str, *, pool_size: int = 5, use_keyring: bool = True) -> Database:
    """Parse, check and connect (without migrating); every failure is one sentence."""
    target = dburl.parse(url_text)
    engine = make_engine(target, pool_size=pool_size, use_keyring=use_keyring)
    db = Database(target, engine)
    db.ping()
    return db
