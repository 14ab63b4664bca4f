"""The Connection dialog's services: test a database, and save it with its password in the keyring."""

from __future__ import annotations

import socket
import sqlite3
import struct
import threading
import tomllib
from collections.abc import Callable, Iterator

import pytest
from alembic import command
from sqlalchemy import text

from core import settings
from core.errors import DatabaseUnavailable, InputError, SchemaTooNew
from core.store import connection, passwords
from core.store.db import open_database
from core.store.migrate import alembic_config, head_revision, upgrade

SECRET = "s3cret-pw"

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


class FakePostgres:
    """A loopback server speaking just enough of the Postgres protocol to ask for a password
    and then refuse the login with ``message`` (the test server trusts every login)."""

    def __init__(self, message: str, sqlstate: str, ask_password: bool) -> None:
        self.message = message
        self.sqlstate = sqlstate
        self.ask_password = ask_password
        self.passwords: list[str] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            part = conn.recv(n - len(data))
            if not part:
                raise ConnectionError
            data += part
        return data

    def _startup(self, conn: socket.socket) -> None:
        while True:  # SSL / GSS encryption requests first: say no, then the real startup
            length = struct.unpack("!I", self._read(conn, 4))[0]
            body = self._read(conn, length - 4)
            if struct.unpack("!I", body[:4])[0] in (SSL_REQUEST, GSSENC_REQUEST):
                conn.sendall(b"N")
                continue
            return

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    self._startup(conn)
                    if self.ask_password:
                        conn.sendall(b"R" + struct.pack("!II", 8, 3))  # cleartext password
                        kind = self._read(conn, 1)
                        length = struct.unpack("!I", self._read(conn, 4))[0]
                        body = self._read(conn, length - 4)
                        if kind == b"p":
                            self.passwords.append(body.rstrip(b"\0").decode())
                    fields = (
                        b"SFATAL\0VFATAL\0C"
                        + self.sqlstate.encode()
                        + b"\0M"
                        + self.message.encode()
                        + b"\0\0"
                    )
                    conn.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)
                except (ConnectionError, OSError):
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def fake_postgres() -> Iterator[Callable[..., FakePostgres]]:
    servers: list[FakePostgres] = []

    def start(message: str, sqlstate: str = "28P01", ask_password: bool = False) -> FakePostgres:
        server = FakePostgres(message, sqlstate, ask_password)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _failure(url: str, **kwargs: str) -> str:
    with pytest.raises((DatabaseUnavailable, SchemaTooNew, InputError)) as err:
        connection.test_connection(url, **kwargs)
    message = str(err.value)
    assert SECRET not in message
    assert message.count(". ") == 0 and message.endswith((".", "?"))  # one sentence
    return message


# --- what a working database reports -------------------------------------------------------------


def test_a_current_database_reports_version_round_trip_and_current_schema(db, db_url):
    report = connection.test_connection(db_url)
    assert report.schema_state == "current" and report.schema_revision == head_revision()
    assert report.server_version.startswith("PostgreSQL " if db.is_postgres else "SQLite ")
    assert report.round_trip_ms > 0
    assert "schema is current" in report.summary()


def test_a_database_on_an_older_schema_says_it_will_be_upgraded(db_url):
    db = open_database(db_url)
    with db.engine.connect() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.commit()
    db.dispose()
    report = connection.test_connection(db_url)
    assert (report.schema_state, report.schema_revision) == ("older", "0001")
    assert "will be upgraded" in report.summary()


def test_an_empty_postgres_database_is_reported_empty(pg_schema_url):
    report = connection.test_connection(pg_schema_url)
    assert report.schema_state == "empty" and report.schema_revision is None


def test_a_standalone_file_that_does_not_exist_yet_is_empty_and_not_created(tmp_path):
    path = tmp_path / "new.sqlite3"
    report = connection.test_connection(str(path))
    assert report.schema_state == "empty"
    assert not path.exists()


def test_testing_a_standalone_file_changes_nothing_in_it(tmp_path):
    path = tmp_path / "paydesk.sqlite3"
    db = open_database(str(path))
    upgrade(db)
    db.dispose()
    for leftover in tmp_path.glob("paydesk.sqlite3-*"):
        leftover.unlink()
    before = path.read_bytes()
    assert connection.test_connection(str(path)).schema_state == "current"
    assert path.read_bytes() == before


def test_the_report_url_has_the_password_masked(pg_schema_url):
    url = pg_schema_url.replace("postgres@", f"postgres:{SECRET}@", 1)
    report = connection.test_connection(url)
    assert SECRET not in report.url and "postgres:***@" in report.url


# --- each failure, one sentence, no password --------------------------------------------------------


def test_a_closed_port_is_refused_in_one_sentence():
    message = _failure(f"postgresql://postgres:{SECRET}@127.0.0.1:1/test")
    assert message == (
        "Nothing is accepting connections at 127.0.0.1:1; is the database server running?"
    )


