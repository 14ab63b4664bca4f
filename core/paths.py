"""Where Paydesk keeps things: settings, data, and its own bundled files (also when frozen)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Paydesk"
SETTINGS_FILE = "settings.toml"


def bundle_root() -> Path:
    """The folder holding ``migrations/`` and ``resources/``: the PyInstaller bundle when
    frozen, otherwise the folder the ``core`` package sits in (source tree or site-packages)."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    return bundle_root() / "migrations"


def resources_dir() -> Path:
    return bundle_root() / "resources"


def config_dir() -> Path:
    """Settings folder; ``PAYDESK_CONFIG_DIR`` moves it (tests, portable installs)."""
    override = os.environ.get("PAYDESK_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME, False))


def data_dir() -> Path:
    """Data folder (standalone database, backups); ``PAYDESK_DATA_DIR`` moves it."""
    override = os.environ.get("PAYDESK_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, False))


def default_database_path() -> Path:
    return data_dir() / "paydesk.sqlite3"


def demo_database_path() -> Path:
    return data_dir() / "demo.sqlite3"


def backups_dir() -> Path:
    return data_dir() / "backups"


# --- private files and folders (POSIX) --------------------------------------------------------
#
# The database, its backups and the settings file hold webhook secrets and customer emails:
# they are readable by their owner only, whatever the umask. Windows keeps its own ACLs.

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
# What SQLite keeps beside a database file.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _posix() -> bool:
    return os.name == "posix"


def private_dir(folder: Path) -> Path:
    """Create ``folder`` and its missing parents, each owner-only; a folder that already exists
    keeps its permissions (``tighten_own_files`` sees to Paydesk's own)."""
    missing = [folder, *folder.parents]
    missing = [p for p in missing if not p.exists()]
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another copy
        if _posix():
            os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    if not folder.is_dir():
        folder.mkdir()  # raises the OSError that says why (a file in the way)
    return folder


def create_private_file(path: Path) -> bool:
    """Create an empty owner-only ``path`` unless it exists; True when it was created. Whatever
    then writes the file (SQLite, for one) keeps these permissions, and SQLite gives its
    ``-wal``/``-shm`` files the database file's."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        if _posix():
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return True


def tighten(path: Path) -> bool:
    """Take group and other permissions off ``path`` (a file or folder Paydesk owns); True when
    it changed. A missing path, a symlink or a file of another user is left alone."""
    if not _posix():
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid() or not st.st_mode & 0o077:
        return False
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
    except OSError:
        return False
    return True


def tighten_database_file(path: Path) -> None:
    """The SQLite file and the companions SQLite keeps beside it."""
    tighten(path)
    for suffix in SQLITE_COMPANIONS:
        tighten(path.with_name(path.name + suffix))


def tighten_own_files() -> None:
    """Make what Paydesk keeps in its own folders owner-only, for files written before it did
    so: the data folder, its standalone and demo databases, the backups folder and its backups,
    and the settings file and its folder. Nothing else in those folders is touched, and a
    database a person keeps elsewhere keeps the permissions they gave it."""
    if not _posix():
        return
    data = data_dir()
    if data.is_dir():
        tighten(data)
        tighten_database_file(default_database_path())
        tighten_database_file(demo_database_path())
        backups = backups_dir()
        if backups.is_dir():
            tighten(backups)
            for entry in backups.iterdir():
                if entry.name.startswith(("paydesk-", ".paydesk-")) and entry.is_file():
                    tighten(entry)
    config = config_dir()
    if config.is_dir():
        tighten(config)
        tighten(config / SETTINGS_FILE)
