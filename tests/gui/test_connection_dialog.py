"""The Connection dialog driven as a person would: test a server, save it (password to the
keyring, or memory when there is none; never to the settings file), refuse incomplete forms
and unusable databases, and move a standalone file into shared Postgres."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtWidgets import QApplication
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core import settings
from core.context import Context
from core.store import passwords
from core.store.db import open_database
from core.store.migrate import upgrade
from desktop.connection.dialog import NO_KEYRING_NOTE, ConnectionDialog
from desktop.connection.move_dialog import MoveDialog
from desktop.shell.runner import TaskRunner
from tests.conftest import POSTGRES_URL, require_postgres
from tests.test_refunds import add_payment, add_staff, request

pytestmark = pytest.mark.gui

SECRET = "s3cret-Pa55"


@pytest.fixture
def runner() -> Iterator[TaskRunner]:
    r = TaskRunner()
    yield r
    r.wait(10_000)
    QApplication.processEvents()


def make_dialog(qtbot, runner: TaskRunner, current: str | None = None) -> ConnectionDialog:
    dialog = ConnectionDialog(runner, current)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def fill_shared(dialog: ConnectionDialog, qtbot, *, port: int, password: str = "") -> None:
    pg = make_url(POSTGRES_URL)
    dialog.shared_choice.click()
    qtbot.keyClicks(dialog.host_edit, pg.host or "127.0.0.1")
    dialog.port_edit.setText(str(port))
    qtbot.keyClicks(dialog.database_edit, pg.database or "test")
    qtbot.keyClicks(dialog.user_edit, pg.username or "postgres")
    if password:
        qtbot.keyClicks(dialog.password_edit, password)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_text() -> str:
    path = settings.settings_path()
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_test_connection_reports_the_postgres_server_version_and_round_trip(qtbot, runner):
    require_postgres()
    dialog = make_dialog(qtbot, runner)
    fill_shared(dialog, qtbot, port=make_url(POSTGRES_URL).port or 5432)

    with qtbot.waitSignal(dialog.testFinished, timeout=15_000) as done:
        dialog.test_button.click()

    ok, line = done.args
    assert ok, line
    assert re.match(r"Connected: PostgreSQL \d+(\.\d+)? · \d+\.\d ms round trip · ", line)
    assert dialog.result_label.text() == line
    assert not settings.settings_path().exists()  # a test saves nothing


def test_test_connection_to_a_closed_port_says_so_in_one_sentence(qtbot, runner, closed_port):
    dialog = make_dialog(qtbot, runner)
    fill_shared(dialog, qtbot, port=closed_port)

    with qtbot.waitSignal(dialog.testFinished, timeout=15_000) as done:
        dialog.test_button.click()

    ok, line = done.args
    assert not ok
    assert line == (
        f"Nothing is accepting connections at 127.0.0.1:{closed_port}; "
        "is the database server running?"
    )
    assert dialog.result_label.text() == line


def test_save_keeps_the_password_in_the_keyring_and_out_of_the_settings_file(
    qtbot, runner, isolated_environment
):
    require_postgres()
    dialog = make_dialog(qtbot, runner)
    fill_shared(dialog, qtbot, port=make_url(POSTGRES_URL).port or 5432, password=SECRET)
    assert not dialog.keyring_note.isVisible()
    assert SECRET not in dialog.url_label.text() and "***" in dialog.url_label.text()

    with qtbot.waitSignal(dialog.saveFinished, timeout=15_000) as done:
        dialog.save_button.click()

    ok, line = done.args
    assert ok, line
    assert "system keyring" in line and SECRET not in line
    account = "postgres@127.0.0.1:5432/test"
    assert isolated_environment.store[("Paydesk", account)] == SECRET
    stored = settings_text()
    assert SECRET not in stored
    assert settings.load().database_url == "postgresql://postgres@127.0.0.1:5432/test"
    assert dialog.chosen_url == "postgresql://postgres@127.0.0.1:5432/test"
    assert dialog.password_changed
    assert dialog.result() == ConnectionDialog.DialogCode.Accepted


def test_without_a_keyring_the_dialog_says_so_and_the_password_stays_in_memory(
    qtbot, runner, isolated_environment
):
    require_postgres()
    keyring.set_keyring(fail.Keyring())  # the autouse fixture puts the test keyring back
    dialog = make_dialog(qtbot, runner)
    fill_shared(dialog, qtbot, port=make_url(POSTGRES_URL).port or 5432, password=SECRET)

    assert dialog.keyring_note.isVisible()
    assert dialog.keyring_note.text() == NO_KEYRING_NOTE

    with qtbot.waitSignal(dialog.saveFinished, timeout=15_000) as done:
        dialog.save_button.click()

    ok, line = done.args
    assert ok, line
    assert "kept in memory until Paydesk quits" in line
    assert passwords._memory == {"postgres@127.0.0.1:5432/test": SECRET}
    assert isolated_environment.store == {}
    assert SECRET not in settings_text()


def test_an_incomplete_form_is_refused_with_a_sentence_and_nothing_is_saved(qtbot, runner):
    dialog = make_dialog(qtbot, runner)
    dialog.shared_choice.click()
    qtbot.keyClicks(dialog.host_edit, "127.0.0.1")
    qtbot.keyClicks(dialog.user_edit, "bob")

    with qtbot.waitSignal(dialog.saveFinished, timeout=5_000) as done:
        dialog.save_button.click()

    assert done.args == [False, "Enter the name of the database."]
    assert dialog.result_label.text() == "Enter the name of the database."
    assert not settings.settings_path().exists()
    assert dialog.isVisible()


def test_a_server_that_does_not_answer_is_not_saved(qtbot, runner, closed_port):
    dialog = make_dialog(qtbot, runner)
    fill_shared(dialog, qtbot, port=closed_port, password=SECRET)

    with qtbot.waitSignal(dialog.saveFinished, timeout=15_000) as done:
        dialog.save_button.click()

    assert done.args[0] is False
    assert done.args[1].startswith("Nothing is accepting connections")
    assert not settings.settings_path().exists()
    assert passwords._memory == {}
    assert dialog.chosen_url is None


def test_another_standalone_file_is_tested_and_saved_as_the_database(qtbot, runner, tmp_path):
    current = f"sqlite:///{tmp_path / 'current.sqlite3'}"
    other = tmp_path / "other.sqlite3"
    dialog = make_dialog(qtbot, runner, current)
    assert dialog.standalone_choice.isChecked()
    assert dialog.file_edit.text() == str(tmp_path / "current.sqlite3")

    dialog.set_file(other)
    with qtbot.waitSignal(dialog.testFinished, timeout=15_000) as tested:
        dialog.test_button.click()
    assert tested.args[0] is True
    assert tested.args[1].startswith("Connected: SQLite 3.")

    with qtbot.waitSignal(dialog.saveFinished, timeout=15_000):
        dialog.save_button.click()
    assert dialog.chosen_url == f"sqlite:///{other}"
    assert settings.load().database_url == f"sqlite:///{other}"
    assert not other.exists()  # testing and saving create nothing; opening does


def test_a_database_from_a_newer_paydesk_asks_to_update_paydesk(qtbot, runner, tmp_path):
    path = tmp_path / "future.sqlite3"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    with db.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    db.dispose()
    dialog = make_dialog(qtbot, runner)
    dialog.set_file(path)

    with qtbot.waitSignal(dialog.saveFinished, timeout=15_000) as done:
        dialog.save_button.click()

    assert done.args[0] is False
    assert done.args[1].startswith("Update Paydesk to use this database")
    assert not settings.settings_path().exists()


def test_the_move_button_shows_only_for_a_standalone_database(qtbot, runner, tmp_path):
    standalone = make_dialog(qtbot, runner, f"sqlite:///{tmp_path / 'a.sqlite3'}")
    standalone.shared_choice.click()
    assert standalone.move_button.isVisible()
    shared = make_dialog(qtbot, runner, POSTGRES_URL)
    assert shared.shared_choice.isChecked()
    assert not shared.move_button.isVisible()


def test_moving_a_standalone_file_to_postgres_copies_it_and_offers_to_switch(
    qtbot, runner, tmp_path, pg_schema_url
):
    source = f"sqlite:///{tmp_path / 'standalone.sqlite3'}"
    db = open_database(source)
    upgrade(db)
    ctx = Context(db=db, client_id="seeder")
    add_staff(ctx)
    request(ctx, add_payment(ctx), amount=1_000)
    db.dispose()

    dialog = MoveDialog(runner, source, pg_schema_url)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.copyFinished, timeout=60_000) as done:
        dialog.copy_button.click()

    ok, line = done.args
    assert ok, line
    assert "row counts and money totals match" in line
    assert dialog.report is not None and dialog.report.table("refunds").rows == 1
    assert dialog.switch_button.isVisible()
    dialog.switch_button.click()
    assert dialog.switch_requested

    again = MoveDialog(runner, source, pg_schema_url)
    qtbot.addWidget(again)
    with qtbot.waitSignal(again.copyFinished, timeout=60_000) as refused:
        again.copy_button.click()
    assert refused.args[0] is False  # the target holds data now
    assert not again.switch_button.isVisible()


def test_same_database_ignores_passwords_default_ports_and_spelling_of_paths(tmp_path):
    from desktop.connection.dialog import same_database

    assert same_database(
        "postgresql://bob:pw@db.lan/paydesk", "postgresql+psycopg://bob@db.lan:5432/paydesk"
    )
    assert not same_database("postgresql://bob@db.lan/paydesk", "postgresql://ana@db.lan/paydesk")
    assert not same_database("postgresql://bob@db.lan/paydesk", "postgresql://bob@db.lan/other")
    assert same_database(f"sqlite:///{tmp_path}/x/../a.sqlite3", f"sqlite:///{tmp_path}/a.sqlite3")
    assert not same_database(f"sqlite:///{tmp_path}/a.sqlite3", "postgresql://bob@db.lan/a")
    assert not same_database(None, f"sqlite:///{tmp_path}/a.sqlite3")
