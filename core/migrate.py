"""Schema upgrades with Alembic. One copy migrates at a time (a Postgres advisory lock); a
database whose schema is newer than this app is refused before anything is written.

Alembic is loaded only to migrate: which revisions this Paydesk ships is read from the
migration files' headers, and a database already at the head is recognised by reading its
``alembic_version`` row. Loading Alembic would otherwise be the largest part of opening a
database (and of ``paydesk health``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from core import paths
from core.db import Database
from core.errors import SchemaTooNew
from core.revisions import known_revisions, single_head

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


def upgrade(db: Database) -> bool:
    """Bring the schema to this app's head. Returns True when anything was migrated."""
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
            log.info("Migrating %s from %s to %s", db.target.masked(), current, head)
            from alembic import command

            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            if not db.is_postgres:
                conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            command.upgrade(cfg, "head")
            conn.commit()
            if not db.is_postgres:
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            return True
        finally:
            if db.is_postgres:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()


def check_schema(db: Database) -> None:
    """Refuse a newer schema without migrating (for read-only commands)."""
    with db.engine.connect() as conn:
        check_not_newer(conn)
