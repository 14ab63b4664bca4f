"""The main window around its database: opening through the Launcher, switching to another
database without a restart, refusing a schema newer than the app, presence in the status bar,
and other copies' change notices reaching this copy's ChangeBridge on Postgres."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication
from sqlalchemy import text

from core.context import Context
from core.jobs.presence import heartbeat
from core.store import notify
from core.store.db import Database, open_database
from core.store.migrate import upgrade
from desktop.shell.app import Launcher
from desktop.shell.main_window import MainWindow
from desktop.shell.runner import TaskRunner
from tests.test_refunds import add_payment, add_staff, request

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:
    runner = TaskRunner()
    win = MainWindow(runner)
    qtbot.addWidget(win)
    win.resize(1200, 760)
    win.show()
    yield win
    win.shutdown()
    runner.wait(10_000)
    QApplication.processEvents()


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seeded(url: str) -> tuple[Database, str]:
    """A migrated database at ``url`` with staff and one refund awaiting approval."""
    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db, client_id="seeder")
    add_staff(ctx)
    refund = request(ctx, add_payment(ctx), amount=1_000)
    return db, refund.id


def open_in(qtbot, window: MainWindow, url: str, **kw) -> Launcher:
    launcher = Launcher(window, url, view="refunds", **kw)
    with qtbot.waitSignal(launcher.ready, timeout=30_000):
        launcher.start()
    return launcher


def refunds_shown(window: MainWindow) -> set[str]:
    view = window.view("refunds")
    if view is None or not getattr(view, "is_loaded", False):
        return set()
    return view.model.ids()


def test_switching_to_another_sqlite_file_shows_its_data_without_a_restart(
    qtbot, window, tmp_path, monkeypatch
):
    monkeypatch.setenv("PAYDESK_ACTOR", "bob")  # finance: the queue shows pending refunds
    url_a = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    url_b = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    db_a, refund_a = seeded(url_a)
    db_b, refund_b = seeded(url_b)
    db_a.dispose()
    db_b.dispose()

    launcher = open_in(qtbot, window, url_a)
    qtbot.waitUntil(lambda: refunds_shown(window) == {refund_a}, timeout=10_000)
    first_view = window.view("refunds")
    old_scheduler = launcher.services.scheduler
    assert old_scheduler is not None and old_scheduler.running

    with qtbot.waitSignal(launcher.ready, timeout=30_000):
        window.switchRequested.emit(url_b)
    qtbot.waitUntil(lambda: refunds_shown(window) == {refund_b}, timeout=10_000)

    assert window.view("refunds") is not first_view
    assert not old_scheduler.running
    assert launcher.services.scheduler.running
    assert str(tmp_path / "b.sqlite3") in window.mode_label.text()
    assert window.current_url == url_b
    assert window.nav.isEnabled() and window.stack.isEnabled()


def test_a_database_set_up_by_a_newer_paydesk_is_not_opened(qtbot, window, tmp_path):
    url = f"sqlite:///{tmp_path / 'future.sqlite3'}"
    db = open_database(url)
    upgrade(db)
    with db.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    db.dispose()

    launcher = Launcher(window, url, view="refunds")
    with qtbot.waitSignal(launcher.failed, timeout=30_000) as failed:
        launcher.start()

    sentence = failed.args[0]
    assert sentence.startswith("Update Paydesk to use this database")
    assert window.services is None and launcher.services is None
    assert not window.nav.isEnabled()
    assert window.startup.text.text() == sentence
    assert window.startup.connection_button.isVisible()


def test_a_server_that_refuses_shows_one_sentence_and_try_again(qtbot, window, free_port):
    url = f"postgresql://nobody@127.0.0.1:{free_port}/paydesk"
    launcher = Launcher(window, url, view="refunds")
    with qtbot.waitSignal(launcher.failed, timeout=30_000) as failed:
        launcher.start()
    assert failed.args[0] == (
        f"Nothing is accepting connections at 127.0.0.1:{free_port}; "
        "is the database server running?"
    )
    assert window.startup.retry_button.isVisible()
    with qtbot.waitSignal(launcher.failed, timeout=30_000):
        window.startup.retry_button.click()


def test_standalone_status_bar_has_no_presence(qtbot, window, tmp_path):
    open_in(qtbot, window, f"sqlite:///{tmp_path / 'one.sqlite3'}", start_scheduler=False)
    assert not window.presence_label.isVisible()
    assert window.mode_label.text().startswith("Standalone")


def test_shared_status_bar_counts_staff_machines_online(qtbot, window, pg_schema_url):
    db = open_database(pg_schema_url)
    upgrade(db)
    heartbeat(Context(db=db, client_id="desk-ana"))
    heartbeat(Context(db=db, client_id="desk-bob"))
    heartbeat(Context(db=db, client_id="box-worker", kind="worker"))
    db.dispose()

    launcher = open_in(qtbot, window, pg_schema_url)
    scheduler = launcher.services.scheduler
    # Once this copy has beaten too, it counts itself.
    qtbot.waitUntil(lambda: scheduler.state("heartbeat").runs >= 1, timeout=10_000)
    window.refresh_presence()
    qtbot.waitUntil(
        lambda: window.presence_label.text() == "3 staff machines online · 1 worker",
        timeout=10_000,
    )
    assert window.presence_label.isVisible()
    assert window.mode_label.text().startswith("Shared")


def test_change_bridge_hears_a_change_committed_by_another_copy(qtbot, window, pg_schema_url):
    launcher = open_in(qtbot, window, pg_schema_url, start_scheduler=False)
    listener = window.listener
    assert listener is not None
    qtbot.waitUntil(lambda: listener.connected, timeout=10_000)
    bridge = launcher.services.changes

    other = open_database(pg_schema_url)  # another copy's database, its own connections
    try:
        notice = notify.Notice("refunds", ("rfnd_from_elsewhere",), "approved", "other-copy")
        with (
            qtbot.waitSignal(
                bridge.changed,
                timeout=10_000,
                check_params_cb=lambda table, ids, _s: (
                    table == "refunds" and "rfnd_from_elsewhere" in ids
                ),
            ) as heard,
            other.write() as session,
        ):
            session.execute(
                text(f"SELECT pg_notify({notify.CHANNEL_OF_SCHEMA}, :p)"), {"p": notice.encode()}
            )
        assert heard.args[2] == ("approved",)
    finally:
        other.dispose()


def test_switching_away_from_postgres_releases_the_listener(qtbot, window, pg_schema_url, tmp_path):
    launcher = open_in(qtbot, window, pg_schema_url, start_scheduler=False)
    listener = window.listener
    assert listener is not None and listener in [held for held, _n in notify._shared.values()]

    with qtbot.waitSignal(launcher.ready, timeout=30_000):
        window.switchRequested.emit(f"sqlite:///{tmp_path / 'local.sqlite3'}")

    assert window.listener is None
    assert listener not in [held for held, _n in notify._shared.values()]


def test_first_run_is_when_nothing_names_a_database(monkeypatch):
    from argparse import Namespace

    from core import settings
    from desktop.shell.app import _first_run

    plain = Namespace(database=None, demo=False)
    assert _first_run(plain)
    assert not _first_run(Namespace(database="sqlite:///x.sqlite3", demo=False))
    assert not _first_run(Namespace(database=None, demo=True))
    monkeypatch.setenv("PAYDESK_DATABASE_URL", "sqlite:///x.sqlite3")
    assert not _first_run(plain)
    monkeypatch.delenv("PAYDESK_DATABASE_URL")
    settings.save(settings.Settings(database_url="sqlite:///x.sqlite3"))
    assert not _first_run(plain)


def test_saving_in_the_first_run_dialog_opens_the_chosen_file(qtbot, window, tmp_path):
    chosen = tmp_path / "chosen.sqlite3"
    launcher = Launcher(window, f"sqlite:///{tmp_path / 'default.sqlite3'}", view="refunds")
    dialog = window.open_connection_dialog(first_run=True, on_cancel=launcher.start)
    assert dialog.cancel_button.text() == "Not now"
    dialog.set_file(chosen)

    with qtbot.waitSignal(launcher.ready, timeout=30_000):
        dialog.save_button.click()

    assert window.current_url == f"sqlite:///{chosen}"
    assert chosen.exists()
    assert str(chosen) in window.mode_label.text()


def test_an_unknown_password_for_a_server_that_fails_opens_the_connection_dialog(
    qtbot, window, free_port
):
    url = f"postgresql://clerk@127.0.0.1:{free_port}/paydesk"
    launcher = Launcher(window, url, view="refunds", interactive=True)
    with qtbot.waitSignal(launcher.failed, timeout=30_000) as failed:
        launcher.start()

    dialog = window.connection_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.user_edit.text() == "clerk"
    assert dialog.result_label.text() == failed.args[0]
    dialog.reject()


def test_saving_the_database_already_open_does_not_reopen_it(qtbot, window, tmp_path):
    url = f"sqlite:///{tmp_path / 'open.sqlite3'}"
    open_in(qtbot, window, url, start_scheduler=False)
    services = window.services
    dialog = window.open_connection_dialog()
    assert dialog.file_edit.text() == str(tmp_path / "open.sqlite3")

    with qtbot.assertNotEmitted(window.switchRequested), qtbot.waitSignal(dialog.finished):
        dialog.save_button.click()

    assert window.services is services


@pytest.fixture
def held_scheduler(monkeypatch):
    """Scheduler.start waits until the test releases it; the schedulers made are recorded."""
    from core.jobs.scheduler import Scheduler

    release = threading.Event()
    made: list[Scheduler] = []
    real_start = Scheduler.start

    def held_start(self: Scheduler) -> None:
        made.append(self)
        release.wait(20)
        real_start(self)

    monkeypatch.setattr(Scheduler, "start", held_start)
    yield release, made
    release.set()


def test_the_first_view_shows_its_rows_before_the_scheduler_runs(
    qtbot, window, tmp_path, monkeypatch, held_scheduler
):
    monkeypatch.setenv("PAYDESK_ACTOR", "bob")
    release, made = held_scheduler
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    db, refund_id = seeded(url)
    db.dispose()
    launcher = Launcher(window, url, view="refunds")
    ready = []
    launcher.ready.connect(ready.append)
    with qtbot.waitSignal(launcher.opened, timeout=30_000):
        launcher.start()
    qtbot.waitUntil(lambda: refunds_shown(window) == {refund_id}, timeout=10_000)
    assert window.scheduler_label.text() == "Scheduler: starting…"
    assert launcher.services.scheduler is None and not ready
    release.set()
    qtbot.waitUntil(lambda: bool(ready), timeout=10_000)
    assert launcher.services.scheduler is made[0] and made[0].running
    assert window.scheduler_label.text().startswith("Scheduler: running")


def test_a_jobs_view_opened_while_the_scheduler_starts_lists_its_tasks_once_it_runs(
    qtbot, window, tmp_path, held_scheduler
):
    release, _made = held_scheduler
    launcher = Launcher(window, f"sqlite:///{tmp_path / 'a.sqlite3'}", view="jobs")
    with qtbot.waitSignal(launcher.opened, timeout=30_000):
        launcher.start()
    jobs = window.view("jobs")
    qtbot.waitUntil(lambda: jobs.is_loaded, timeout=10_000)
    assert jobs.model.rowCount() == 0
    with qtbot.waitSignal(launcher.ready, timeout=30_000):
        release.set()
    qtbot.waitUntil(lambda: jobs.model.rowCount() > 0, timeout=10_000)
    assert jobs.model.row_of("heartbeat") >= 0


def test_closing_while_the_scheduler_starts_leaves_it_stopped(qtbot, tmp_path, held_scheduler):
    release, made = held_scheduler
    runner = TaskRunner()
    win = MainWindow(runner)
    qtbot.addWidget(win)
    win.show()
    launcher = Launcher(win, f"sqlite:///{tmp_path / 'a.sqlite3'}", view="payments")
    with qtbot.waitSignal(launcher.opened, timeout=30_000):
        launcher.start()
    qtbot.waitUntil(lambda: bool(made), timeout=10_000)
    # The start goes on while the window closes; closing waits for it, then stops it.
    releaser = threading.Timer(0.2, release.set)
    releaser.start()
    win.shutdown()
    releaser.join()
    assert made[0].states() and not made[0].running
    runner.wait(10_000)
