"""The scheduler's own tasks (presence, idempotency purge, backup) and `paydesk worker`."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from core import paths
from core.cli import main
from core.context import Context
from core.errors import PaydeskError, Refused
from core.jobs import presence, registry
from core.jobs.scheduler import Scheduler, Task
from core.refunds import idempotency
from core.store import backup
from core.store.db import open_database
from core.store.migrate import upgrade
from core.store.models import Client, IdempotencyKey, Merchant

# -- presence ----------------------------------------------------------------------------


def client_rows(ctx: Context) -> list[Client]:
    with ctx.db.read() as session:
        rows = list(session.scalars(select(Client).order_by(Client.id)))
        session.expunge_all()  # keep the loaded values past the read's rollback
        return rows


def test_heartbeat_twice_keeps_one_row_and_moves_last_seen(ctx, clock):
    first = presence.heartbeat(ctx)
    started = clock.now()
    clock.advance(15)
    second = presence.heartbeat(ctx)
    [row] = client_rows(ctx)
    assert first == second == 1
    assert row.id == "test-client"
    assert row.started_at == started
    assert row.last_seen == started + timedelta(seconds=15)
    assert row.kind == "app"
    assert row.user == ctx.default_actor()


def test_heartbeat_records_a_worker_as_a_worker(ctx):
    ctx.kind = "worker"
    presence.heartbeat(ctx)
    [row] = client_rows(ctx)
    assert row.kind == "worker"


def test_online_clients_are_those_seen_within_the_window(ctx, clock):
    old = Context(db=ctx.db, clock=clock, client_id="old-copy")
    presence.heartbeat(old)
    clock.advance(61)
    presence.heartbeat(ctx)
    with ctx.db.read() as session:
        online = [c.id for c in presence.online_clients(session, clock.now())]
        wide = [
            c.id for c in presence.online_clients(session, clock.now(), within=timedelta(minutes=5))
        ]
    assert online == ["test-client"]
    assert wide == ["test-client", "old-copy"]


def test_heartbeat_forgets_copies_gone_for_a_day(ctx, clock):
    presence.heartbeat(Context(db=ctx.db, clock=clock, client_id="crashed"))
    clock.advance(timedelta(days=1, seconds=1))
    presence.heartbeat(ctx)
    assert [c.id for c in client_rows(ctx)] == ["test-client"]


def test_stopping_the_scheduler_removes_this_copys_row(ctx):
    other = Context(db=ctx.db, clock=ctx.clock, client_id="other-copy")
    presence.heartbeat(other)
    s = Scheduler(ctx, [presence.heartbeat_task()])
    results = s.run_once()
    assert results["heartbeat"].last_message == "2 copies online"
    s.stop()
    assert [c.id for c in client_rows(ctx)] == ["other-copy"]


def test_removing_an_unknown_client_changes_nothing(ctx):
    presence.heartbeat(ctx)
    presence.remove_client(ctx.db, "never-seen")
    assert len(client_rows(ctx)) == 1


# -- idempotency keys --------------------------------------------------------------------


def add_keys(ctx: Context, expiries: dict[str, timedelta]) -> None:
    now = ctx.clock.now()
    with ctx.db.write() as session:
        session.add(Merchant(id="m_1", name="Shop", email="shop@example.com", created_at=now))
        session.flush()
        for key, offset in expiries.items():
            session.add(
                IdempotencyKey(
                    merchant_id="m_1",
                    key=key,
                    request_hash="h",
                    created_at=now + offset - idempotency.KEY_LIFETIME,
                    expires_at=now + offset,
                )
            )


def remaining_keys(ctx: Context) -> list[str]:
    with ctx.db.read() as session:
        return sorted(session.scalars(select(IdempotencyKey.key)))


def test_purge_removes_only_expired_keys(ctx):
    add_keys(
        ctx,
        {
            "long-gone": timedelta(hours=-5),
            "expires-now": timedelta(0),
            "one-second-left": timedelta(seconds=1),
            "fresh": timedelta(hours=23),
        },
    )
    [state] = Scheduler(ctx, [idempotency.purge_task()]).run_once().values()
    assert state.last_outcome == "ok"
    assert state.last_message == "purged 2"
    assert remaining_keys(ctx) == ["fresh", "one-second-left"]


def test_purge_works_through_a_backlog_in_batches(ctx):
    add_keys(ctx, {f"k{i}": timedelta(minutes=-i - 1) for i in range(7)} | {"keep": timedelta(1)})
    assert idempotency.purge_expired(ctx.db, ctx.clock.now(), batch=3) == 7
    assert remaining_keys(ctx) == ["keep"]


def test_purge_with_nothing_expired_purges_nothing(ctx):
    assert idempotency.purge_expired(ctx.db, ctx.clock.now()) == 0


# -- backup ------------------------------------------------------------------------------


@pytest.fixture
def standalone_ctx(tmp_path, clock) -> Iterator[Context]:
    """Backups are of the standalone SQLite file only (Postgres refuses: tested above); this
    is the one in the data folder, whose backups keep the plain names."""
    paths.data_dir().mkdir(parents=True, exist_ok=True)
    db = open_database(f"sqlite:///{paths.default_database_path()}")
    upgrade(db)
    yield Context(db=db, clock=clock, client_id="test-client")
    db.dispose()


def row_counts(connection: sqlite3.Connection) -> dict[str, int]:
    tables = [
        r[0]
        for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_backup_of_a_shared_postgres_database_is_refused(pg_schema_url, clock, tmp_path):
    db = open_database(pg_schema_url)
    try:
        with pytest.raises(Refused, match="pg_dump"):
            backup.backup_now(db, clock)
    finally:
        db.dispose()
    assert not (tmp_path / "data" / "backups").exists()


def test_backup_is_a_readable_sqlite_copy_with_the_same_rows(standalone_ctx, tmp_path):
    ctx = standalone_ctx
    add_keys(ctx, {"a": timedelta(hours=1), "b": timedelta(hours=2)})
    presence.heartbeat(ctx)
    path = backup.backup_now(ctx.db, ctx.clock)
    assert path.parent == tmp_path / "data" / "backups"
    assert path.name == "paydesk-20260115-120000.sqlite3"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    copy = sqlite3.connect(path)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        copied = row_counts(copy)
    finally:
        copy.close()
    source = sqlite3.connect(ctx.db.target.sqlite_path)
    try:
        original = row_counts(source)
    finally:
        source.close()
    assert copied == original
    assert copied["idempotency_keys"] == 2 and copied["clients"] == 1 and copied["merchants"] == 1
    assert set(inspect(ctx.db.engine).get_table_names()) <= set(copied)


def test_backups_keep_only_the_newest_seven(standalone_ctx, tmp_path):
    folder = tmp_path / "data" / "backups"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "paydesk-manual.sqlite3").write_text("also mine")
    made = []
    for _ in range(9):
        made.append(backup.backup_now(standalone_ctx.db, standalone_ctx.clock).name)
        standalone_ctx.clock.advance(timedelta(days=1))
    kept = sorted(p.name for p in folder.iterdir())
    assert [p.name for p in backup.backups(folder)] == made[2:]
    assert kept == sorted([*made[2:], "notes.txt", "paydesk-manual.sqlite3"])


def test_backup_task_backs_up_once_a_day(standalone_ctx, clock):
    task = backup.backup_task()
    assert task.standalone_only
    assert task.run(standalone_ctx).startswith("backed up to paydesk-20260115-120000")
    clock.advance(timedelta(hours=23))
    assert "is recent" in task.run(standalone_ctx)
    clock.advance(timedelta(hours=1))
    assert task.run(standalone_ctx) == "backed up to paydesk-20260116-120000.sqlite3"
    assert len(backup.backups()) == 2


def test_backup_into_an_unwritable_place_fails_with_one_sentence(standalone_ctx, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(PaydeskError, match=r"The backup into .*not-a-folder failed"):
        backup.backup_now(standalone_ctx.db, standalone_ctx.clock, folder=blocker)
    assert blocker.read_text() == "x"


# -- paydesk worker ----------------------------------------------------------------------


def test_worker_once_runs_each_task_and_exits_zero(db_url, capsys):
    code = main(["--database", db_url, "worker", "--once"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["task", "outcome", "duration", "message"]
    by_task = {line.split()[0]: line.split(None, 3) for line in lines[1:]}
    assert by_task["heartbeat"][1:] == ["ok", by_task["heartbeat"][2], "1 copy online"]
    assert by_task["idempotency_purge"][3] == "purged 0"
    assert ("backup" in by_task) == db_url.startswith("sqlite")
    assert all(parts[1] == "ok" for parts in by_task.values())
    db = open_database(db_url)
    try:
        with db.read() as session:  # a clean exit takes this copy's presence away
            assert session.scalar(select(func.count()).select_from(Client)) == 0
    finally:
        db.dispose()


def test_worker_once_exits_one_when_a_task_fails(tmp_path, monkeypatch, capsys):
    def broken(_ctx: Context) -> None:
        raise RuntimeError("receiver exploded")

    monkeypatch.setattr(
        registry,
        "all_tasks",
        lambda ctx: [idempotency.purge_task(), Task("broken", "Broken", 60, broken)],
    )
    code = main(["--database", str(tmp_path / "w.sqlite3"), "worker", "--once"])
    out, _ = capsys.readouterr()
    assert code == 1
    rows = {line.split()[0]: line.split(None, 3) for line in out.splitlines()[1:]}
    assert rows["broken"][1] == "error"
    assert rows["broken"][3] == (
        "Paydesk failed unexpectedly (RuntimeError: receiver exploded); the log has the details."
    )
    assert rows["idempotency_purge"][1:2] == ["ok"]


def test_worker_on_a_file_that_is_not_a_database_fails_with_one_sentence(tmp_path, capsys):
    bogus = tmp_path / "notes.sqlite3"
    bogus.write_text("not a database")
    code = main(["--database", str(bogus), "worker", "--once"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "not a Paydesk database" in err
    assert bogus.read_text() == "not a database"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")
def test_worker_runs_until_sigterm_and_then_stops_cleanly(tmp_path):
    path = tmp_path / "worker.sqlite3"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))",
            "--database",
            str(path),
            "worker",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while not any("heartbeat: ok" in x for x in seen):
            seen.append(lines.get(timeout=60))
        db = open_database(f"sqlite:///{path}")
        try:
            with db.read() as session:
                assert [c.kind for c in session.scalars(select(Client))] == ["worker"]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            reader.join(timeout=10)
            while not lines.empty():
                seen.append(lines.get())
            with db.read() as session:
                assert session.scalar(select(func.count()).select_from(Client)) == 0
        finally:
            db.dispose()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(seen)
    assert "SIGTERM received" in text
    assert "stopped" in text
    assert "next run" in text
