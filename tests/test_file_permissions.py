"""The database, the demo database, backups and ``settings.toml`` hold webhook secrets and
customer emails: on POSIX they are created owner-only (0600 in 0700 folders) whatever the
umask, and files an older version left readable are tightened when Paydesk starts."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core import paths, settings
from core.cli import main
from core.clock import FrozenClock
from core.store import backup
from core.store.db import open_database
from core.store.migrate import upgrade

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems have: without explicit modes files come out 0644, folders 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_standalone_database_and_its_folder_are_created_owner_only(capsys):
    run(capsys, "staff", "list")
    data = paths.data_dir()
    assert mode(data) == 0o700
    db_file = paths.default_database_path()
    assert mode(db_file) == 0o600
    # SQLite gives its companions the database file's permissions.
    db = open_database(f"sqlite:///{db_file}")
    try:
        with db.write() as session:
            session.execute(text("SELECT 1"))
        companions = [db_file.with_name(db_file.name + s) for s in ("-wal", "-shm")]
        present = [p for p in companions if p.exists()]
        assert present  # WAL mode keeps both while a connection is open
        assert {mode(p) for p in present} == {0o600}
    finally:
        db.dispose()


def test_the_demo_database_is_created_owner_only(capsys):
    run(capsys, "--demo", "staff", "list")
    assert mode(paths.data_dir()) == 0o700
    assert mode(paths.demo_database_path()) == 0o600


def test_a_database_a_person_names_is_created_owner_only_and_their_folder_left_alone(
    tmp_path, capsys
):
    folder = tmp_path / "mine"
    folder.mkdir()
    os.chmod(folder, 0o755)
    other = folder / "notes.txt"
    other.write_text("mine")
    os.chmod(other, 0o644)
    run(capsys, "--database", str(folder / "books.sqlite3"), "staff", "list")
    assert mode(folder / "books.sqlite3") == 0o600
    assert mode(folder) == 0o755
    assert mode(other) == 0o644


def test_backups_and_their_folder_are_created_owner_only(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'paydesk.sqlite3'}")
    try:
        upgrade(db)
        made = backup.backup_now(db, FrozenClock())
    finally:
        db.dispose()
    assert made.parent == paths.backups_dir()
    assert mode(paths.backups_dir()) == 0o700
    assert mode(paths.data_dir()) == 0o700  # made on the way, also Paydesk's own
    assert mode(made) == 0o600
    with sqlite3.connect(made) as conn:  # still a complete database
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def test_the_settings_file_and_its_folder_are_created_owner_only(tmp_path):
    settings.save(settings.Settings(database_url="postgresql://ana@db.internal/paydesk"))
    assert mode(paths.config_dir()) == 0o700
    assert mode(settings.settings_path()) == 0o600
    # Saving again (the temporary file replaces the old one) keeps it so.
    settings.save(settings.Settings(database_url=f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"))
    assert mode(settings.settings_path()) == 0o600


def test_files_an_older_version_left_readable_are_tightened_on_start(capsys, tmp_path):
    # What an older Paydesk left behind: everything 0644 in 0755 folders.
    run(capsys, "staff", "list")
    run(capsys, "--demo", "staff", "list")
    settings.save(settings.Settings(database_url=f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"))
    data, config = paths.data_dir(), paths.config_dir()
    backups = paths.backups_dir()
    backups.mkdir()
    old_backup = backups / "paydesk-20240101-000000.sqlite3"
    old_backup.write_bytes(b"")
    db_file = paths.default_database_path()
    # The command opens the standalone database, not the demo one, whose -wal therefore stays.
    demo = paths.demo_database_path()
    wal = demo.with_name(demo.name + "-wal")
    wal.write_bytes(b"")
    unrelated = data / "readme.txt"
    unrelated.write_text("not Paydesk's")
    readable = [
        db_file,
        wal,
        demo,
        old_backup,
        settings.settings_path(),
        unrelated,
    ]
    for path in readable:
        os.chmod(path, 0o644)
    for folder in (data, backups, config):
        os.chmod(folder, 0o755)

    run(capsys, "staff", "list")

    for path in readable[:-1]:
        assert mode(path) == 0o600, path
    for folder in (data, backups, config):
        assert mode(folder) == 0o700, folder
    assert mode(unrelated) == 0o644  # not Paydesk's: left as it was


def test_tightening_takes_away_only_group_and_other_bits(tmp_path):
    read_only = tmp_path / "paydesk.sqlite3"
    read_only.write_bytes(b"")
    os.chmod(read_only, 0o444)
    assert paths.tighten(read_only) is True
    assert mode(read_only) == 0o400  # not made writable
    assert paths.tighten(read_only) is False  # already private
    assert paths.tighten(tmp_path / "missing") is False
    link = tmp_path / "link"
    target = tmp_path / "elsewhere.txt"
    target.write_text("x")
    os.chmod(target, 0o644)
    link.symlink_to(target)
    assert paths.tighten(link) is False
    assert mode(target) == 0o644


def test_created_modes_do_not_depend_on_a_loose_umask(tmp_path):
    os.umask(0o000)
    folder = paths.private_dir(tmp_path / "a" / "b")
    assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
    file = folder / "f.sqlite3"
    assert paths.create_private_file(file) is True
    assert mode(file) == 0o600
    assert paths.create_private_file(file) is False  # an existing file is never replaced
