"""The desktop app: ``run(args)`` is what ``paydesk`` does without a subcommand.

The window shows at once; the database is opened, migrated (and with ``--demo`` seeded) in the
pool, then the scheduler starts and the views are built. ``--screenshot`` and ``--self-test``
run the same sequence offscreen. ``PAYDESK_STARTUP_PROBE=1`` prints when the window was first
shown and when its first view had data, then quits (used by bench/cold_start.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QWidget

from core import errors, paths, settings
from core.errors import DatabaseUnavailable, InputError, PaydeskError, SchemaTooNew
from desktop.shell import theme, views, window_state
from desktop.shell.main_window import DetachedSession, MainWindow, close_session
from desktop.shell.runner import ProgressRelay, TaskRunner
from desktop.shell.views import AppServices

log = logging.getLogger(__name__)

WINDOW_SIZE = (1280, 800)
HEADLESS_TIMEOUT_MS = 120_000
DEMO_PAYMENTS = 20_000


def make_application() -> QApplication:
    """The QApplication with Paydesk's name, icon, style and light/dark following the system."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Paydesk")
    app.setApplicationDisplayName("Paydesk")
    app.setOrganizationName("Paydesk")
    app.setDesktopFileName("paydesk")
    app.setStyle("Fusion")
    if not hasattr(app, "_paydesk_theme"):
        app._paydesk_theme = theme.ThemeWatcher(app)  # type: ignore[attr-defined]
    app.setWindowIcon(theme.app_icon())
    from desktop.shell import grouping

    grouping.apply_saved()  # rupees grouped one way in every table, tile and axis
    return app


@dataclass
class _Opened:
    ctx: Any
    listener: Any  # core.store.notify.Listener (shared mode) or None


class PasswordNeeded(DatabaseUnavailable):
    """The login has no password in the URL, the keyring or memory, and the server wanted one."""


