"""Passwords in database URLs: masked wherever a URL is shown (the login's, one with an unescaped
``@``, and ``password`` query parameters), and never written to the settings file."""

from __future__ import annotations

import json
import logging
import tomllib

import pytest

from core import settings
from core.cli import main
from core.clock import system_clock
from core.errors import DatabaseUnavailable, InputError
from core.health.quick import light_check
from core.store import connection, dburl
from core.store.db import open_database
from core.store.migrate import upgrade

MASK_TABLE = [
    ("postgresql://bob:hunter2@db.example/paydesk", "postgresql://bob:***@db.example/paydesk"),
    (
        "postgres://bob:hunter2@db.example:5433/paydesk",
        "postgresql://bob:***@db.example:5433/paydesk",
    ),
    ("postgresql+psycopg://bob:hunter2@h/db", "postgresql://bob:***@h/db"),
    # The last @ before the query separates the login from the host.
    ("postgresql://bob:p@ss@db.example/paydesk", "postgresql://bob:***@db.example/paydesk"),
    ("postgresql://bob:a@b@c@db.example/paydesk", "postgresql://bob:***@db.example/paydesk"),
    ("postgresql://bob:p%40ss@db.example/paydesk", "postgresql://bob:***@db.example/paydesk"),
    ("postgresql://bob:p/ss@db.example/paydesk", "postgresql://bob:***@db.example/paydesk"),
    ("postgresql://bob:se:cret@db.example/paydesk", "postgresql://bob:***@db.example/paydesk"),
    (
        "postgresql://bob@db.example/paydesk?password=hunter2",
        "postgresql://bob@db.example/paydesk?password=***",
    ),
    (
        "postgresql://bob@db.example/paydesk?PassWord=hunter2&sslmode=require",
        "postgresql://bob@db.example/paydesk?PassWord=***&sslmode=require",
    ),
    (
        "postgresql://bob@db.example/paydesk?sslmode=require&password=hunter2",
        "postgresql://bob@db.example/paydesk?password=***&sslmode=require",
    ),
    (
        "postgresql://bob@db.example/paydesk?sslpassword=hunter2&sslkey=/k.pem",
        "postgresql://bob@db.example/paydesk?sslkey=%2Fk.pem&sslpassword=***",
    ),
    (
        "postgresql://bob:p@ss@db.example/paydesk?password=hunter2",
        "postgresql://bob:***@db.example/paydesk?password=***",
    ),
    ("postgresql://bob@db.example/paydesk", "postgresql://bob@db.example/paydesk"),
    ("sqlite:///tmp/paydesk.sqlite3", "sqlite:///tmp/paydesk.sqlite3"),
]
SECRETS = ("hunter2", "p@ss", "ss@", "a@b", "se:cret", "p/ss", "p%40ss")


@pytest.mark.parametrize(("raw", "shown"), MASK_TABLE)
def test_mask_hides_every_password(raw, shown):
    assert dburl.parse(raw).masked() == shown
    # A string is shown with the scheme it was written with.
    assert dburl.mask(raw).partition("://")[2] == shown.partition("://")[2]
    for secret in SECRETS:
        assert secret not in dburl.mask(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://bob:hunter2@db.example:notaport/paydesk",
        "postgresql://bob:p@ss@db.example:x/paydesk?password=hunter2",
        "not a url://bob:hunter2@h/db?password=hunter2",
    ],
)
def test_what_does_not_parse_is_masked_too(raw):
    shown = dburl.mask_text(raw)
    assert "hunter2" not in shown and "ss@" not in shown
    with pytest.raises(InputError) as err:
        dburl.parse(raw)
    assert "hunter2" not in err.value.message and "ss@" not in err.value.message


def test_a_password_with_an_unescaped_at_reaches_the_server_whole():
    target = dburl.parse("postgresql://bob:p@ss@db.example:5433/paydesk")
    assert target.url.password == "p@ss"
    assert target.url.host == "db.example"
    assert target.url.port == 5433
    assert target.describe() == "Shared · db.example:5433/paydesk"
    assert target.keyring_account == "bob@db.example:5433/paydesk"


def test_the_error_sentence_of_a_password_with_an_unescaped_at_has_no_part_of_it(caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseUnavailable) as err:
        open_database("postgresql://bob:p@ss@127.0.0.1:1/db")
    sentence = err.value.message
    assert "127.0.0.1:1" in sentence
    for secret in ("p@ss", "ss@", "ss@127"):
        assert secret not in sentence
        assert secret not in caplog.text


