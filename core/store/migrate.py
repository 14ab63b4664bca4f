"""Schema upgrades with Alembic. One copy migrates at a time (a Postgres advisory lock); a
database whose schema is newer than this app is refused before anything is written.

Alembic is loaded only to migrate: which revisions this Paydesk ships is read from the
migration files' headers, and a database already at the head is recognised by reading its
``alembic_version`` row. Loading Alembic would otherwise be the largest part of opening a
database (and of ``paydesk health``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, ScalarResult, text
from sqlalchemy.exc import DBAPIError

from core import paths
from core.errors import InputError, Refused, SchemaTooNew
from core.store.db import PAYDESK_TABLES, VERSION_TABLE, Database, foreign_tables, name_list
from core.store.dburl import DatabaseTarget
from core.store.revisions import known_revisions, single_head

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

# pg_advisory_lock key: "paydesk" + "migrate", fixed so every copy agrees.
MIGRATION_LOCK_KEY = 0x70617964_6D696772 & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(paths.migrations_dir()))
    return cfg


def head_revision() -> str:
    """The schema revision this Paydesk expects (Alembic decides when the migration files
    do not name exactly one head)."""
    head = single_head()
    if head is not None:
        return head
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, or None for one Paydesk never set up. Leaves
    the connection outside a transaction."""
    try:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        revision = None  # no alembic_version table
    conn.rollback()
    return revision


def check_not_newer(conn: Connection) -> str | None:
    """Raise SchemaTooNew when the database carries a revision this app does not know."""
    current = current_revision(conn)
    if current is not None and current not in known_revisions():
        raise SchemaTooNew(
            f"This database was set up by a newer Paydesk (schema {current}); update Paydesk to use it."
        )
    return current


def _schema_tables(conn: Connection) -> tuple[str | None, list[str]]:
    """The schema Paydesk's tables go into (Postgres: the first of the search path that
    exists) and the tables, views and foreign tables it already holds."""
    if conn.dialect.name != "postgresql":
        rows: ScalarResult[Any] = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%'"
        ).scalars()
        return None, sorted(str(r) for r in rows)
    schema = conn.execute(text("SELECT current_schema()")).scalar()
    if schema is None:
        return None, []
    rows = conn.scalars(
        text(
            "SELECT c.relname::text FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        ),
        {"s": schema},
    )
    return str(schema), sorted(str(r) for r in rows)


def check_empty_schema(
    conn: Connection, target: DatabaseTarget, *, into_existing: bool = False
) -> None:
    """Before Paydesk's schema is created: refuse a place that holds other tables (unless
    ``into_existing``), tables named like Paydesk's without its schema, or (Postgres) a search
    path naming no schema that exists. Reads only; leaves the connection outside a transaction."""
    try:
        schema, tables = _schema_tables(conn)
    finally:
        conn.rollback()
    where = target.masked() + (f" (schema {schema})" if schema else "")
    if target.is_postgres and schema is None:
        raise InputError(
            f"The search path of {target.masked()} names no schema that exists; create the "
            "schema first (for instance CREATE SCHEMA paydesk) or correct the search_path option."
        )
    clashing = sorted(set(tables) & PAYDESK_TABLES - {VERSION_TABLE})
    if clashing:
        raise Refused(
            f"{where} already holds tables named like Paydesk's ({name_list(clashing)}) but no "
            "Paydesk schema; nothing was written: choose an empty database or schema."
        )
    others = foreign_tables(tables)
    if others and not into_existing:
        raise Refused(
            f"{where} already holds other tables ({name_list(others)}), so Paydesk did not set "
            "itself up there: give Paydesk a schema of its own, or run `paydesk db upgrade "
            "--into-existing` to add its tables beside them."
        )
    if others and not target.is_postgres:
        raise Refused(
            f"{where} is another application's database ({name_list(others)}); a standalone "
            "Paydesk needs a file of its own."
        )


def upgrade(db: Database, *, into_existing: bool = False) -> bool:
    """Bring the schema to this app's head. Returns True when anything was migrated.

    A database Paydesk never set up must be empty: other tables there (another
    application's) are refused, nothing written, unless ``into_existing`` is given (Postgres:
    Paydesk's tables go beside them, and its groups are granted only on Paydesk's tables)."""
    head = head_revision()
    with db.engine.connect() as conn:
        if current_revision(conn) == head:
            return False  # the usual case: no lock, no Alembic
        if db.is_postgres:
            # Session-level lock: a second copy waits here, then finds nothing to do.
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
        try:
            current = check_not_newer(conn)
            conn.commit()
            if current == head:
                return False
            if current is None:
                check_empty_schema(conn, db.target, into_existing=into_existing)
            log.info("Migrating %s from %s to %s", db.target.masked(), current, head)
            from alembic import command

            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            if not db.is_postgres:
                # Alembic rebuilds tables (batch mode) that other tables refer to.
                conn.commit()
                _sqlite_foreign_keys(conn, on=False)
            try:
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if not db.is_postgres:
                    conn.rollback()
                    _sqlite_foreign_keys(conn, on=True)
            return True
        finally:
            if db.is_postgres:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()


def _sqlite_foreign_keys(conn: Connection, *, on: bool) -> None:
    """Switch SQLite's foreign key enforcement. The PRAGMA does nothing inside a transaction,
    and every transaction here starts with BEGIN (``core.store.db``): it goes to the driver's
    connection, which is in autocommit between transactions."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


def check_schema(db: Database) -> None:
    """Refuse a newer schema without migrating (for read-only commands)."""
    with db.engine.connect() as conn:
        check_not_newer(conn)
