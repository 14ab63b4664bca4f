"""Database URLs as people type them: ``postgresql://…``, ``postgres://…``, ``sqlite:///path``
or a bare file path. Passwords are masked wherever a URL is shown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core import passwords
from core.errors import InputError

MASK = "***"


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed database location. ``url`` is the SQLAlchemy URL with the driver filled in."""

    url: URL

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:":
            return None
        return Path(self.url.database)

    @property
    def keyring_account(self) -> str:
        return passwords.account(
            self.url.username or "",
            self.url.host or "localhost",
            self.url.port,
            self.url.database or "",
        )

    def masked(self) -> str:
        """The URL for people and logs: the password replaced by ``***``."""
        return mask(self.url)

    def describe(self) -> str:
        """``Standalone · /path/file`` or ``Shared · host/db`` for the status bar."""
        if self.is_sqlite:
            return f"Standalone · {self.sqlite_path or 'memory'}"
        host = self.url.host or "localhost"
        port = f":{self.url.port}" if self.url.port else ""
        return f"Shared · {host}{port}/{self.url.database}"


def mask(url: URL | str) -> str:
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unreadable URL>"
    # People typed postgresql://, so show that rather than the driver name.
    url = url.set(drivername=url.get_backend_name())
    return url.render_as_string(hide_password=True)


def strip_password(text: str) -> str:
    """The URL without its password, for the settings file."""
    try:
        url = make_url(text)
    except ArgumentError:
        return text
    return without_password(url).render_as_string(hide_password=False)


def without_password(url: URL) -> URL:
    """``url`` with no password at all (``URL.set(password=None)`` would keep it)."""
    return URL.create(
        url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )


def parse(text: str) -> DatabaseTarget:
    """Parse what a person typed; refuse anything that is not SQLite or Postgres."""
    raw = text.strip()
    if not raw:
        raise InputError("No database was given.")
    if "://" not in raw:
        # A bare path is a standalone file.
        return DatabaseTarget(make_url(f"sqlite:///{Path(raw).expanduser().resolve()}"))
    try:
        url = make_url(raw)
    except ArgumentError:
        raise InputError(f"{mask_text(raw)!r} is not a database URL Paydesk understands.") from None
    except ValueError as exc:  # a port that is not a number, for instance
        raise InputError(f"{mask_text(raw)!r} is not a valid database URL ({exc}).") from None
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
        if not url.database:
            raise InputError(
                f"{mask(url)!r} names no database; add one after the host, like /paydesk."
            )
        try:
            _ = url.port
        except ValueError:
            raise InputError(f"{mask(url)!r} has a port that is not a number.") from None
    elif backend == "sqlite":
        url = url.set(drivername="sqlite")
        if url.database and url.database != ":memory:":
            url = url.set(database=str(Path(url.database).expanduser()))
    else:
        raise InputError(
            f"{mask(url)!r} is neither SQLite nor PostgreSQL; Paydesk works with those two."
        )
    return DatabaseTarget(url)


def mask_text(raw: str) -> str:
    """Best-effort masking of a string that may not even parse."""
    if "@" in raw and "://" in raw:
        scheme, _, rest = raw.partition("://")
        creds, _, host = rest.rpartition("@")
        if ":" in creds:
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:{MASK}@{host}"
    return raw


def with_password(target: DatabaseTarget) -> DatabaseTarget:
    """Fill a missing Postgres password from the keyring (or this session's memory)."""
    if not target.is_postgres or target.url.password or not target.url.username:
        return target
    pw = passwords.get_password(target.keyring_account)
    if pw is None:
        return target
    return DatabaseTarget(target.url.set(password=pw))
