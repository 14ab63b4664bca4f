"""The app as a person starts it: ``paydesk --screenshot`` renders a loaded view to a PNG and
``paydesk --self-test`` passes, each as a separate process; bad input gets one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from core.clock import FrozenClock
from core.context import Context
from core.store.db import open_database
from core.store.migrate import upgrade
from tests.gui.conftest import write_payments

pytestmark = pytest.mark.gui

PAYDESK = Path(sys.executable).with_name("paydesk")
TIMEOUT = 120


def said(stderr: str) -> list[str]:
    """Paydesk's own lines on stderr (the offscreen platform adds notes of its own)."""
    return [line for line in stderr.splitlines() if line.startswith("paydesk:")]


def paydesk(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [str(PAYDESK), *args], capture_output=True, text=True, timeout=TIMEOUT, env=env
    )


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A SQLite file with 300 payments."""
    url = f"sqlite:///{tmp_path / 'shot.sqlite3'}"
    db = open_database(url)
    upgrade(db)
    write_payments(Context(db=db, clock=FrozenClock()), 300, FrozenClock().now())
    db.dispose()
    return url


@pytest.mark.parametrize("view", ["payments", "jobs"])
def test_screenshot_writes_a_png_of_the_loaded_view(database, tmp_path, view):
    out = tmp_path / f"{view}.png"
    done = paydesk("--database", database, "--screenshot", str(out), "--view", view)
    assert done.returncode == 0, done.stderr
    image = QImage(str(out))
    assert not image.isNull()
    assert (image.width(), image.height()) == (1280, 800)


def test_screenshot_of_an_unknown_view_is_refused_and_writes_nothing(database, tmp_path):
    out = tmp_path / "nope.png"
    done = paydesk("--database", database, "--screenshot", str(out), "--view", "ledger")
    assert done.returncode == 2
    (sentence,) = said(done.stderr)
    assert sentence.startswith("paydesk: There is no view 'ledger'; choose one of")
    assert not out.exists()


def test_screenshot_of_a_file_that_is_not_a_database_fails_and_leaves_it(tmp_path):
    junk = tmp_path / "notes.sqlite3"
    junk.write_text("these are not payments\n")
    out = tmp_path / "junk.png"
    done = paydesk("--database", f"sqlite:///{junk}", "--screenshot", str(out))
    assert done.returncode == 1
    (sentence,) = said(done.stderr)
    assert sentence.endswith(
        "is not a Paydesk database (not an SQLite file); it was left untouched."
    )
    assert junk.read_text() == "these are not payments\n"
    assert not out.exists()


def test_self_test_passes(tmp_path):
    done = paydesk("--self-test")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "self-test ok"
