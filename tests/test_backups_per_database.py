"""Backups are per database: ``paydesk worker --once`` on the demo database backs the demo up
even when the real database's backup is fresh (and the other way round), and each database
keeps its own newest seven; a file chosen elsewhere has backups of its own."""

from __future__ import annotations

from datetime import timedelta

from core import paths
from core.cli import main
from core.clock import FrozenClock
from core.store import backup
from core.store.db import open_database
from core.store.migrate import upgrade


def worker_once(capsys, *argv: str) -> dict[str, list[str]]:
    code = main([*argv, "worker", "--once"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return {line.split()[0]: line.split(None, 3) for line in out.splitlines()[1:]}


def test_the_demo_and_the_real_database_each_get_their_own_backup(capsys):
    real = worker_once(capsys)
    assert real["backup"][3].startswith("backed up to paydesk-2")
    demo = worker_once(capsys, "--demo")
    # The real database's fresh backup does not count as the demo's.
    assert demo["backup"][3].startswith("backed up to paydesk-demo-")
    assert "is recent" in worker_once(capsys)["backup"][3]
    assert "is recent" in worker_once(capsys, "--demo")["backup"][3]
    assert len(backup.backups()) == 1
    assert len(backup.backups(key=backup.DEMO_KEY)) == 1


def _db(path):
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    return db


def test_each_database_keeps_its_own_newest_seven(tmp_path):
    paths.data_dir().mkdir(parents=True, exist_ok=True)
    clock = FrozenClock()
    real = _db(paths.default_database_path())
    demo = _db(paths.demo_database_path())
    other = _db(tmp_path / "books.sqlite3")
    try:
        made_real, made_demo = [], []
        for day in range(9):
            made_real.append(backup.backup_now(real, clock).name)
            if day < 3:
                made_demo.append(backup.backup_now(demo, clock).name)
            clock.advance(timedelta(days=1))
        made_other = backup.backup_now(other, clock).name
    finally:
        for db in (real, demo, other):
            db.dispose()
    assert [p.name for p in backup.backups()] == made_real[2:]
    # Nine backups of the real database pruned none of the demo's three.
    assert [p.name for p in backup.backups(key="demo")] == made_demo
    key = backup.database_key(tmp_path / "books.sqlite3")
    assert key.startswith("books-") and made_other.startswith(f"paydesk-{key}-")
    assert [p.name for p in backup.backups(key=key)] == [made_other]
    assert backup.backup_time(paths.backups_dir() / made_demo[0]) == FrozenClock().now()


def test_two_files_of_one_name_are_two_databases(tmp_path):
    one, two = tmp_path / "a" / "shop.sqlite3", tmp_path / "b" / "shop.sqlite3"
    assert backup.database_key(one) != backup.database_key(two)
    assert backup.database_key(paths.default_database_path()) == ""
    assert backup.database_key(paths.demo_database_path()) == "demo"
