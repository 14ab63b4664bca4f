"""Which Debian/Ubuntu packages the frozen app needs from the system, found by ``ldd``.

Starting from Qt's platform plugins in the bundle, every library a bundled file links is
resolved the way the running app resolves it (the bundle first). Those the bundle does not
hold are the system's: ``dpkg -S`` names the package of each one installed here; one not
installed here gets its package from the soname (``desktop.platform_check.debian_package``,
the same rule the app's first-start message uses), confirmed with ``apt-cache show``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from desktop.platform_check import debian_package, missing_from_ldd

PLUGINS = Path("PySide6") / "Qt" / "plugins"
# The xcb platform and the GL integrations it loads beside it: the package's Depends.
XCB_ROOTS = ("platforms/libqxcb.so", "xcbglintegrations/*.so")
# The Wayland platform and what it loads: the package's Recommends (Wayland sessions have them).
WAYLAND_ROOTS = (
    "platforms/libqwayland.so",
    "wayland-shell-integration/*.so",
    "wayland-decoration-client/*.so",
    "wayland-graphics-integration-client/*.so",
)
_RESOLVED = re.compile(r"^\s*(\S+)\s+=>\s+(/\S+)\s+\(0x[0-9a-f]+\)\s*$")
_LOADER = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)\s*$")  # the dynamic loader, by path
_GLIBC = re.compile(r"\bGLIBC_(\d+)\.(\d+)\b")


def needed(path: Path) -> list[str]:
    """The sonames ``path`` links (its NEEDED entries)."""
    out = _run(["readelf", "-d", "--wide", str(path)])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", out)


def resolve(bundle: Path, path: Path) -> dict[str, Path | None]:
    """Every library in ``path``'s closure and where it resolves (None: not found)."""
    env = {**os.environ, "LD_LIBRARY_PATH": str(bundle)}
    out = _run(["ldd", str(path)], env=env)
    where: dict[str, Path | None] = {soname: None for soname in missing_from_ldd(out)}
    for line in out.splitlines():
        match = _RESOLVED.match(line)
        if match:
            where[match.group(1)] = Path(match.group(2))
        loader = _LOADER.match(line)
        if loader:
            where[Path(loader.group(1)).name] = Path(loader.group(1))
    return where


def system_sonames(bundle: Path, patterns: tuple[str, ...]) -> dict[str, Path | None]:
    """The sonames bundled files in the closure of ``patterns`` link that the bundle lacks."""
    roots = sorted(p for pattern in patterns for p in (bundle / PLUGINS).glob(pattern))
    if not roots:
        raise SystemExit(f"build: no {patterns[0]} in {bundle}.")
    found: dict[str, Path | None] = {}
    for root in roots:
        where = resolve(bundle, root)
        todo, seen = [root], {root}
        while todo:
            for soname in needed(todo.pop()):
                path = where.get(soname)
                if path is not None and path.resolve().is_relative_to(bundle.resolve()):
                    if path not in seen:
                        seen.add(path)
                        todo.append(path)
                else:
                    found[soname] = path
    return found


def package_of(soname: str, path: Path | None) -> str:
    """The package providing ``soname``: ``dpkg -S`` when it is installed, else the soname's
    package name if the archive has it. Either must agree with the app's own rule."""
    expected = debian_package(soname)
    if path is None:
        if subprocess.run(["apt-cache", "show", expected], capture_output=True).returncode:
            raise SystemExit(f"build: {soname} is not installed and no package {expected} exists.")
        return expected
    package = None
    for candidate in dict.fromkeys([path, path.resolve(), Path("/usr") / path.relative_to("/")]):
        done = subprocess.run(["dpkg", "-S", str(candidate)], capture_output=True, text=True)
        if done.returncode == 0:
            package = done.stdout.split(":")[0].strip()
            break
    if package is None:
        raise SystemExit(f"build: no package holds {path} ({soname}).")
    if package != expected:
        raise SystemExit(
            f"build: {soname} is in {package}, not {expected}: add it to "
            "desktop.platform_check.PACKAGE_OF so the first-start message names it too."
        )
    return package


def glibc_floor(bundle: Path) -> str:
    """The newest GLIBC symbol version any bundled file needs (libc6's lower bound)."""
    newest = (2, 17)
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink() and _is_elf(path):
            for major, minor in _GLIBC.findall(_run(["readelf", "-V", "--wide", str(path)])):
                newest = max(newest, (int(major), int(minor)))
    return f"{newest[0]}.{newest[1]}"


def relations(bundle: Path) -> tuple[list[str], list[str]]:
    """(Depends, Recommends) of the .deb for the onedir ``bundle`` (its ``_internal``)."""
    xcb = system_sonames(bundle, XCB_ROOTS)
    depends = sorted({package_of(s, p) for s, p in xcb.items()})
    wayland = system_sonames(bundle, WAYLAND_ROOTS)
    recommends = sorted({package_of(s, p) for s, p in wayland.items()} - set(depends))
    depends = [f"libc6 (>= {glibc_floor(bundle)})" if d == "libc6" else d for d in depends]
    return depends, recommends


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def _run(command: list[str], env: dict[str, str] | None = None) -> str:
    return subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
