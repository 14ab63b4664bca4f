"""The engine factory, URLs, migrations and the bad-input paths of opening a database."""

from __future__ import annotations

import logging
import os
import socket
import stat
import struct
import threading

import pytest
from sqlalchemy import inspect, text

from core.cli import main as cli_main
from core.errors import DatabaseUnavailable, InputError, SchemaTooNew
from core.store import dburl, passwords
from core.store.db import open_database
from core.store.migrate import head_revision, upgrade
from core.store.models import Base
from tests.conftest import modules_loaded_by, require_postgres


def test_every_table_exists_after_upgrade_on_both_databases(db):
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with db.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == head_revision()
        )


def test_upgrade_twice_changes_nothing_the_second_time(db):
    assert upgrade(db) is False


def test_the_head_read_from_the_migration_files_is_alembics():
    from alembic.script import ScriptDirectory

    from core.store.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_opening_a_database_at_the_head_does_not_load_alembic(db, db_url):
    code = (
        "from core.store.db import open_database\n"
        "from core.store.migrate import upgrade\n"
        f"assert upgrade(open_database({db_url!r})) is False"
    )
    assert modules_loaded_by(code, ("alembic",)) == []


def test_sqlite_engine_uses_wal_foreign_keys_and_full_sync(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    db.dispose()


def test_a_newer_schema_is_refused_with_a_sentence(db):
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaTooNew, match="newer Paydesk"):
        upgrade(db)
    with db.engine.connect() as conn:  # nothing was touched
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999_future"
        )


def test_two_copies_migrating_one_postgres_at_once_both_succeed_once(pg_schema_url):
    dbs = [open_database(pg_schema_url) for _ in range(2)]
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def go(d):
        barrier.wait()
        try:
            results.append(upgrade(d))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(d,)) for d in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [False, True]
    for d in dbs:
        d.dispose()


def test_a_file_that_is_not_sqlite_is_left_untouched(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"this is a text file, not a database\n")
    before = path.read_bytes()
    with pytest.raises(InputError, match="not a Paydesk database"):
        open_database(str(path))
    assert path.read_bytes() == before
    assert not (tmp_path / "notes.sqlite3-wal").exists()


def test_a_folder_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_database(f"sqlite:///{tmp_path / 'missing' / 'x.sqlite3'}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_a_folder_that_is_not_writable_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(InputError, match="not writable"):
        open_database(f"sqlite:///{folder / 'x.sqlite3'}")


def test_a_path_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        open_database(str(tmp_path))


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@localhost/x",
        "postgresql://u@h:notaport/db",
        "postgresql://u@host",
        "http://example",
    ],
)
def test_malformed_or_foreign_urls_are_refused(url):
    with pytest.raises(InputError):
        dburl.parse(url)


def test_postgres_urls_are_accepted_as_people_type_them():
    for typed in ("postgresql://u:pw@db.example/paydesk", "postgres://u:pw@db.example/paydesk"):
        target = dburl.parse(typed)
        assert target.url.drivername == "postgresql+psycopg"
        assert target.masked() == "postgresql://u:***@db.example/paydesk"
        assert "pw" not in target.describe()


def test_unreachable_postgres_is_one_sentence_without_the_password():
    with pytest.raises(DatabaseUnavailable) as err:
        open_database("postgresql://postgres:hunter2@127.0.0.1:1/test")
    assert "hunter2" not in str(err.value)
    assert "Nothing is accepting connections at 127.0.0.1:1" in str(err.value)


def test_a_missing_database_is_one_sentence_without_the_password(caplog):
    require_postgres()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseUnavailable) as err:
        open_database("postgresql://postgres:s3cret@127.0.0.1:5432/no_such_db_paydesk")
    assert "s3cret" not in str(err.value) and "s3cret" not in caplog.text
    assert str(err.value) == "The database 'no_such_db_paydesk' does not exist on 127.0.0.1."


@pytest.fixture
def refusing_postgres():
    """A loopback server that speaks just enough of the Postgres protocol to refuse a password
    (the test server trusts every login, so a real refusal needs a server of our own)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                length = struct.unpack("!I", conn.recv(4))[0]
                conn.recv(length - 4)
                fields = (
                    b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "alice"\0\0'
                )
                conn.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_wrong_password_is_one_sentence_without_the_password(refusing_postgres, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"postgresql://alice:wr0ng-pw@127.0.0.1:{refusing_postgres}/paydesk?sslmode=disable"
    with pytest.raises(DatabaseUnavailable) as err:
        open_database(url)
    assert "wr0ng-pw" not in str(err.value) and "wr0ng-pw" not in caplog.text
    assert "refused the login 'alice': wrong or missing password" in str(err.value)


def test_a_password_missing_from_the_url_comes_from_the_keyring(isolated_environment):
    target = dburl.parse("postgresql://alice@db.internal:5433/paydesk")
    passwords.set_password(target.keyring_account, "from-keyring")
    passwords._memory.clear()  # only the keyring holds it now
    filled = dburl.with_password(target)
    assert filled.url.password == "from-keyring"
    assert (
        isolated_environment.store[("Paydesk", "alice@db.internal:5433/paydesk")] == "from-keyring"
    )


def test_without_a_keyring_backend_passwords_stay_in_memory_only():
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    assert passwords.keyring_available() is False
    assert passwords.set_password("bob@h:5432/db", "pw") is False
    assert passwords.get_password("bob@h:5432/db") == "pw"


def test_cli_reports_a_missing_folder_in_one_line_and_exit_2(tmp_path, capsys):
    code = cli_main(["--database", str(tmp_path / "nope" / "x.sqlite3"), "payments", "list"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "does not exist" in err


def test_cli_reports_unreachable_postgres_with_exit_1(capsys):
    code = cli_main(["--database", "postgresql://postgres:pw@127.0.0.1:1/test", "db", "upgrade"])
    err = capsys.readouterr().err
    assert code == 1
    assert "pw@" not in err and err.startswith("paydesk: ")


def test_db_upgrade_command_migrates_the_default_database(capsys):
    assert cli_main(["db", "upgrade"]) == 0
    assert "migrated to schema" in capsys.readouterr().out
    assert cli_main(["db", "upgrade"]) == 0
    assert "already at schema" in capsys.readouterr().out
