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

SETTINGS_FILE = paths.SETTINGS_FILE


@dataclass
class Settings:
    database_url: str = ""
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
    known = {k: data.pop(k) for k in ("database_url",) if k in data}
    return Settings(**known, extra=data)


def save(settings: Settings) -> None:
    """Write atomically so a crash never leaves half a settings file; the file and the folder
    Paydesk makes for it are its owner's only."""
    from core.store.dburl import strip_password

    path = settings_path()
    paths.private_dir(path.parent)
    data = asdict(settings)
    extra = data.pop("extra")
    data["database_url"] = strip_password(settings.database_url) if settings.database_url else ""
    data.update(extra)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    paths.create_private_file(tmp)
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def resolve_database_url(cli_url: str | None = None, *, demo: bool = False) -> str:
    """The database to open: ``--database`` beats ``PAYDESK_DATABASE_URL`` beats the settings
    file beats the default standalone file (or the demo file with ``--demo``). Every command
    and the app start here, so this is also where files Paydesk wrote before it kept them
    private are made so (``paths.tighten_own_files``)."""
    paths.tighten_own_files()
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
    # Paydesk's own data folder is created on first use (owner-only); folders a person names
    # are not.
    paths.private_dir(path.parent)
    return f"sqlite:///{path}"


# -- the main window's place ----------------------------------------------------------------
# Remembered per database kind, so a laptop's standalone window and the office's shared one
# each come back as they were left: ``[window.standalone]`` and ``[window.shared]``; each
# list view's splitter and column widths under ``[window.<kind>.layouts.<view>]``.
WINDOW_KINDS = ("standalone", "shared")


@dataclass
class ViewLayout:
    """What a person set in one list view: the table | detail pane splitter's sizes (empty:
    never moved) and each column's width (0: the view's own width; empty: none set)."""

    splitter: list[int] = field(default_factory=list)
    columns: list[int] = field(default_factory=list)


@dataclass
class WindowState:
    """The window's size and position (None: never placed), whether it was maximised, the
    view it showed and each list view's layout by view key."""

    width: int = 0
    height: int = 0
    x: int | None = None
    y: int | None = None
    maximized: bool = False
    view: str = ""
    layouts: dict[str, ViewLayout] = field(default_factory=dict)


def database_kind(url: str) -> str:
    """``shared`` for a Postgres URL, else ``standalone`` (read from the scheme alone, so the
    window can be placed before the database layer loads)."""
    scheme = url.split(":", 1)[0].lower()
    return "shared" if scheme.startswith("postgres") else "standalone"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sizes(value: object) -> list[int]:
    """A list of sizes, or empty when anything in it is not a size (a hand-edited file)."""
    if not isinstance(value, list):
        return []
    sizes: list[int] = []
    for item in value:
        size = _int(item)
        if size is None or size < 0:
            return []
        sizes.append(size)
    return sizes


def _layouts(raw: object) -> dict[str, ViewLayout]:
    if not isinstance(raw, dict):
        return {}
    layouts = {}
    for key, entry in raw.items():
        if isinstance(key, str) and isinstance(entry, dict):
            layout = ViewLayout(_sizes(entry.get("splitter")), _sizes(entry.get("columns")))
            if layout.splitter or layout.columns:
                layouts[key] = layout
    return layouts


def window_state(kind: str) -> WindowState:
    """The window as it was last left for ``kind``; defaults when nothing (or nothing
    readable) was remembered."""
    try:
        raw = load().extra.get("window")
    except InputError:
        return WindowState()
    entry = raw.get(kind) if isinstance(raw, dict) else None
    if not isinstance(entry, dict):
        return WindowState()
    view = entry.get("view")
    return WindowState(
        width=max(0, _int(entry.get("width")) or 0),
        height=max(0, _int(entry.get("height")) or 0),
        x=_int(entry.get("x")),
        y=_int(entry.get("y")),
        maximized=entry.get("maximized") is True,
        view=view if isinstance(view, str) else "",
        layouts=_layouts(entry.get("layouts")),
    )


def remember_window(kind: str, state: WindowState) -> bool:
    """Write ``state`` as the window for ``kind``, keeping every other setting. A settings
    file that cannot be read is left as it is (False): the person fixes it, not Paydesk."""
    try:
        current = load()
    except InputError:
        return False
    window = current.extra.get("window")
    window = dict(window) if isinstance(window, dict) else {}
    # TOML has no null: a position never set is left out.
    window[kind] = {k: v for k, v in asdict(state).items() if v is not None}
    current.extra["window"] = window
    save(current)
    return True
