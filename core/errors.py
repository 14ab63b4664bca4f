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
