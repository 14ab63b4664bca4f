"""Another application's database is never taken over (core.store.db, core.store.migrate, core.store.pgroles).

SQLite: a file with tables, none of them Paydesk's, is refused with one sentence by every
command and by the app's open path, and is left byte for byte as it was (no WAL switch, no
-wal/-shm). Postgres: a schema that holds other tables is refused unless ``paydesk db upgrade
--into-existing`` is asked for, and then the ``paydesk_*`` groups get no privilege on the
other tables, as a real support login finds with ``has_table_privilege``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from core.cli import main
from core.errors import InputError, Refused
from core.store import connection, pgroles
from core.store.db import PAYDESK_TABLES, check_sqlite_path, open_database
from core.store.migrate import upgrade
from core.store.models import Base
from tests.conftest import POSTGRES_URL
from tests.test_pg_roles import Logins

FOREIGN_SENTENCE = "another application's database"


# -- SQLite ------------------------------------------------------------------------------------


def make_foreign_file(path: Path, journal: str) -> Path:
    """Another application's SQLite database, in the journal mode it chose."""
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {journal}")
    conn.execute("CREATE TABLE app_secrets (name TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO app_secrets VALUES ('api_key', 'sk_live_123')")
    conn.commit()
    conn.close()
    return path


def snapshot(path: Path) -> tuple[bytes, list[str], int, int]:
    st = path.stat()
    return path.read_bytes(), sorted(os.listdir(path.parent)), st.st_mode, st.st_mtime_ns


@pytest.fixture(params=["delete", "wal"])
def foreign_file(request, tmp_path) -> Path:
    folder = tmp_path / "other-app"
    folder.mkdir()
    return make_foreign_file(folder / "app.db", request.param)


@pytest.fixture
def paydesk_file(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'paydesk.sqlite3'}"
    db = open_database(url)
    upgrade(db)
    db.dispose()
    return url


def one_refusal(capsys, code: int, path: Path) -> None:
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert FOREIGN_SENTENCE in captured.err and str(path) in captured.err
    assert "left untouched" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["db", "upgrade"],
        ["db", "upgrade", "--into-existing"],
        ["health"],
        ["health", "--json"],
        ["payments", "list"],
        ["staff", "list"],
        ["refunds", "list"],
    ],
    ids=lambda a: " ".join(a),
)
def test_every_command_refuses_another_applications_file_and_leaves_it_as_it_was(
    foreign_file, argv, capsys
):
    before = snapshot(foreign_file)
    code = main(["--database", f"sqlite:///{foreign_file}", *argv])
    one_refusal(capsys, code, foreign_file)
    assert snapshot(foreign_file) == before


def test_db_copy_refuses_another_applications_file_as_its_target(
    foreign_file, paydesk_file, capsys
):
    before = snapshot(foreign_file)
    code = main(["db", "copy", "--from", paydesk_file, "--to", f"sqlite:///{foreign_file}"])
    one_refusal(capsys, code, foreign_file)
    assert snapshot(foreign_file) == before
    to = f"sqlite:///{foreign_file}"
    code = main(["db", "copy", "--from", paydesk_file, "--to", to, "--force", "--yes"])
    one_refusal(capsys, code, foreign_file)
    assert snapshot(foreign_file) == before


def test_db_copy_refuses_another_applications_file_as_its_source(foreign_file, tmp_path, capsys):
    before = snapshot(foreign_file)
    target = tmp_path / "new.sqlite3"
    code = main(
        ["db", "copy", "--from", f"sqlite:///{foreign_file}", "--to", f"sqlite:///{target}"]
    )
    one_refusal(capsys, code, foreign_file)
    assert snapshot(foreign_file) == before


def test_the_apps_open_path_and_connection_dialog_refuse_it(foreign_file):
    before = snapshot(foreign_file)
    url = f"sqlite:///{foreign_file}"
    for attempt in (
        lambda: open_database(url),
        lambda: connection.test_connection(url),
        lambda: connection.save_connection(url, None),
    ):
        with pytest.raises(InputError, match=FOREIGN_SENTENCE):
            attempt()
        assert snapshot(foreign_file) == before
    # Nothing was remembered either.
    from core import settings

    assert settings.load().database_url != url


