"""The Linux installers: a .deb that installs the onedir build under /opt/paydesk, and a
tarball of the same files with install.sh for a user install under ~/.local."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import linux_deps

HERE = Path(__file__).resolve().parent
APP_ID = "com.paydesk.Paydesk"  # AppStream component id (reverse DNS)
DESCRIPTION = """\
Desktop back office for a payment gateway's merchants
 Finance staff approve or reject refunds; support staff find payments, request
 refunds and retry webhook deliveries; an admin sets policy. Runs standalone on
 a local SQLite file or shared on one PostgreSQL database."""


@dataclass(frozen=True)
class Release:
    version: str
    date: str  # YYYY-MM-DD, for the AppStream release entry
    maintainer: str


def share_tree(target: Path, release: Release, icons: Path, svg: Path) -> None:
    """``target/share``: the desktop entry, the hicolor icons and the AppStream metainfo."""
    share = target / "share"
    (share / "applications").mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "linux" / "paydesk.desktop", share / "applications" / "paydesk.desktop")
    shutil.copytree(icons, share / "icons" / "hicolor", dirs_exist_ok=True)
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copy(svg, scalable / "paydesk.svg")
    metainfo = (HERE / "linux" / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8")
    metainfo = metainfo.replace("@VERSION@", release.version).replace("@DATE@", release.date)
    (share / "metainfo").mkdir(parents=True, exist_ok=True)
    (share / "metainfo" / f"{APP_ID}.metainfo.xml").write_text(metainfo, encoding="utf-8")


def build_deb(onedir: Path, icons: Path, svg: Path, release: Release, out: Path) -> Path:
    arch = _run(["dpkg", "--print-architecture"]).strip()
    root = out / "deb-root"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(onedir, root / "opt" / "paydesk", symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "paydesk").symlink_to("/opt/paydesk/paydesk")
    share_tree(root / "usr", release, icons, svg)
    _normalise_modes(root)
    depends, recommends = linux_deps.relations(onedir / "_internal")
    control = {
        "Package": "paydesk",
        "Version": release.version,
        "Architecture": arch,
        "Maintainer": release.maintainer,
        "Installed-Size": str(_installed_kib(root)),
        "Depends": ", ".join(depends),
        "Recommends": ", ".join(recommends),
        "Section": "office",
        "Priority": "optional",
        "Description": DESCRIPTION,
    }
    (root / "DEBIAN").mkdir(mode=0o755)
    text = "".join(f"{key}: {value}\n" for key, value in control.items() if value)
    (root / "DEBIAN" / "control").write_text(text, encoding="utf-8")
    deb = out / f"paydesk_{release.version}_{arch}.deb"
    # Icons and menus refresh through the hicolor and desktop-file-utils triggers: no scripts.
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)], check=True
    )
    shutil.rmtree(root)
    return deb


def build_tarball(onedir: Path, icons: Path, svg: Path, release: Release, out: Path) -> Path:
    arch = os.uname().machine
    name = f"paydesk-{release.version}-linux-{arch}"
    stage = out / name
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(onedir, stage / "paydesk", symlinks=True)
    share_tree(stage, release, icons, svg)
    shutil.copy(HERE / "linux" / "install.sh", stage / "install.sh")
    _normalise_modes(stage)
    (stage / "install.sh").chmod(0o755)
    tarball = out / f"{name}.tar.gz"

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(tarball, "w:gz", compresslevel=6) as archive:
        archive.add(stage, arcname=name, filter=owned_by_root)
    shutil.rmtree(stage)
    return tarball


def _normalise_modes(root: Path) -> None:
    """0755 folders and programs, 0644 everything else, whatever the build's umask was."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & 0o111
        path.chmod(0o755 if executable else 0o644)


def _installed_kib(root: Path) -> int:
    sizes = (p.lstat().st_size for p in root.rglob("*") if p.is_file() or p.is_symlink())
    return sum((size + 1023) // 1024 for size in sizes)


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout
