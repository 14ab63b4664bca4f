"""Database URLs as people type them: ``postgresql://…``, ``postgres://…``, ``sqlite:///path``
or a bare file path. Passwords are masked wherever a URL is shown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core.errors import InputError
from core.store import passwords

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


# Query parameters that carry a password (libpq reads ``password`` and ``sslpassword``).
PASSWORD_PARAMS = frozenset({"password", "sslpassword"})


def is_password_param(name: str) -> bool:
    return name.lower() in PASSWORD_PARAMS


def _login_escaped(raw: str) -> str:
    """``raw`` with every ``@`` of the login escaped. The last ``@`` before the query separates
    the login from the host, so a password with an unescaped ``@`` (``bob:p@ss@host/db``) is
    read whole; an ``@`` in a database name must then be written ``%40``."""
    scheme, sep, rest = raw.partition("://")
    head, q, query = rest.partition("?")
    login, at, where = head.rpartition("@")
    if not sep or not at or "@" not in login:
        return raw
    return f"{scheme}://{login.replace('@', '%40')}@{where}{q}{query}"


def _make_url(text: str) -> URL:
    return make_url(_login_escaped(text))


def password_of(url: URL) -> str | None:
    """The password ``url`` carries: the login's, else a ``password`` query parameter."""
    if url.password:
        return str(url.password)
    for name, value in url.query.items():
        if name.lower() == "password" and value:
            return value if isinstance(value, str) else value[-1]
    return None


def mask(url: URL | str) -> str:
    """The URL for people and logs: every password (the login's, or in a query parameter)
    shown as ``***``."""
    if isinstance(url, str):
        text = url
        try:
            url = _make_url(text)
        except (ArgumentError, ValueError):
            return mask_text(text)
    # People typed postgresql://, so show that rather than the driver name.
    url = url.set(drivername=url.get_backend_name())
    hidden = {k: MASK for k in url.query if is_password_param(k)}
    if hidden:
        url = url.update_query_dict(hidden)
    shown = url.render_as_string(hide_password=True)
    # The query's "***" comes out escaped; show it as the login's is.
    return shown.replace("%2A%2A%2A", MASK) if hidden else shown


def strip_password(text: str) -> str:
    """The URL without any password, for the settings file."""
    try:
        url = _make_url(text)
    except (ArgumentError, ValueError):
        return mask_text(text)
    return without_password(url).render_as_string(hide_password=False)


def without_password(url: URL) -> URL:
    """``url`` with no password at all, neither the login's nor a query parameter
    (``URL.set(password=None)`` would keep it)."""
    return URL.create(
        url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query={k: v for k, v in url.query.items() if not is_password_param(k)},
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
        url = _make_url(raw)
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
        if not url.database or url.database == ":memory:":
            # An in-memory database would vanish with the process, and every copy's own.
            raise InputError(
                f"{mask_text(raw)!r} names no database file; give one, like "
                "sqlite:///path/to/paydesk.sqlite3."
            )
        url = url.set(database=str(Path(url.database).expanduser()))
    else:
        raise InputError(
            f"{mask(url)!r} is neither SQLite nor PostgreSQL; Paydesk works with those two."
        )
    return DatabaseTarget(url)


_QUERY_PASSWORD = re.compile(r"([?&](?:" + "|".join(PASSWORD_PARAMS) + r")=)[^&#]*", re.IGNORECASE)


def mask_text(raw: str) -> str:
    """Best-effort masking of a string that may not even parse: the login's password (up to
    the last ``@`` before the query) and password query parameters."""
    text = raw
    scheme, sep, rest = raw.partition("://")
    if sep:
        head, q, query = rest.partition("?")
        login, at, where = head.rpartition("@")
        if at and ":" in login:
            login = f"{login.split(':', 1)[0]}:{MASK}"
        text = f"{scheme}://{login}{at}{where}{q}{query}"
    return _QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, text)


def scrub(text: str, url: URL) -> str:
    """``text`` (a driver's message, say) with any password of ``url`` replaced by ``***``.
    Passwords shorter than four characters are left alone: replacing every ``e`` would make
    the message unreadable, and drivers do not quote passwords anyway."""
    for secret in (url.password, password_of(url)):
        if secret and len(str(secret)) >= 4:
            text = text.replace(str(secret), MASK)
    return text


def with_password(target: DatabaseTarget) -> DatabaseTarget:
    """Fill a missing Postgres password from the keyring (or this session's memory)."""
    if not target.is_postgres or password_of(target.url) or not target.url.username:
        return target
    pw = passwords.get_password(target.keyring_account)
    if pw is None:
        return target
    return DatabaseTarget(target.url.set(password=pw))
