"""The check before Qt starts: missing xcb libraries are named with the apt line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop import entry, platform_check
from desktop.platform_check import debian_package, missing_from_ldd, will_use_xcb, xcb_problem

LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd5a1f2000)
\tlibQt6XcbQpa.so.6 => /opt/paydesk/_internal/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f2c)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f2c3a9d1000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibX11.so.6 => /lib/x86_64-linux-gnu/libX11.so.6 (0x00007f2c3a891000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2c3a6b0000)
"""
LDD_COMPLETE = "\n".join(line for line in LDD_MISSING.splitlines() if "not found" not in line)
X_DESKTOP = {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}


def test_not_found_libraries_are_listed_once_in_order():
    assert missing_from_ldd(LDD_MISSING) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert missing_from_ldd(LDD_COMPLETE) == []


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libX11.so.6", "libx11-6"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libGL.so.1", "libgl1"),
        ("libstdc++.so.6", "libstdc++6"),
        ("libgcc_s.so.1", "libgcc-s1"),
        ("libm.so.6", "libc6"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
    ],
)
def test_debian_package_of_a_soname(soname, package):
    assert debian_package(soname) == package


@pytest.mark.parametrize(
    ("env", "xcb"),
    [
        (X_DESKTOP, True),
        ({"DISPLAY": ":0"}, True),
        ({}, False),  # no display at all: nothing to check
        ({**X_DESKTOP, "QT_QPA_PLATFORM": "offscreen"}, False),
        ({**X_DESKTOP, "QT_QPA_PLATFORM": "wayland"}, False),
        ({"QT_QPA_PLATFORM": "xcb"}, True),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, False),
    ],
)
def test_when_the_platform_is_xcb(env, xcb):
    assert will_use_xcb(env, "linux") is xcb


def test_other_systems_are_never_checked():
    assert not will_use_xcb(X_DESKTOP, "win32")
    assert not will_use_xcb(X_DESKTOP, "darwin")


def test_missing_libraries_give_one_sentence_with_the_apt_line():
    asked: list[Path] = []

    def ldd(path: Path) -> str:
        asked.append(path)
        return LDD_MISSING

    problem = xcb_problem(X_DESKTOP, platform="linux", plugin_dir=lambda: Path("/b"), ldd=ldd)
    assert asked == [Path("/b/Qt/plugins/platforms/libqxcb.so")]
    assert problem is not None
    assert "libxcb-icccm.so.4 and libxcb-keysyms.so.1" in problem
    assert problem.endswith("sudo apt install libxcb-icccm4 libxcb-keysyms1")
    assert problem.count(". ") == 0 and "\n" not in problem


def test_nothing_missing_or_nothing_known_lets_qt_start():
    found = xcb_problem(
        X_DESKTOP, platform="linux", plugin_dir=lambda: Path("/b"), ldd=lambda p: LDD_COMPLETE
    )
    unknown = xcb_problem(
        X_DESKTOP, platform="linux", plugin_dir=lambda: Path("/b"), ldd=lambda p: None
    )
    no_plugin = xcb_problem(X_DESKTOP, platform="linux", plugin_dir=lambda: None)
    assert (found, unknown, no_plugin) == (None, None, None)


def test_offscreen_never_runs_ldd():
    def ldd(path: Path) -> str:
        raise AssertionError("ldd ran")

    env = {**X_DESKTOP, "QT_QPA_PLATFORM": "offscreen"}
    assert xcb_problem(env, platform="linux", plugin_dir=lambda: Path("/b"), ldd=ldd) is None


def test_the_app_exits_2_before_qt_with_the_sentence(monkeypatch, capsys):
    monkeypatch.setattr(platform_check, "xcb_problem", lambda: "paydesk: The window cannot open.")
    assert entry.main([]) == 2
    assert capsys.readouterr().err.strip() == "paydesk: The window cannot open."


def test_self_test_is_not_checked(monkeypatch):
    def refuse() -> str:
        raise AssertionError("checked")

    monkeypatch.setattr(platform_check, "xcb_problem", refuse)
    monkeypatch.setattr("desktop.shell.app.run", lambda args: 0)
    assert entry.main(["--self-test"]) == 0


def test_the_installed_pyside6_plugin_is_found():
    folder = platform_check.pyside_dir()
    assert folder is not None and (folder / platform_check.XCB_PLUGIN).is_file()
