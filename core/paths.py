"""Where Paydesk keeps things: settings, data, and its own bundled files (also when frozen)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Paydesk"


def bundle_root() -> Path:
    """The folder holding ``migrations/`` and ``resources/``: the PyInstaller bundle when
    frozen, otherwise the folder the ``core`` package sits in (source tree or site-packages)."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    return bundle_root() / "migrations"


def resources_dir() -> Path:
    return bundle_root() / "resources"


def config_dir() -> Path:
    """Settings folder; ``PAYDESK_CONFIG_DIR`` moves it (tests, portable installs)."""
    override = os.environ.get("PAYDESK_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME, False))


def data_dir() -> Path:
    """Data folder (standalone database, backups); ``PAYDESK_DATA_DIR`` moves it."""
    override = os.environ.get("PAYDESK_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, False))


def default_database_path() -> Path:
    return data_dir() / "paydesk.sqlite3"


def demo_database_path() -> Path:
    return data_dir() / "demo.sqlite3"


def backups_dir() -> Path:
    return data_dir() / "backups"