def test_a_new_or_empty_file_is_still_paydesks_new_database(tmp_path):
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    check_sqlite_path(empty)
    check_sqlite_path(tmp_path / "new.sqlite3")
    db = open_database(f"sqlite:///{empty}")
    try:
        assert upgrade(db) is True
        assert set(inspect(db.engine).get_table_names()) == PAYDESK_TABLES
    finally:
        db.dispose()


def test_paydesks_own_file_opens_while_another_copy_has_it_open(paydesk_file, capsys):
    path = Path(make_url(paydesk_file).database or "")
    running = open_database(paydesk_file)  # a copy with the file open (its -wal is there)
    try:
        with running.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert path.with_name(path.name + "-wal").exists()
        assert main(["--database", paydesk_file, "payments", "list"]) == 0
    finally:
        running.dispose()
    assert main(["--database", paydesk_file, "db", "upgrade"]) == 0
    assert "already at schema" in capsys.readouterr().out


def test_a_paydesk_file_with_extra_tables_is_still_paydesks(paydesk_file):
    path = Path(make_url(paydesk_file).database or "")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    conn.close()
    db = open_database(paydesk_file)
    try:
        assert upgrade(db) is False
    finally:
        db.dispose()


def test_a_file_with_tables_named_like_paydesks_but_no_schema_is_refused(tmp_path, capsys):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE payments (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.close()
    before = snapshot(path)
    code = main(["--database", f"sqlite:///{path}", "db", "upgrade"])
    one_refusal(capsys, code, path)
    assert snapshot(path) == before


# -- which tables are Paydesk's ----------------------------------------------------------------


def test_paydesks_tables_are_the_models_and_alembics():
    assert set(Base.metadata.tables) | {"alembic_version"} == PAYDESK_TABLES


def test_the_migrations_create_only_paydesks_tables(db):
    assert set(inspect(db.engine).get_table_names()) == PAYDESK_TABLES


# -- Postgres ----------------------------------------------------------------------------------


def schema_of(url: str) -> str:
    return make_url(url).query["options"].split("=", 1)[1]  # type: ignore[union-attr]


def superuser_sql(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(POSTGRES_URL, options=u.query["options"], autocommit=True)


@pytest.fixture
def foreign_schema(pg_schema_url) -> Iterator[str]:
    """A schema another application set up first: one table with secrets in it."""
    with superuser_sql(pg_schema_url) as conn:
        conn.execute("CREATE TABLE app_secrets (name text PRIMARY KEY, value text)")
        conn.execute("INSERT INTO app_secrets VALUES ('api_key', 'sk_live_123')")
    yield pg_schema_url


def schema_state(url: str) -> dict[str, object]:
    """Everything Paydesk could have written in the schema: its tables, their privileges,
    the schema's own privileges and default privileges."""
    schema = schema_of(url)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT c.relname, c.relacl::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1",
            (schema,),
        ).fetchall()
        nspacl = conn.execute(
            "SELECT nspacl::text FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
        defaults = conn.execute(
            "SELECT count(*) FROM pg_default_acl d "
            "JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE n.nspname = %s",
            (schema,),
        ).fetchone()
    return {"tables": tables, "nspacl": nspacl, "defaults": defaults}


@pytest.mark.parametrize(
    "argv", [["db", "upgrade"], ["payments", "list"], ["staff", "list"]], ids=" ".join
)
def test_a_schema_holding_other_tables_is_refused_and_nothing_is_written(
    foreign_schema, argv, capsys
):
    before = schema_state(foreign_schema)
    assert [name for name, _ in before["tables"]] == ["app_secrets", "app_secrets_pkey"]  # type: ignore[union-attr]
    code = main(["--database", foreign_schema, *argv])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.count("\n") == 1
    assert "already holds other tables (app_secrets)" in captured.err
    assert "--into-existing" in captured.err
    assert schema_state(foreign_schema) == before


def test_the_app_and_the_worker_refuse_it_too(foreign_schema):
    # The window and `paydesk worker` open the database and call the same upgrade.
    before = schema_state(foreign_schema)
    db = open_database(foreign_schema, use_keyring=False)
    try:
        with pytest.raises(Refused, match="already holds other tables"):
            upgrade(db)
    finally:
        db.dispose()
    with pytest.raises(Refused, match="already holds other tables"):
        connection.test_connection(foreign_schema)
    assert schema_state(foreign_schema) == before


@pytest.fixture
def logins(foreign_schema, clock) -> Iterator[Logins]:
    made = Logins(foreign_schema, clock)
    yield made
    made.close()


def privileges(conn: psycopg.Connection, table: str) -> dict[str, bool]:
    return {
        p: bool(conn.execute("SELECT has_table_privilege(%s, %s)", (table, p)).fetchone()[0])
        for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    }


def test_into_existing_sets_paydesk_up_beside_them_without_granting_on_them(
    foreign_schema, logins, capsys
):
    code = main(["--database", foreign_schema, "db", "upgrade", "--into-existing"])
    assert code == 0, capsys.readouterr()
    assert "migrated to schema" in capsys.readouterr().out
    schema = schema_of(foreign_schema)
    tables = {name for name, _ in schema_state(foreign_schema)["tables"]}  # type: ignore[union-attr]
    assert PAYDESK_TABLES | {"app_secrets"} <= tables
    # Another table the same login creates after Paydesk was set up: no default privileges.
    with superuser_sql(foreign_schema) as conn:
        conn.execute("CREATE TABLE app_users (id serial PRIMARY KEY, email text)")

    support = logins.copy("support")
    admin = logins.copy("admin")
    for ctx in (support, admin):
        with logins.sql(ctx) as conn:
            for table in ("app_secrets", "app_users"):
                assert not any(privileges(conn, f"{schema}.{table}").values()), table
            assert not conn.execute(
                "SELECT has_sequence_privilege(%s, 'USAGE')", (f"{schema}.app_users_id_seq",)
            ).fetchone()[0]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT value FROM app_secrets")
            # Paydesk's own tables are granted as before.
            assert privileges(conn, f"{schema}.payments")["SELECT"]
            assert privileges(conn, f"{schema}.refunds")["INSERT"]
    # Running the grants again (every later migration does) still leaves them alone.
    db = open_database(foreign_schema, use_keyring=False)
    try:
        with db.engine.begin() as conn:
            pgroles.apply_grants(conn)
    finally:
        db.dispose()
    with logins.sql(support) as conn:
        assert not any(privileges(conn, f"{schema}.app_secrets").values())
    # The other application's data is as it was.
    with superuser_sql(foreign_schema) as conn:
        assert conn.execute("SELECT value FROM app_secrets").fetchall() == [("sk_live_123",)]


def test_default_privileges_an_older_version_set_are_taken_back(pg_schema_url, logins):
    schema = schema_of(pg_schema_url)
    with superuser_sql(pg_schema_url) as conn:
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT {} ON TABLES TO {}").format(
                sql.Identifier(schema),
                sql.SQL("SELECT, INSERT, UPDATE, DELETE"),
                sql.SQL(pgroles.ALL_GROUPS),
            )
        )
    db = open_database(pg_schema_url, use_keyring=False)
    try:
        with db.engine.begin() as conn:
            pgroles.apply_grants(conn)
    finally:
        db.dispose()
    with superuser_sql(pg_schema_url) as conn:
        conn.execute("CREATE TABLE later_app_table (x text)")
    support = logins.copy("support")
    with logins.sql(support) as conn:
        assert not any(privileges(conn, f"{schema}.later_app_table").values())


def test_tables_named_like_paydesks_are_refused_even_into_existing(pg_schema_url, capsys):
    with superuser_sql(pg_schema_url) as conn:
        conn.execute("CREATE TABLE payments (id int PRIMARY KEY, total numeric)")
    before = schema_state(pg_schema_url)
    code = main(["--database", pg_schema_url, "db", "upgrade", "--into-existing"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "tables named like Paydesk's (payments)" in err
    assert schema_state(pg_schema_url) == before


def test_a_search_path_naming_no_schema_is_one_sentence(pg_schema_url, capsys):
    url = make_url(pg_schema_url)
    missing = url.update_query_dict({"options": "-csearch_path=paydesk_nowhere_x"})
    code = main(["--database", missing.render_as_string(hide_password=False), "db", "upgrade"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "names no schema that exists" in err and "CREATE SCHEMA" in err


def test_an_empty_schema_of_its_own_is_set_up_without_asking(pg_schema_url, capsys):
    # The documented way: CREATE SCHEMA paydesk; ?options=-csearch_path%3Dpaydesk
    assert main(["--database", pg_schema_url, "db", "upgrade"]) == 0
    assert "migrated to schema" in capsys.readouterr().out
