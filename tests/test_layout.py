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
