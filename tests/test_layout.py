"""The dependency rule: core never imports Qt."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import core
from tests.conftest import modules_loaded_by


def test_importing_every_core_module_leaves_qt_out():
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    assert "core.payments.queries" in names
    code = f"import importlib\nfor n in {names!r}: importlib.import_module(n)"
    assert modules_loaded_by(code, ("PySide6", "desktop")) == []


def test_opening_the_window_loads_no_command_module_first():
    # The window comes up before the database layer loads (that happens off the UI thread);
    # here the window is a callable that returns at once, so what is loaded is what it found.
    code = "from core.cli import main\nmain(['--view', 'payments'], gui=lambda args: 0)"
    heavy = ("sqlalchemy", "httpx", "alembic", "apscheduler", "core.cli.")
    assert modules_loaded_by(code, heavy) == []


def test_help_still_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-c", "from core.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
    )
    for command in ("demo", "health", "refunds", "webhooks", "worker", "db", "export"):
        assert f"    {command}" in out.stdout