class Launcher(QObject):
    """Opens the database off the UI thread, seeds the demo if asked, hands the window its
    services, then starts the scheduler. ``switch(url)`` closes the open database (off the UI
    thread too) and opens another; the window asks for it with ``switchRequested``.

    The window gets the database as soon as it is open (``opened``): building the scheduler's
    tasks loads the webhook client and APScheduler, a fifth of a second that the first view's
    rows need not wait for. ``ready`` follows once the scheduler runs (or failed to start)."""

    opened = Signal(object)  # AppServices: the window has the database; views can load
    ready = Signal(object)  # AppServices, scheduler included
    failed = Signal(str)

    def __init__(
        self,
        window: MainWindow,
        url: str,
        *,
        demo: bool = False,
        start_scheduler: bool = True,
        view: str | None = None,
        interactive: bool = False,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.url = url
        self.demo = demo
        self.start_scheduler = start_scheduler
        self.view = view
        self.interactive = interactive  # may open dialogs (never offscreen)
        self.services: AppServices | None = None
        self._opening = False
        self._next_url: str | None = None
        window.current_url = url
        window.switchRequested.connect(self.switch)

    def start(self, url: str | None = None) -> None:
        """Open ``url`` (default: the one given at construction) with nothing open yet."""
        self._begin(url or self.url, None)

    def switch(self, url: str) -> None:
        """Close what is open and open ``url``, without restarting the app."""
        if self._opening:
            self._next_url = url  # opened as soon as the current opening is done
            return
        detached = self.window.take_services()
        self.services = None
        self._begin(url, detached)

    def _begin(self, url: str, detached: DetachedSession | None) -> None:
        from core.store.dburl import mask

        self.url = url
        self.window.current_url = url
        self._opening = True
        self.window.show_startup_progress("Opening database…", mask(url))
        relay = ProgressRelay(self)
        relay.changed.connect(self._progress)

        def work() -> _Opened:
            if detached is not None:
                close_session(detached)
            return self._open(url, relay.report)

        def done(opened: _Opened) -> None:
            self._retire(detached)
            self._opened(opened)

        def failed(exc: BaseException) -> None:
            self._retire(detached)
            self._failed(exc)

        self.window.runner.submit(work, done, failed, key="startup")

    def _retire(self, detached: DetachedSession | None) -> None:
        if detached is not None:
            if detached.services.runner is not self.window.runner:
                detached.services.runner.deleteLater()
            if detached.services.changes is not None:
                detached.services.changes.deleteLater()

    def _open(self, url: str, report: Callable[..., None]) -> _Opened:
        # Runs in the pool: heavy modules (Alembic) are imported here, not at startup, so the
        # window is up before they load.
        from core.context import Context
        from core.store import dburl, notify, passwords
        from core.store.db import open_database
        from core.store.migrate import upgrade

        target = dburl.parse(url)
        unknown_password = bool(
            target.is_postgres
            and target.url.username
            and not target.url.password
            and passwords.get_password(target.keyring_account) is None
        )
        try:
            db = open_database(url)
        except DatabaseUnavailable as exc:
            if unknown_password:
                raise PasswordNeeded(exc.message) from None
            raise
        try:
            report(("Updating the database…", 0, 0))
            try:
                upgrade(db)
            except SchemaTooNew:
                raise SchemaTooNew(
                    f"Update Paydesk to use this database: {target.masked()} was set up by a "
                    "newer version, so nothing was opened."
                ) from None
            ctx = Context(db=db)
            # The first person to open an empty database becomes its admin.
            from core.access.roles import ensure_first_admin

            ensure_first_admin(ctx, ctx.default_actor())
            if self.demo:
                self._seed_demo_if_empty(ctx, report)
        except BaseException:
            db.dispose()
            raise
        listener = None
        if db.is_postgres:
            # Other copies' changes reach the views through this copy's one listener.
            conninfo = notify.listener_conninfo(db.engine.url)
            listener = notify.acquire_listener(conninfo, ctx.client_id)
        return _Opened(ctx, listener)

    @staticmethod
    def _seed_demo_if_empty(ctx: Any, report: Callable[..., None]) -> None:
        from core.demo import generator as demo
        from core.payments.listing import has_payments

        if has_payments(ctx.db):
            return

        def progress(stage: str, done: int, total: int) -> None:
            report((f"Loading demo data: {stage}…", done, total))

        demo.seed(
            ctx.db,
            payments=DEMO_PAYMENTS,
            seed=1,
            now=ctx.clock.now(),
            progress=progress,
        )

    def _progress(self, report: Any) -> None:
        title, done, total = report
        self.window.show_startup_progress(title, "", int(done), int(total))

    def _opened(self, opened: _Opened) -> None:
        if self._next_url is not None:
            # A switch was asked for while this one opened: close this one right away.
            self._opening = False
            url, self._next_url = self._next_url, None
            self.window.set_services(
                self._make_services(opened), self.view, listener=opened.listener
            )
            self.switch(url)
            return
        services = self.services = self._make_services(opened)
        self.window.set_services(services, self.view, listener=opened.listener)
        self.opened.emit(services)
        if self.start_scheduler:
            self._start_scheduler(services)  # still opening: a switch waits for it
        else:
            self._opening = False
            self.ready.emit(services)

    def _start_scheduler(self, services: AppServices) -> None:
        self.window.scheduler_starting()

        def work() -> Any:
            from core.jobs.registry import all_tasks
            from core.jobs.scheduler import Scheduler

            scheduler = Scheduler(services.ctx, all_tasks(services.ctx))
            scheduler.start()
            # Set here as well as on the UI thread: if the window lets go of this database
            # before the result is delivered, closing it still finds the scheduler to stop.
            services.scheduler = scheduler
            return scheduler

        def failed(exc: BaseException) -> None:
            log.error("The scheduler did not start", exc_info=exc)
            sentence = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self._scheduler_started(services, None, sentence)

        # On the session's runner: closing the session waits for it.
        services.runner.submit(
            work, lambda scheduler: self._scheduler_started(services, scheduler, None), failed
        )

    def _scheduler_started(self, services: AppServices, scheduler: Any, error: str | None) -> None:
        self._opening = False
        if self.window.services is services:
            if scheduler is not None:
                self.window.attach_scheduler(scheduler)
            else:
                self.window.scheduler_failed(error or "unknown error")
        if self._next_url is not None:
            url, self._next_url = self._next_url, None
            self.switch(url)
            return
        self.ready.emit(services)

    def _make_services(self, opened: _Opened) -> AppServices:
        from desktop.shell.changes import ChangeBridge

        # Each database gets its own runner: switching drops whatever the old views asked for.
        return AppServices(
            ctx=opened.ctx, runner=TaskRunner(self.window), changes=ChangeBridge(self.window)
        )

    def _failed(self, exc: BaseException) -> None:
        self._opening = False
        if self._next_url is not None:
            url, self._next_url = self._next_url, None
            self.switch(url)
            return
        if not isinstance(exc, PaydeskError):
            log.error("Opening the database failed", exc_info=exc)
        sentence = errors.sentence(exc)
        self.window.show_startup_error(sentence)
        self.failed.emit(sentence)
        if isinstance(exc, PasswordNeeded) and self.interactive:
            # No keyring (or nothing in it) for this login: ask, as on every start without one.
            self.window.open_connection_dialog(message=sentence)


def when_loaded(widget: QWidget | None, callback: Callable[[], None]) -> None:
    """Call ``callback`` once ``widget`` has its first data on screen (views without a
    ``loaded`` signal count as loaded at once)."""
    signal = getattr(widget, "loaded", None)
    if widget is None or signal is None or getattr(widget, "is_loaded", False):
        QTimer.singleShot(0, callback)
        return
    fired = {"done": False}

    def once(*_: Any) -> None:
        if not fired["done"]:
            fired["done"] = True
            callback()

    signal.connect(once)


def _check_view(name: str | None) -> str | None:
    """The key of the view ``--view`` names: its key or the title the navigation shows."""
    if name is None:
        return None
    spec = views.find_by_name(name)
    if spec is None:
        raise InputError(
            f"There is no view {name!r}; choose one of {', '.join(views.view_names())}."
        )
    return spec.key


def _setup_log_file() -> None:
    from logging.handlers import RotatingFileHandler

    try:
        folder = paths.data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / "paydesk.log", maxBytes=2_000_000, backupCount=3)
    except OSError:
        return  # a read-only data folder must not stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)


