"""Schema upgrades with Alembic. One copy migrates at a time (a Postgres advisory lock); a
database whose schema is newer than this app is refused before anything is written."""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from core import paths
from core.db import Database
from core.errors import SchemaTooNew

log = logging.getLogger(__name__)

# pg_advisory_lock key: "paydesk" + "migrate", fixed so every copy agrees.
MIGRATION_LOCK_KEY = 0x70617964_6D696772 & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(paths.migrations_dir()))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def check_not_newer(conn: Connection) -> str | None:
    """Raise SchemaTooNew when the database carries a revision this app does not know."""
    current = current_revision(conn)
    if current is None:
        return None
    script = ScriptDirectory.from_config(alembic_config())
    try:
        script.get_revision(current)
    except Exception:
        raise SchemaTooNew(
            f"This database was set up by a newer Paydesk (schema {current}); update Paydesk to use it."
        ) from None
    return current


def upgrade(db: Database) -> bool:
    """Bring the schema to this app's head. Returns True when anything was migrated."""
    head = head_revision()
    with db.engine.connect() as conn:
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