def test_a_host_that_is_not_found_is_one_sentence(monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # no lookup leaves the machine
        if host == "db.paydesk.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    message = _failure(f"postgresql://ana:{SECRET}@db.paydesk.invalid/paydesk")
    assert message == "The database host 'db.paydesk.invalid' was not found."


def test_a_missing_database_is_one_sentence():
    from tests.conftest import require_postgres

    require_postgres()
    message = _failure(f"postgresql://postgres:{SECRET}@127.0.0.1:5432/no_such_paydesk_db")
    assert message == "The database 'no_such_paydesk_db' does not exist on 127.0.0.1."


def test_a_wrong_password_is_one_sentence(fake_postgres):
    server = fake_postgres('password authentication failed for user "ana"', ask_password=True)
    message = _failure(f"postgresql://ana:{SECRET}@127.0.0.1:{server.port}/paydesk")
    assert (
        message
        == f"The server at 127.0.0.1:{server.port}/paydesk refused the login 'ana': wrong or missing password."
    )


def test_the_password_given_beats_the_one_in_the_keyring(fake_postgres):
    server = fake_postgres('password authentication failed for user "ana"', ask_password=True)
    url = f"postgresql://ana@127.0.0.1:{server.port}/paydesk"
    connection.save_connection(url, "from-keyring")
    _failure(url)
    _failure(url, password=SECRET)
    assert server.passwords == ["from-keyring", SECRET]


def test_a_server_that_requires_ssl_is_one_sentence(fake_postgres):
    server = fake_postgres(
        'no pg_hba.conf entry for host "127.0.0.1", user "ana", database "paydesk", no encryption',
        sqlstate="28000",
    )
    message = _failure(f"postgresql://ana:{SECRET}@127.0.0.1:{server.port}/paydesk?sslmode=disable")
    assert (
        message
        == f"The server at 127.0.0.1:{server.port}/paydesk requires SSL; set the SSL mode to require."
    )


def test_requiring_ssl_from_a_server_without_it_is_one_sentence(pg_schema_url):
    db = open_database(pg_schema_url)
    with db.engine.connect() as conn:
        ssl_on = conn.execute(text("SHOW ssl")).scalar() == "on"
    db.dispose()
    if ssl_on:
        pytest.skip("this server offers SSL")
    message = _failure(pg_schema_url + "&sslmode=require")
    assert "does not offer SSL; set the SSL mode to prefer or disable" in message


def test_a_schema_newer_than_the_app_says_update_paydesk(db_url):
    db = open_database(db_url)
    upgrade(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    db.dispose()
    message = _failure(db_url)
    assert message.startswith("Update Paydesk to use this database")


def test_a_database_holding_other_tables_named_like_paydesks_is_refused(tmp_path):
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE payments (id TEXT)")
    assert "no Paydesk schema" in _failure(str(path))


def test_a_url_that_is_not_a_database_is_refused():
    with pytest.raises(InputError):
        connection.test_connection("mysql://root@localhost/x")


# --- saving ------------------------------------------------------------------------------------------


def _settings_text() -> str:
    return settings.settings_path().read_text(encoding="utf-8")


def test_save_puts_the_password_in_the_keyring_and_not_in_settings(isolated_environment):
    saved = connection.save_connection("postgresql://ana@db.internal:5433/paydesk", SECRET)
    assert saved.password_in == "keyring"
    assert isolated_environment.store[("Paydesk", "ana@db.internal:5433/paydesk")] == SECRET
    assert SECRET not in _settings_text()
    assert (
        tomllib.loads(_settings_text())["database_url"]
        == "postgresql://ana@db.internal:5433/paydesk"
    )
    assert settings.resolve_database_url() == "postgresql://ana@db.internal:5433/paydesk"


def test_a_password_typed_into_the_url_is_moved_to_the_keyring(isolated_environment):
    saved = connection.save_connection(f"postgresql://ana:{SECRET}@db.internal/paydesk", None)
    assert saved.password_in == "keyring" and SECRET not in saved.url
    assert isolated_environment.store[("Paydesk", "ana@db.internal:5432/paydesk")] == SECRET
    assert SECRET not in _settings_text()


def test_without_a_keyring_backend_the_password_stays_in_memory_only(isolated_environment):
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    saved = connection.save_connection("postgresql://ana@db.internal/paydesk", SECRET)
    assert saved.password_in == "memory"
    assert passwords.get_password("ana@db.internal:5432/paydesk") == SECRET
    assert isolated_environment.store == {}
    assert SECRET not in _settings_text()


def test_not_remembering_forgets_a_password_kept_before(isolated_environment):
    url = "postgresql://ana@db.internal/paydesk"
    connection.save_connection(url, "old-password")
    saved = connection.save_connection(url, SECRET, remember=False)
    assert saved.password_in == "memory"
    assert isolated_environment.store == {}
    assert passwords.get_password("ana@db.internal:5432/paydesk") == SECRET


def test_saving_a_standalone_file_keeps_no_password(tmp_path, isolated_environment):
    saved = connection.save_connection(str(tmp_path / "paydesk.sqlite3"), None)
    assert saved.password_in == "none" and isolated_environment.store == {}
    assert settings.load().database_url == f"sqlite:///{tmp_path / 'paydesk.sqlite3'}"


def test_saving_a_bad_url_writes_nothing(isolated_environment):
    with pytest.raises(InputError):
        connection.save_connection("mysql://root:pw@localhost/x", "pw")
    assert not settings.settings_path().exists()
    assert isolated_environment.store == {}
