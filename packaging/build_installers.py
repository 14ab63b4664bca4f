"""Build Paydesk's installers for the system this runs on.

    python packaging/build_installers.py [--out dist/installers] [--skip-freeze]

Freezes the app with build_spec.spec (PyInstaller onedir in dist/paydesk), then:
  Linux:   paydesk_<version>_<arch>.deb and paydesk-<version>-linux-<arch>.tar.gz
  Windows: Paydesk-<version>-setup.exe (Inno Setup's ISCC, packaging/windows/paydesk.iss)
  macOS:   Paydesk-<version>.dmg holding Paydesk.app (PyInstaller's BUNDLE, hdiutil)
The version is the package's (core.__version__, which pyproject.toml must match). Needs the
build extras (pip install -e ".[build]"); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # core.__version__ and desktop.platform_check, from source

import icons  # noqa: E402

MAINTAINER = "Paydesk maintainers <packages@paydesk.invalid>"


def version() -> str:
    from core import __version__

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if declared["version"] != __version__:
        raise SystemExit(
            f"build: pyproject.toml says {declared['version']}, core.__version__ {__version__}."
        )
    return __version__


def release_date() -> str:
    """The last commit's date (the same for every build of it), else today."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%cs"], capture_output=True, text=True
    )
    return done.stdout.strip() or datetime.date.today().isoformat()


def freeze(env: dict[str, str]) -> Path:
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    subprocess.run([*command, str(ROOT / "build_spec.spec")], cwd=ROOT, env=env, check=True)
    return ROOT / "dist" / "paydesk"


def sizes(onedir: Path) -> str:
    """The onedir's size and its biggest parts, as ``du`` counts them."""
    internal = onedir / "_internal"
    total = subprocess.run(["du", "-sh", str(onedir)], capture_output=True, text=True).stdout
    parts = subprocess.run(
        ["du", "-sh", *sorted(str(p) for p in internal.iterdir())], capture_output=True, text=True
    ).stdout.splitlines()
    biggest = sorted(parts, key=_du_bytes, reverse=True)[:8]
    return total.strip() + "\n" + "\n".join("  " + line for line in biggest)


def build_linux(onedir: Path, rendered: Path, ver: str, out: Path) -> list[Path]:
    import linux_packages

    release = linux_packages.Release(
        ver, release_date(), os.environ.get("PAYDESK_MAINTAINER", MAINTAINER)
    )
    svg = ROOT / "resources" / "paydesk.svg"
    deb = linux_packages.build_deb(onedir, rendered, svg, release, out)
    tarball = linux_packages.build_tarball(onedir, rendered, svg, release, out)
    return [deb, tarball]


def build_windows(ver: str, out: Path) -> list[Path]:
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if iscc is None:
        raise SystemExit(
            "build: Inno Setup's ISCC is not on PATH (https://jrsoftware.org/isinfo.php)."
        )
    script = HERE / "windows" / "paydesk.iss"
    subprocess.run(
        [
            iscc,
            f"/DAppVersion={ver}",
            f"/DSourceDir={ROOT / 'dist' / 'paydesk'}",
            f"/DOutputDir={out}",
            str(script),
        ],
        check=True,
    )
    return [out / f"Paydesk-{ver}-setup.exe"]


def build_macos(ver: str, out: Path) -> list[Path]:
    app = ROOT / "dist" / "Paydesk.app"
    dmg = out / f"Paydesk-{ver}.dmg"
    dmg.unlink(missing_ok=True)
    # Signing (codesign --deep --options runtime) and notarising happen after, with the
    # organisation's identity; the .app is built ready for it.
    subprocess.run(
        [
            "hdiutil",
            "create",
            "-volname",
            f"Paydesk {ver}",
            "-srcfolder",
            str(app),
            "-ov",
            "-format",
            "UDZO",
            str(dmg),
        ],
        check=True,
    )
    return [dmg]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "installers")
    parser.add_argument("--skip-freeze", action="store_true", help="reuse dist/paydesk")
    args = parser.parse_args()
    ver = version()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rendered = ROOT / "build" / "icons"
    shutil.rmtree(rendered, ignore_errors=True)
    started = time.monotonic()
    pngs = icons.render(ROOT / "resources" / "paydesk.svg", rendered / "hicolor")
    env = {**os.environ, "PAYDESK_VERSION": ver}
    if sys.platform == "win32":
        env["PAYDESK_APP_ICON"] = str(icons.windows_icon(pngs, rendered / "paydesk.ico"))
    elif sys.platform == "darwin":
        env["PAYDESK_APP_ICON"] = str(icons.macos_icon(pngs, rendered / "paydesk.icns"))
    onedir = ROOT / "dist" / "paydesk"
    if not args.skip_freeze:
        onedir = freeze(env)
    if sys.platform.startswith("linux"):
        made = build_linux(onedir, rendered / "hicolor", ver, out)
    elif sys.platform == "win32":
        made = build_windows(ver, out)
    elif sys.platform == "darwin":
        made = build_macos(ver, out)
    else:
        raise SystemExit(f"build: no installer for {sys.platform}.")
    print(f"Paydesk {ver}: onedir {sizes(onedir)}")
    for path in made:
        print(f"{path.stat().st_size / 1e6:7.1f} MB  {path}")
    print(f"built in {time.monotonic() - started:.0f} s")
    return 0


def _du_bytes(line: str) -> float:
    size = line.split()[0]
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(size[-1], 1)
    return float(size.rstrip("KMG")) * scale


if __name__ == "__main__":
    sys.exit(main())
