"""The TaskRunner hands outcomes back on the UI thread, and drops those nobody can take."""

from __future__ import annotations

import threading

import pytest
import shiboken6
from PySide6.QtCore import QObject

from desktop.shell.runner import TaskRunner

pytestmark = pytest.mark.gui


def finish(qtbot, runner: TaskRunner) -> None:
    qtbot.waitUntil(lambda: runner.in_flight == 0, timeout=5000)


def test_an_outcome_whose_owner_was_deleted_is_dropped(qtbot):
    runner = TaskRunner()
    owner = QObject()
    got: list[int] = []
    release = threading.Event()

    def slow() -> int:
        release.wait(5)
        return 1

    runner.submit(slow, got.append, owner=owner)
    runner.submit(lambda: 2, got.append)  # nobody to outlive: delivered
    shiboken6.delete(owner)  # the view closed while its read was in flight
    release.set()
    finish(qtbot, runner)
    assert got == [2]


def test_an_outcome_whose_owner_lives_is_delivered(qtbot):
    runner = TaskRunner()
    owner = QObject()
    got: list[int] = []
    runner.submit(lambda: 3, got.append, owner=owner)
    finish(qtbot, runner)
    assert got == [3]


def test_a_superseded_outcome_is_dropped_and_the_newer_delivered(qtbot):
    runner = TaskRunner()
    got: list[str] = []
    release = threading.Event()

    def older() -> str:
        release.wait(5)
        return "older"

    runner.submit(older, got.append, key="list")
    runner.submit(lambda: "newer", got.append, key="list")
    release.set()
    finish(qtbot, runner)
    assert got == ["newer"]


def test_the_thread_that_ran_the_last_work_runs_the_next(qtbot):
    # Idle threads are kept however long the pause (no expiry), so the next read does not
    # wait for a thread to start.
    runner = TaskRunner(max_threads=1)
    assert runner.pool.expiryTimeout() < 0
    threads: list[int] = []
    for _ in range(2):
        runner.submit(threading.get_ident, threads.append)
        finish(qtbot, runner)
    assert threads[0] == threads[1]