def test_the_cli_error_sentence_has_no_part_of_the_password(capsys):
    code = main(["--database", "postgresql://bob:p@ss@127.0.0.1:1/db", "payments", "list"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "ss@" not in out + err and "p@ss" not in out + err
    assert err.strip().count("\n") == 0  # one sentence


def test_a_driver_message_quoting_the_password_is_scrubbed():
    url = dburl.parse("postgresql://bob@h/db?password=hunter2").url
    assert dburl.scrub('bad value "hunter2" here', url) == 'bad value "***" here'


def test_strip_password_removes_the_login_and_query_passwords():
    stripped = dburl.strip_password(
        "postgresql://bob:p@ss@db.example/paydesk?password=hunter2&sslmode=require"
    )
    assert stripped == "postgresql://bob@db.example/paydesk?sslmode=require"


@pytest.fixture
def query_password_url(pg_schema_url) -> str:
    """The test schema's URL with a password in the query (the test server trusts every login,
    so the connection works and the password must merely never be shown)."""
    return f"{pg_schema_url}&password=hunter2"


@pytest.mark.parametrize("as_json", [False, True])
def test_health_never_prints_a_query_password(query_password_url, capsys, as_json):
    for migrated in (False, True):  # the full check, then the driver-only light check
        if migrated:
            db = open_database(query_password_url)
            upgrade(db)
            db.dispose()
        argv = ["--database", query_password_url, "health"] + (["--json"] if as_json else [])
        main(argv)
        out, err = capsys.readouterr()
        assert "hunter2" not in out + err
        assert "password=***" in out
        if as_json:
            assert json.loads(out)["database"]["target"].endswith("password=***")


def test_the_light_health_check_masks_a_query_password(query_password_url):
    db = open_database(query_password_url)
    upgrade(db)
    full = db.target.masked()
    db.dispose()
    report = light_check(query_password_url, system_clock.now())
    assert report is not None
    assert report.database == full  # as the full check shows it
    assert "hunter2" not in json.dumps(report.as_dict(), default=str)


def test_the_connection_report_masks_a_query_password(query_password_url):
    report = connection.test_connection(query_password_url)
    assert "hunter2" not in report.url and "password=***" in report.url


def _settings_text() -> str:
    return settings.settings_path().read_text(encoding="utf-8")


def test_a_query_password_is_saved_to_the_keyring_and_not_to_settings(isolated_environment):
    saved = connection.save_connection(
        "postgresql://ana@db.internal/paydesk?password=hunter2&sslmode=require", None
    )
    assert saved.password_in == "keyring"
    assert isolated_environment.store[("Paydesk", "ana@db.internal:5432/paydesk")] == "hunter2"
    assert "hunter2" not in saved.url and "hunter2" not in _settings_text()
    assert tomllib.loads(_settings_text())["database_url"] == (
        "postgresql://ana@db.internal/paydesk?sslmode=require"
    )


def test_a_password_with_an_unescaped_at_is_saved_whole_to_the_keyring(isolated_environment):
    saved = connection.save_connection("postgresql://ana:p@ss@db.internal/paydesk", None)
    assert isolated_environment.store[("Paydesk", "ana@db.internal:5432/paydesk")] == "p@ss"
    assert saved.url == "postgresql://ana@db.internal/paydesk"
    assert "ss@" not in _settings_text() and "p@ss" not in _settings_text()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ana:hunter2@db.internal/paydesk",
        "postgresql://ana@db.internal/paydesk?password=hunter2",
        "postgresql://ana@db.internal/paydesk?PASSWORD=hunter2",
        "postgresql://ana:p@ss@db.internal/paydesk?sslpassword=hunter2",
    ],
)
def test_settings_save_never_writes_a_password(url):
    settings.save(settings.Settings(database_url=url))
    text = _settings_text()
    assert "hunter2" not in text and "p@ss" not in text and "ss@" not in text
    assert tomllib.loads(text)["database_url"].startswith("postgresql://ana@db.internal/paydesk")


def test_a_query_password_counts_as_given_and_the_keyring_is_not_asked(isolated_environment):
    target = dburl.parse("postgresql://ana@db.internal/paydesk?password=hunter2")
    isolated_environment.store[("Paydesk", target.keyring_account)] = "from-keyring"
    assert dburl.with_password(target).url.password is None  # the query's password is used


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
@pytest.mark.parametrize("command", [["staff", "list"], ["health"], ["health", "--json"]])
def test_an_sqlite_url_without_a_file_is_one_sentence_and_exit_2(url, command, capsys):
    code = main(["--database", url, *command])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.strip().count("\n") == 0 and "names no database file" in err
    assert "Traceback" not in err


def test_the_light_health_check_hides_the_same_query_parameters():
    from core.health import quick as health_light

    assert set(health_light.PASSWORD_PARAMS) == dburl.PASSWORD_PARAMS
