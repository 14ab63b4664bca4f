"""Shared fixtures. Every test gets its own settings and data folders, an in-memory keyring,
and (for data tests) its own database: a SQLite file, or a fresh Postgres schema."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import keyring
import psycopg
import pytest
from keyring.backend import KeyringBackend

from core.clock import FrozenClock
from core.context import Context
from core.store.db import Database, open_database
from core.store.migrate import upgrade

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

POSTGRES_URL = os.environ.get(
    "PAYDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


class MemoryKeyring(KeyringBackend):
    """A keyring that forgets everything when the test ends."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch) -> Iterator[MemoryKeyring]:
    monkeypatch.setenv("PAYDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PAYDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PAYDESK_DATABASE_URL", raising=False)
    monkeypatch.delenv("PAYDESK_ACTOR", raising=False)
    from core.store import passwords

    passwords._memory.clear()
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _postgres_answers() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0]


_pg_problem: str | bool | None = False


def require_postgres() -> None:
    """Skip (or, under CI, fail) when no Postgres server answers."""
    global _pg_problem
    if _pg_problem is False:
        _pg_problem = _postgres_answers()
    if _pg_problem:
        msg = f"PostgreSQL at {POSTGRES_URL} does not answer: {_pg_problem}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL whose connections see only a fresh, empty schema."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _database_url(name: str) -> str:
    """POSTGRES_URL with another database name (and its query kept)."""
    parts = urlsplit(POSTGRES_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


# The schema the migrated template holds; every copy made from it has it too.
_TEMPLATE_SCHEMA = "paydesk"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A database migrated to this Paydesk's head once per test session. Migrating a fresh
    schema takes about a second (hundreds of statements); a copy of this takes a few tens of
    milliseconds, so the tests that only need a migrated database start from a copy."""
    require_postgres()
    name = f"paydesk_tpl_{os.getpid()}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_database_url(name), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{_TEMPLATE_SCHEMA}"')
    database = open_database(f"{_database_url(name)}?options=-csearch_path%3D{_TEMPLATE_SCHEMA}")
    try:
        upgrade(database)
    finally:
        database.dispose()  # a template must have no connections when it is copied
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_migrated_url(pg_template: str) -> Iterator[str]:
    """A SQLAlchemy URL of a fresh database already at this Paydesk's head (a copy of the
    session's template), seen through the same schema name as the template's."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield f"{_database_url(name)}?options=-csearch_path%3D{_TEMPLATE_SCHEMA}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """Parametrised over both databases: each test runs on SQLite and on Postgres. A test
    that works on the migrated ``db`` (and not also on ``pg_schema_url``, which must then be
    the same schema) gets a copy of the migrated template; others get an empty schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'paydesk.sqlite3'}"
    if "db" in request.fixturenames and "pg_schema_url" not in request.fixturenames:
        return request.getfixturevalue("pg_migrated_url")
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def db(db_url) -> Iterator[Database]:
    database = open_database(db_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def ctx(db, clock) -> Context:
    return Context(db=db, clock=clock, client_id="test-client")


def modules_loaded_by(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """Run ``code`` in a fresh interpreter and return the modules it loaded whose names start
    with one of ``prefixes`` (what a command or the window costs to start)."""
    script = (
        f"{code}\nimport sys\n"
        f"print('\\nloaded:' + ','.join(sorted(m for m in sys.modules "
        f"if m.startswith({prefixes!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    last = out.stdout.rstrip("\n").rpartition("\nloaded:")[2]
    return [m for m in last.split(",") if m]


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: two workers per core. Most tests wait on Postgres (a database copied from
    the template per test, commits), so a core runs a second worker in those waits."""
    return min(8, 2 * (os.cpu_count() or 1))
