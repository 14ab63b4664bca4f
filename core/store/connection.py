"""The Connection dialog's services: try a database before using it, and remember it.

``test_connection`` opens nothing for good and writes nothing: it connects once, measures a
round trip, reads the server version and which Paydesk schema (if any) the database holds.
``save_connection`` puts the password in the OS keyring (or this process's memory when the
machine has no keyring) and the URL, without its password, in the settings file.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from core import settings
from core.errors import DatabaseUnavailable, SchemaTooNew
from core.store import dburl, passwords
from core.store.db import check_sqlite_path, explain_connect_error
from core.store.dburl import DatabaseTarget
from core.store.migrate import check_empty_schema, check_not_newer, head_revision

SchemaState = Literal["empty", "current", "older"]
PasswordStore = Literal["keyring", "memory", "none"]

CONNECT_TIMEOUT_S = 5
PINGS = 3

_STATE_TEXT = {
    "empty": "no Paydesk data yet (it will be set up)",
    "current": "schema is current",
    "older": "schema is older (it will be upgraded)",
}


@dataclass(frozen=True)
class ConnectionReport:
    """What a successful test found."""

    url: str  # masked
    server_version: str  # "PostgreSQL 15.4" / "SQLite 3.45.1"
    round_trip_ms: float
    schema_state: SchemaState
    schema_revision: str | None

    def summary(self) -> str:
        """One line for the dialog: ``PostgreSQL 15.4 · 0.4 ms round trip · schema is current``."""
        return (
            f"{self.server_version} · {self.round_trip_ms:.1f} ms round trip · "
            f"{_STATE_TEXT[self.schema_state]}"
        )


@dataclass(frozen=True)
class SavedConnection:
    """What ``save_connection`` stored: the URL as written to settings (no password) and where
    the password went (``none`` when there was no password to keep)."""

    url: str
    password_in: PasswordStore


def test_connection(url_text: str, *, password: str | None = None) -> ConnectionReport:
    """Connect to ``url_text`` once and report; ``password`` overrides any in the URL or keyring.

    Raises DatabaseUnavailable (host not found, refused, wrong password, database missing,
    SSL), SchemaTooNew ("Update Paydesk to use this database") or InputError, each with one
    sentence that never contains the password. Writes nothing, creates no file.
    """
    target = _with_password(dburl.parse(url_text), password)
    if target.is_sqlite:
        return _test_sqlite(target)
    engine = create_engine(
        target.url,
        poolclass=NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "paydesk"},
    )
    try:
        with engine.connect() as conn:
            rtt = _round_trip_ms(conn)
            version = str(conn.execute(text("SHOW server_version")).scalar()).split()[0]
            state, revision = _schema_state(conn, target)
    except DBAPIError as exc:
        raise DatabaseUnavailable(explain_connect_error(exc, target)) from None
    finally:
        engine.dispose()
    return ConnectionReport(target.masked(), f"PostgreSQL {version}", rtt, state, revision)


# Its name starts with "test": keep pytest from collecting it where a test module imports it.
test_connection.__test__ = False  # type: ignore[attr-defined]


def save_connection(
    url_text: str, password: str | None, *, remember: bool = True
) -> SavedConnection:
    """Make ``url_text`` the database Paydesk opens. The password (given, or taken from the URL)
    goes to the OS keyring when ``remember`` and a keyring exist, else to memory for this run;
    the settings file gets the URL without it."""
    target = dburl.parse(url_text)
    if target.is_sqlite and target.sqlite_path is not None:
        check_sqlite_path(target.sqlite_path)
    # The password typed into the dialog, else the URL's (its login's or a query parameter).
    secret = password if password is not None else dburl.password_of(target.url)
    stored: PasswordStore = "none"
    if target.is_postgres and secret:
        acct = target.keyring_account
        if not remember:
            passwords.forget(acct)  # a password remembered before must not outlive this choice
        stored = (
            "keyring" if passwords.set_password(acct, str(secret), persist=remember) else "memory"
        )
    plain = dburl.without_password(target.url).set(drivername=target.url.get_backend_name())
    url = plain.render_as_string(hide_password=False)
    current = settings.load()
    current.database_url = url
    settings.save(current)
    return SavedConnection(url=url, password_in=stored)


def _with_password(target: DatabaseTarget, password: str | None) -> DatabaseTarget:
    if not target.is_postgres:
        return target
    if password is not None:
        return DatabaseTarget(target.url.set(password=password))
    return dburl.with_password(target)


def _round_trip_ms(conn: Connection) -> float:
    # The median of a few pings: the first one also pays for warming the connection.
    samples = []
    for _ in range(PINGS):
        start = time.perf_counter()
        conn.execute(text("SELECT 1"))
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _schema_state(conn: Connection, target: DatabaseTarget) -> tuple[SchemaState, str | None]:
    try:
        revision = check_not_newer(conn)
    except SchemaTooNew:
        raise SchemaTooNew(
            f"Update Paydesk to use this database: {target.masked()} was set up by a newer version."
        ) from None
    if revision is None:
        # Another application's tables: opening would refuse to set Paydesk up there.
        check_empty_schema(conn, target)
        return "empty", None
    return ("current" if revision == head_revision() else "older"), revision


def _test_sqlite(target: DatabaseTarget) -> ConnectionReport:
    path = target.sqlite_path
    version = f"SQLite {sqlite3.sqlite_version}"
    if path is None:
        return ConnectionReport(target.masked(), version, 0.0, "empty", None)
    check_sqlite_path(path)
    if not path.exists() or path.stat().st_size == 0:
        return ConnectionReport(target.masked(), version, 0.0, "empty", None)
    # Read-only, so a test never changes the file (no WAL switch, no journal).
    engine = create_engine(
        "sqlite://",
        poolclass=NullPool,
        creator=lambda: sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True),
    )
    try:
        with engine.connect() as conn:
            rtt = _round_trip_ms(conn)
            state, revision = _schema_state(conn, target)
    except DBAPIError as exc:
        raise DatabaseUnavailable(explain_connect_error(exc, target)) from None
    finally:
        engine.dispose()
    return ConnectionReport(target.masked(), version, rtt, state, revision)
