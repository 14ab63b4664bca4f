"""The dependency rule: core never imports Qt."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import core


def test_importing_every_core_module_leaves_qt_out():
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    assert "core.payments" in names
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'desktop')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_opening_the_window_loads_no_command_module_first():
    # The window comes up before the database layer loads (that happens off the UI thread).
    code = (
        "import sys\n"
        "from core.cli import main\n"
        "def gui(args):\n"
        "    heavy = ('sqlalchemy', 'httpx', 'alembic', 'apscheduler', 'core.cli.')\n"
        "    print(','.join(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
        "    return 0\n"
        "sys.exit(main(['--view', 'payments'], gui=gui))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_still_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-c", "from core.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
    )
    for command in ("demo", "health", "refunds", "webhooks", "worker", "db", "export"):
        assert f"    {command}" in out.stdout
