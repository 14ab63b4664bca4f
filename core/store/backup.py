"""Online backups of the standalone SQLite file (DESIGN.md §4).

SQLite's backup API copies a consistent snapshot while the app keeps working (WAL lets
writers go on). The copy is written under a temporary name and renamed, so a file named
``paydesk-YYYYMMDD-HHMMSS.sqlite3`` is always complete; the newest seven are kept.

Backups are per database: the standalone database in the data folder keeps the names above,
every other file (the demo database, a file chosen in the Connection dialog) has its key in
the name (``paydesk-demo-YYYYMMDD-HHMMSS.sqlite3``, ``paydesk-books-1a2b3c4d-…``). Each database
counts and prunes only its own, so the demo's backup never stands in for the real one's.

The task checks hourly and backs up when the newest backup is a day old, so a copy that is
only open during office hours still gets its daily backup.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core import paths
from core.clock import Clock
from core.context import Context
from core.errors import PaydeskError, Refused
from core.jobs.task import Task
from core.store.db import Database

KEEP = 7
BACKUP_EVERY = timedelta(days=1)
CHECK_INTERVAL = 3600.0  # seconds
# Leave the first minutes after start to the person opening the app.
INITIAL_DELAY = 60.0
NAME_FORMAT = "paydesk-%Y%m%d-%H%M%S.sqlite3"
NAME_RE = re.compile(r"^paydesk-(\d{8}-\d{6})\.sqlite3$")
KEYED_RE = re.compile(r"^paydesk-([a-z0-9_]+(?:-[0-9a-f]{8})?)-(\d{8}-\d{6})\.sqlite3$")
DEMO_KEY = "demo"


def database_key(path: Path | None) -> str:
    """Whose backups these are: ``""`` for the standalone database in the data folder (the
    names backups always had), ``demo`` for the demo database, else the file's name and a
    short hash of its full path (two files of one name in two folders are two databases)."""
    if path is None:
        return ""
    resolved = Path(path).resolve()
    if resolved == paths.default_database_path().resolve():
        return ""
    if resolved == paths.demo_database_path().resolve():
        return DEMO_KEY
    stem = re.sub(r"[^a-z0-9]+", "_", resolved.stem.lower()).strip("_")[:32] or "db"
    digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:8]
    return f"{stem}-{digest}"


def _parts(name: str) -> tuple[str, str] | None:
    """(key, stamp) of a backup's file name, or None for any other file."""
    match = NAME_RE.match(name)
    if match:
        return "", match.group(1)
    keyed = KEYED_RE.match(name)
    return (keyed.group(1), keyed.group(2)) if keyed else None


def backups(folder: Path | None = None, key: str = "") -> list[Path]:
    """The backups of database ``key`` (``database_key``; default: the standalone database)
    in ``folder`` (default: the backups folder), oldest first. Other files in the folder,
    other databases' backups included, are never counted or touched."""
    folder = folder or paths.backups_dir()
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and (parts := _parts(p.name)) is not None and parts[0] == key
    )


def backup_time(path: Path) -> datetime | None:
    """When a backup was taken, read from its name (UTC)."""
    parts = _parts(path.name)
    if parts is None:
        return None
    return datetime.strptime(parts[1], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)


def backup_name(key: str, when: datetime) -> str:
    stamp = when.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"paydesk-{key}-{stamp}.sqlite3" if key else f"paydesk-{stamp}.sqlite3"


def backup_now(db: Database, clock: Clock, *, folder: Path | None = None, keep: int = KEEP) -> Path:
    """Copy the open SQLite database into the backups folder and keep the newest ``keep``.

    Returns the new file. Refused for a Postgres or in-memory database.
    """
    source = db.target.sqlite_path
    if not db.target.is_sqlite or source is None:
        raise Refused(
            "Backups are made of the standalone SQLite file; back up a shared Postgres "
            "database with the server's own tools (pg_dump)."
        )
    folder = folder or paths.backups_dir()
    key = database_key(source)
    final = folder / backup_name(key, clock.now())
    tmp = folder / f".{final.name}.part"
    try:
        paths.private_dir(folder)
        tmp.unlink(missing_ok=True)
        # Owner-only before the first page is copied: a backup holds what the database does.
        paths.create_private_file(tmp)
        _copy(db, tmp)
        os.replace(tmp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise PaydeskError(f"The backup into {folder} failed: {exc.strerror or exc}.") from None
    except sqlite3.Error as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise PaydeskError(f"The backup of {source} failed: {exc}.") from None
    prune(folder, keep, key)
    return final


def _copy(db: Database, dest: Path) -> None:
    # A pooled connection already has the busy timeout; the backup reads one snapshot in a
    # single step (pages=-1), so concurrent writes cannot make it start over.
    with db.engine.connect() as conn:
        src = conn.connection.driver_connection
        assert isinstance(src, sqlite3.Connection)
        target = sqlite3.connect(dest)
        try:
            src.backup(target, pages=-1)
            # One self-contained file: no -wal/-shm companions to carry around.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
    with dest.open("rb") as fh:
        os.fsync(fh.fileno())


def prune(folder: Path, keep: int = KEEP, key: str = "") -> list[Path]:
    """Delete all but the newest ``keep`` backups of database ``key``; returns what was
    deleted. Other databases' backups are left as they are."""
    mine = backups(folder, key)
    old = mine[:-keep] if keep > 0 else mine
    for path in old:
        path.unlink(missing_ok=True)
    return old


def _run(ctx: Context) -> str:
    latest = backups(key=database_key(ctx.db.target.sqlite_path))
    last = backup_time(latest[-1]) if latest else None
    now = ctx.clock.now()
    if last is not None and now - last < BACKUP_EVERY:
        return f"latest backup {last:%Y-%m-%d %H:%M} UTC is recent"
    path = backup_now(ctx.db, ctx.clock)
    return f"backed up to {path.name}"


def backup_task() -> Task:
    """The daily online backup of the SQLite file (standalone only)."""
    return Task(
        name="backup",
        title="Back up the database",
        interval=CHECK_INTERVAL,
        run=_run,
        standalone_only=True,
        initial_delay=INITIAL_DELAY,
    )
