"""The app icon rendered from resources/paydesk.svg: PNGs for the hicolor theme, and the
Windows .ico and macOS .icns the frozen executable carries."""

from __future__ import annotations

import os
from pathlib import Path

# The sizes desktops look up in hicolor (launchers, menus, task switchers, HiDPI).
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path, out: Path, sizes: tuple[int, ...] = HICOLOR_SIZES) -> dict[int, Path]:
    """``out/<n>x<n>/apps/paydesk.png`` for each size; returns the files by size."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display at build time
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"build: {svg} is not a valid SVG.")
    files: dict[int, Path] = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = out / f"{size}x{size}" / "apps" / "paydesk.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target)):
            raise SystemExit(f"build: could not write {target}.")
        files[size] = target
    del app
    return files


def windows_icon(pngs: dict[int, Path], target: Path) -> Path:
    """A multi-size .ico (Qt's ico image format writes every frame it is given)."""
    from PySide6.QtGui import QImage, QImageWriter

    writer = QImageWriter(str(target), b"ico")
    for size in (16, 24, 32, 48, 64, 128, 256):
        if size in pngs and not writer.write(QImage(str(pngs[size]))):
            raise SystemExit(f"build: could not write {target}: {writer.errorString()}")
    return target


def macos_icon(pngs: dict[int, Path], target: Path) -> Path:
    """An .icns made by macOS's iconutil from an .iconset of the rendered sizes."""
    import shutil
    import subprocess

    iconset = target.with_suffix(".iconset")
    iconset.mkdir(parents=True, exist_ok=True)
    for size in (16, 32, 128, 256, 512):
        shutil.copy(pngs[size], iconset / f"icon_{size}x{size}.png")
        if size * 2 in pngs:
            shutil.copy(pngs[size * 2], iconset / f"icon_{size}x{size}@2x.png")
    subprocess.run(["iconutil", "-c", "icns", str(iconset), "-o", str(target)], check=True)
    return target
