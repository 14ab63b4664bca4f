"""Losing the database and getting it back: a TCP proxy the test controls sits between the app
and Postgres. Cutting it (every connection reset, new ones refused) must bring up the
"Reconnecting…" banner, disable the views with the reason, and pause the scheduler; bringing it
back must undo all of that by itself, with the same view and rows still on screen."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication
from sqlalchemy.engine import make_url

from core.context import Context
from core.store.db import open_database
from core.store.migrate import upgrade
from desktop.shell.app import Launcher
from desktop.shell.main_window import MainWindow
from desktop.shell.runner import TaskRunner
from tests.test_refunds import add_payment, add_staff, request

pytestmark = pytest.mark.gui


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``upstream`` in one thread. ``cut()`` resets every open
    connection and stops listening (new connects are refused); ``restore()`` listens again on
    the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._server: socket.socket | None = self._listen(0)
        self.port = self._server.getsockname()[1]
        self._peers: dict[socket.socket, socket.socket] = {}
        self._commands: list[tuple[str, threading.Event]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-proxy", daemon=True)
        self._thread.start()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(64)
        return server

    def cut(self) -> None:
        self._command("cut")

    def restore(self) -> None:
        self._command("restore")

    def close(self) -> None:
        self._command("cut")
        self._stop.set()
        self._thread.join(5)

    def _command(self, name: str) -> None:
        done = threading.Event()
        with self._lock:
            self._commands.append((name, done))
        assert done.wait(5), f"the proxy did not {name}"

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                commands, self._commands = self._commands, []
            for name, done in commands:
                if name == "cut":
                    self._cut()
                elif self._server is None:
                    self._server = self._listen(self.port)
                done.set()
            watched = list(self._peers) + ([self._server] if self._server else [])
            if not watched:
                self._stop.wait(0.02)
                continue
            readable, _, _ = select.select(watched, [], [], 0.02)
            for sock in readable:
                if sock is self._server:
                    self._accept()
                elif sock in self._peers:
                    self._forward(sock)

    def _accept(self) -> None:
        assert self._server is not None
        client, _ = self._server.accept()
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        self._peers[client] = upstream
        self._peers[upstream] = client

    def _forward(self, sock: socket.socket) -> None:
        peer = self._peers[sock]
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
                return
        except OSError:
            pass
        self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._peers.pop(s, None)
            # A reset, as when a server dies or a network path breaks mid-conversation.
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

    def _cut(self) -> None:
        for sock in list(self._peers):
            self._drop(sock)
        if self._server is not None:
            self._server.close()
            self._server = None


@pytest.fixture
def proxied_url(pg_schema_url) -> Iterator[tuple[str, TcpProxy]]:
    url = make_url(pg_schema_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()


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


def test_losing_postgres_shows_the_banner_pauses_and_recovers_by_itself(
    qtbot, window, pg_schema_url, proxied_url
):
    url, proxy = proxied_url
    seed = open_database(pg_schema_url)
    upgrade(seed)
    ctx = Context(db=seed, client_id="seeder")
    add_staff(ctx)
    refund_id = request(ctx, add_payment(ctx), amount=1_000).id
    seed.dispose()

    launcher = Launcher(window, url, view="refunds")
    with qtbot.waitSignal(launcher.ready, timeout=30_000):
        launcher.start()
    view = window.view("refunds")
    qtbot.waitUntil(lambda: view.is_loaded and view.model.row_of(refund_id) is not None)
    scheduler = launcher.services.scheduler
    assert not window.banner.isVisible() and not scheduler.paused

    proxy.cut()
    qtbot.waitUntil(window.banner.isVisible, timeout=15_000)

    reason = window.banner.toolTip()
    assert reason  # the sentence from the failed check
    assert window.banner.title.text() == "Reconnecting…"
    assert scheduler.paused
    assert window.scheduler_label.text().startswith("Scheduler: paused")
    assert not window.stack.isEnabled()
    assert reason in window.stack.toolTip()
    # What was on screen stays on screen.
    assert window.stack.currentWidget() is view and view.isVisible()
    assert view.model.row_of(refund_id) is not None

    proxy.restore()
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=20_000)

    assert not scheduler.paused and scheduler.running
    assert window.stack.isEnabled() and window.stack.toolTip() == ""
    assert window.stack.currentWidget() is view
    assert view.model.row_of(refund_id) is not None
    assert window.db_label.text().endswith("ms")