def _headless_exception_hook(app: QApplication) -> None:
    """Offscreen runs have nobody to click a dialog: log and fail."""

    def hook(exc_type: Any, exc: Any, tb: Any) -> None:
        log.error("Unhandled error", exc_info=(exc_type, exc, tb))
        app.exit(1)

    sys.excepthook = hook


def run(args: argparse.Namespace) -> int:
    """Open the app (or take a screenshot, or run the self-test). Returns the exit code."""
    if getattr(args, "self_test", False):
        return run_self_test()
    screenshot = getattr(args, "screenshot", None)
    probe = os.environ.get("PAYDESK_STARTUP_PROBE") == "1"
    headless = bool(screenshot)
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        view = _check_view(getattr(args, "view", None))
        url = settings.resolve_database_url(args.database, demo=args.demo)
    except PaydeskError as exc:
        print(f"paydesk: {exc.message}", file=sys.stderr)
        return exc.exit_code

    app = make_application()
    if headless or probe:
        _headless_exception_hook(app)
    else:
        from desktop.shell.crash import CrashReporter

        _setup_log_file()
        CrashReporter(app).install()

    runner = TaskRunner(app)
    window = MainWindow(runner)
    window.resize(*WINDOW_SIZE)
    interactive = not (headless or probe)
    if interactive:
        # A person's window comes back as they left it; screenshots keep the fixed size.
        window.remembers_place = True
        window_state.restore(window, window, settings.database_kind(url))
    launcher = Launcher(window, url, demo=args.demo, view=view, interactive=interactive)
    outcome = {"code": 0}

    def finish(code: int, message: str | None = None) -> None:
        if message:
            print(message, file=sys.stderr if code else sys.stdout)
        outcome["code"] = code
        app.exit(code)

    if screenshot:
        path = Path(screenshot)

        def grab() -> None:
            app.processEvents()  # apply layouts the last data change requested
            if window.grab().save(str(path), "PNG"):
                finish(0)
            else:
                finish(1, f"paydesk: The screenshot could not be written to {path}.")

        launcher.ready.connect(
            lambda _s: when_loaded(window.view(view or views.VIEWS[0].key), grab)
        )
        launcher.failed.connect(lambda sentence: finish(1, f"paydesk: {sentence}"))
        _fail_after(
            app, HEADLESS_TIMEOUT_MS, finish, "paydesk: The window did not finish loading in time."
        )
    if probe:
        QTimer.singleShot(0, lambda: print(f"probe shown {time.time():.6f}", flush=True))

        def probe_ready(_services: Any) -> None:
            def done() -> None:
                print(f"probe ready {time.time():.6f}", flush=True)
                finish(0)

            when_loaded(window.view(view or views.VIEWS[0].key), done)

        # Usable: the window has the database and the view its first rows (the scheduler may
        # still be starting behind them).
        launcher.opened.connect(probe_ready)
        launcher.failed.connect(lambda sentence: finish(1, f"paydesk: {sentence}"))

    app.aboutToQuit.connect(window.shutdown)
    window.show()
    if interactive and _first_run(args):
        # Nothing chosen yet: ask. "Not now" opens the standalone file (and asks next time).
        window.open_connection_dialog(first_run=True, on_cancel=launcher.start)
    else:
        launcher.start()
    code = app.exec()
    return outcome["code"] if headless or probe else code


