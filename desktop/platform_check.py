"""Before Qt starts: can Qt's xcb platform plugin load here?

When a library the plugin links is missing, Qt aborts with a message that names the wrong
package. This module asks ``ldd`` which of the plugin's libraries the system lacks and says so
in one sentence with the ``apt install`` line. It never imports Qt, so it can run first.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

XCB_PLUGIN = Path("Qt") / "plugins" / "platforms" / "libqxcb.so"
LDD_TIMEOUT_S = 10

# Debian/Ubuntu packages whose names do not follow from the library's soname (see
# ``debian_package``); packaging/build_installers.py fails when ``dpkg -S`` disagrees.
PACKAGE_OF = {
    "ld-linux-x86-64.so.2": "libc6",
    "ld-linux-aarch64.so.1": "libc6",
    "libm.so.6": "libc6",
    "libdl.so.2": "libc6",
    "libpthread.so.0": "libc6",
    "librt.so.1": "libc6",
    "libgcc_s.so.1": "libgcc-s1",
    "libz.so.1": "zlib1g",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
    "libGLdispatch.so.0": "libglvnd0",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")
_SONAME = re.compile(r"^(?P<name>.+?)\.so\.(?P<version>[0-9.]+)$")


def will_use_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will pick the xcb platform: on Linux, with ``QT_QPA_PLATFORM`` naming xcb
    first, or unset on an X display outside a Wayland session (Qt prefers Wayland there)."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].strip().startswith("xcb")
    if env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"):
        return False
    return bool(env.get("DISPLAY"))


def missing_from_ldd(output: str) -> list[str]:
    """The sonames ``ldd`` reported as not found, each once, in its order."""
    missing: list[str] = []
    for line in output.splitlines():
        match = _NOT_FOUND.match(line)
        if match and match.group(1) not in missing:
            missing.append(match.group(1))
    return missing


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package shipping ``soname``: the library name and its soname version
    (``libxcb-icccm.so.4`` → ``libxcb-icccm4``, a hyphen between when the name ends in a digit:
    ``libX11.so.6`` → ``libx11-6``), lower case, except where PACKAGE_OF says otherwise."""
    if soname in PACKAGE_OF:
        return PACKAGE_OF[soname]
    match = _SONAME.match(soname)
    if not match:
        return soname.lower()
    name, version = match.group("name"), match.group("version")
    joiner = "-" if name[-1].isdigit() else ""
    return f"{name}{joiner}{version}".lower().replace("_", "-")


def message(missing: Sequence[str]) -> str:
    """One sentence: which libraries are missing and the line that installs them."""
    packages = list(dict.fromkeys(debian_package(soname) for soname in missing))
    libraries = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
    verb = "are" if len(missing) > 1 else "is"
    return (
        f"paydesk: The window cannot open because Qt's xcb platform needs {libraries}, which "
        f"{verb} not installed; install with: sudo apt install {' '.join(packages)}"
    )


def pyside_dir() -> Path | None:
    """The PySide6 folder: inside the bundle when frozen, else where the package is installed
    (found without importing it)."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "PySide6"
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def run_ldd(library: Path) -> str | None:
    """``ldd``'s report on ``library``, or None when it cannot tell (no ldd, no plugin)."""
    ldd = shutil.which("ldd")
    if ldd is None or not library.is_file():
        return None
    env = dict(os.environ)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:  # the bundle's own libraries resolve as they do for the running app
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [frozen, env.get("LD_LIBRARY_PATH")]))
    try:
        done = subprocess.run(
            [ldd, str(library)], capture_output=True, text=True, env=env, timeout=LDD_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def xcb_problem(
    env: Mapping[str, str] | None = None,
    *,
    platform: str = sys.platform,
    plugin_dir: Callable[[], Path | None] = pyside_dir,
    ldd: Callable[[Path], str | None] = run_ldd,
) -> str | None:
    """The sentence to print instead of starting Qt, or None when Qt may start."""
    if not will_use_xcb(os.environ if env is None else env, platform):
        return None
    folder = plugin_dir()
    report = ldd(folder / XCB_PLUGIN) if folder is not None else None
    missing = missing_from_ldd(report) if report is not None else []
    return message(missing) if missing else None
