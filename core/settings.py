"""Settings: a TOML file in the config dir. ``--database`` and ``PAYDESK_DATABASE_URL`` override
the database it names; passwords are never written here (they live in the OS keyring)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import tomli_w

from core import paths
from core.errors import InputError

SETTINGS_FILE = "settings.toml"


@dataclass
class Settings:
    database_url: str = ""
    # Seconds between polls when notifications are unavailable.
    poll_interval: float = 2.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return paths.config_dir() / SETTINGS_FILE


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def load() -> Settings:
    """Read the settings file; a missing file means defaults, a corrupt one is refused."""
    path = settings_path()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"The settings file {path} is not valid TOML ({exc}).") from None
    known = {k: data.pop(k) for k in ("database_url", "poll_interval") if k in data}
    return Settings(**known, extra=data)  # type: ignore[arg-type]


def save(settings: Settings) -> None:
    """Write atomically so a crash never leaves half a settings file."""
    from core.dburl import strip_password

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(settings)
    extra = data.pop("extra")
    data["database_url"] = strip_password(settings.database_url) if settings.database_url else ""
    data.update(extra)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def resolve_database_url(cli_url: str | None = None, *, demo: bool = False) -> str:
    """The database to open: ``--database`` beats ``PAYDESK_DATABASE_URL`` beats the settings
    file beats the default standalone file (or the demo file with ``--demo``)."""
    if cli_url:
        return cli_url
    if demo:
        return _default_file(paths.demo_database_path())
    env = os.environ.get("PAYDESK_DATABASE_URL")
    if env:
        return env
    configured = load().database_url
    if configured:
        return configured
    return _default_file(paths.default_database_path())


def _default_file(path: Path) -> str:
    # Paydesk's own data folder is created on first use; folders a person names are not.
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"