def _first_run(args: argparse.Namespace) -> bool:
    """No database named anywhere: not on the command line, in the environment or in the
    settings file (which may hold only where the window was left)."""
    return not (
        args.database
        or args.demo
        or os.environ.get("PAYDESK_DATABASE_URL")
        or (settings.settings_path().exists() and settings.load().database_url)
    )


def _fail_after(app: QApplication, msecs: int, finish: Callable[..., None], message: str) -> None:
    timer = QTimer(app)
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: finish(1, message))
    timer.start(msecs)


class SelfTestOutcome(TypedDict):
    """The self-test's exit code and the sentence it prints, set from Qt callbacks."""

    code: int
    message: str


def run_self_test() -> int:
    """Temp database, migrate, scheduler start/stop, main window offscreen, first page."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    with tempfile.TemporaryDirectory(prefix="paydesk-self-test-") as tmp:
        # Keep the self-test's settings, logs and backups out of the person's folders.
        os.environ["PAYDESK_CONFIG_DIR"] = str(Path(tmp) / "config")
        os.environ["PAYDESK_DATA_DIR"] = str(Path(tmp) / "data")
        for required in (paths.resources_dir() / "style.qss", paths.migrations_dir()):
            if not required.exists():
                print(f"paydesk: self-test failed: {required} is missing.", file=sys.stderr)
                return 1
        url = f"sqlite:///{Path(tmp) / 'self-test.sqlite3'}"
        app = make_application()
        _headless_exception_hook(app)
        runner = TaskRunner(app)
        window = MainWindow(runner)
        window.resize(*WINDOW_SIZE)
        launcher = Launcher(window, url, view="payments")
        outcome: SelfTestOutcome = {
            "code": 1,
            "message": "paydesk: self-test failed: the window never loaded.",
        }

        def loaded() -> None:
            services = launcher.services
            problem = None
            if services is None or services.scheduler is None or not services.scheduler.running:
                problem = "the scheduler did not start"
            elif window.view("payments") is None:
                problem = "the Payments view was not built"
            outcome["code"] = 1 if problem else 0
            outcome["message"] = (
                f"paydesk: self-test failed: {problem}." if problem else "self-test ok"
            )
            app.exit(outcome["code"])

        def failed(sentence: str) -> None:
            outcome["code"] = 1
            outcome["message"] = f"paydesk: self-test failed: {sentence}"
            app.exit(1)

        launcher.ready.connect(lambda _s: when_loaded(window.view("payments"), loaded))
        launcher.failed.connect(failed)
        _fail_after(app, HEADLESS_TIMEOUT_MS, lambda *_: app.exit(1), "")
        window.show()
        launcher.start()
        app.exec()
        scheduler = launcher.services.scheduler if launcher.services else None
        window.shutdown()
        if scheduler is not None and scheduler.running:
            outcome["code"] = 1
            outcome["message"] = "paydesk: self-test failed: the scheduler did not stop."
        window.close()
        window.deleteLater()
        print(outcome["message"], file=sys.stderr if outcome["code"] else sys.stdout)
        return outcome["code"]
