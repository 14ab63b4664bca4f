"""Errors a person reads. Each carries one clear sentence; the CLI maps the kind to an exit code."""

from __future__ import annotations


class PaydeskError(Exception):
    """Base for every error Paydesk reports to a person.

    ``exit_code`` follows the command line's convention: 2 for bad input or a refused
    action, 1 for a runtime failure (database down, disk full, ...).
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(PaydeskError):
    """The person gave something Paydesk cannot use (an amount, an id, a URL, a path)."""

    exit_code = 2


class NotFound(InputError):
    """An id that names nothing."""


class Refused(InputError):
    """A well-formed action that the rules do not allow (role, state, four eyes, limits)."""


class Conflict(Refused):
    """Somebody else changed the thing first (a concurrent decision, a reused key)."""


class DatabaseUnavailable(PaydeskError):
    """The database cannot be reached or opened."""


class SchemaTooNew(PaydeskError):
    """The database was migrated by a newer Paydesk than this one."""


# -- any exception as one sentence ---------------------------------------------------------------

# SQLite's primary result codes (sqlite3 exceptions carry them as ``sqlite_errorcode``).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 5, 6, 11, 13, 26
_SQLITE_IOERR, _SQLITE_READONLY, _SQLITE_CANTOPEN = 10, 8, 14


# Where the details of an unexpected failure are, for each kind of caller.
CLI_DETAILS = "run the command again with --verbose to see the details"
LOG_DETAILS = "the log has the details"


def sentence(exc: BaseException, *, database: str | None = None, details: str = LOG_DETAILS) -> str:
    """One sentence for a person about any exception: a Paydesk error's own, a database or
    operating-system error's meaning, otherwise what kind of failure it was. ``database`` names
    the database in use (a file path or a masked URL) for the sentences that mention it;
    ``details`` says where to look when the failure was unexpected (the command line's
    ``--verbose``, or the log for the window and the scheduler).

    The one exception-to-sentence function: the command line, the scheduler's task states and
    every window use it. Nothing here imports SQLAlchemy or a driver (a driver's exception is
    recognised by its attributes)."""
    if isinstance(exc, PaydeskError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted."
    found = _database_sentence(exc, database)
    if found:
        return found
    if isinstance(exc, OSError):
        return _os_sentence(exc)
    if isinstance(exc, MemoryError):
        return "Paydesk ran out of memory; try a smaller --limit or filter."
    detail = _first_line(str(exc))
    kind = type(exc).__name__
    return f"Paydesk failed unexpectedly ({kind}{': ' + detail if detail else ''}); {details}."


def exit_code(exc: BaseException) -> int:
    """The command line's exit code for ``exc``: a Paydesk error's own, 130 for an
    interruption, otherwise 1 (a runtime failure)."""
    if isinstance(exc, PaydeskError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip().rstrip(".") if lines else ""


def _driver_error(exc: BaseException) -> BaseException | None:
    """The DB-API driver's exception behind ``exc`` (SQLAlchemy wraps it as ``orig``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__.split(".")[0]
        if module in ("sqlite3", "psycopg", "psycopg2"):
            return current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def _database_sentence(exc: BaseException, database: str | None) -> str | None:
    driver = _driver_error(exc)
    if driver is None:
        return None
    raw = _first_line(str(driver))
    low = raw.lower()
    the_db = f"the database {database}" if database else "the database"
    where = the_db[0].upper() + the_db[1:]
    if type(driver).__module__.split(".")[0] == "sqlite3":
        code = getattr(driver, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in low:
            return f"{where} is locked by another program; try again."
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in low:
            return (
                f"{where} is damaged ({raw}); restore it from a backup "
                "(`paydesk health` checks it)."
            )
        if primary == _SQLITE_FULL or "disk is full" in low:
            return f"The disk holding {the_db} is full; free some space and try again."
        if primary == _SQLITE_READONLY or "readonly" in low:
            return f"{where} is read-only here; Paydesk cannot write to it."
        if primary == _SQLITE_IOERR:
            return f"{where} could not be read or written ({raw}); check the disk."
        if primary == _SQLITE_CANTOPEN:
            return f"{where} cannot be opened ({raw})."
        return f"{where} failed: {raw}."
    sqlstate = getattr(driver, "sqlstate", None) or getattr(driver, "pgcode", None) or ""
    if sqlstate == "57014":  # query_canceled
        why = "statement timeout" if "statement timeout" in low else raw.split(" due to ")[-1]
        return f"The database cancelled the query: {why}."
    if sqlstate == "55P03":  # lock_not_available (lock_timeout)
        return f"{where} is locked by another program; try again."
    if sqlstate in ("40001", "40P01"):  # serialization failure, deadlock
        return f"The database stopped the command because of a conflicting one ({raw}); try again."
    if sqlstate.startswith("08") or getattr(exc, "connection_invalidated", False):
        return f"The connection to {the_db} was lost ({raw}); try again."
    if sqlstate == "53100":
        return "The database server's disk is full; ask its administrator."
    if sqlstate == "42501":
        return f"The database refused the command: {raw}."
    if not sqlstate and "server closed the connection" in low:
        return f"The connection to {the_db} was lost; try again."
    return f"The database refused the command: {raw}."


def _os_sentence(exc: OSError) -> str:
    import errno

    what = exc.strerror or _first_line(str(exc)) or type(exc).__name__
    name = f" {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"No space is left on the device{' for' + name if name else ''}; free some and try again."
    if name:
        return f"Paydesk could not use{name}: {what}."
    return f"The system refused: {what}."
