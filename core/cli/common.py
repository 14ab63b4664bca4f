"""What the subcommands share: opening the database a command names, printing results.

Human-readable output goes through ``say`` and ``print_table`` (control characters in text
people wrote are escaped, see ``core.cli.text``); ``print_json`` is exact."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from core import settings
from core.cli.text import printable, say
from core.context import Context
from core.store.db import open_database
from core.store.migrate import check_schema, upgrade

__all__ = [
    "MAX_LIMIT",
    "database_url",
    "open_context",
    "positive_int",
    "print_json",
    "print_table",
    "printable",
    "say",
    "utc_text",
]

# Every time the command line writes for people is in UTC, whatever the machine's zone, and
# says so once: in the column header (``created (UTC)``) or after the value (``… UTC``).
UTC_LABEL = "(UTC)"


def utc_text(dt: datetime | None, *, seconds: bool = False, label: bool = False) -> str:
    """``2026-01-10 09:00`` (or with ``:SS``) in UTC; ``label`` adds `` UTC`` for a value that
    stands alone; an empty string for no time."""
    if dt is None:
        return ""
    text = dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} UTC" if label else text


def database_url(args: argparse.Namespace) -> str:
    return settings.resolve_database_url(
        getattr(args, "database", None), demo=getattr(args, "demo", False)
    )


def open_context(args: argparse.Namespace, *, migrate: bool = True, pool_size: int = 5) -> Context:
    """Open (and by default upgrade) the database the command runs against."""
    db = open_database(database_url(args), pool_size=pool_size)
    try:
        if migrate:
            upgrade(db)
        else:
            check_schema(db)
    except BaseException:
        db.dispose()
        raise
    ctx = Context(db=db)
    if migrate:
        # The first person to open an empty database becomes its admin.
        from core.access.roles import ensure_first_admin

        ensure_first_admin(ctx, ctx.default_actor())
    return ctx


@contextmanager
def opened(args: argparse.Namespace, **kwargs: Any) -> Iterator[Context]:
    """``open_context`` for the length of a ``with`` block; the pool is closed after it."""
    ctx = open_context(args, **kwargs)
    try:
        yield ctx
    finally:
        ctx.db.dispose()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> None:
    """A plain aligned table for terminals; each cell is one line, its control characters
    escaped (see ``core.cli.text``)."""
    right = right or set()
    headers = [printable(h) for h in headers]
    rows = [[printable(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    print(fmt(headers))
    for row in rows:
        print(fmt(row))


# The most rows a ``list`` prints (and holds in memory); ``paydesk export`` streams any number.
MAX_LIMIT = 100_000


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1 to ``MAX_LIMIT`` (every ``--limit``)."""
    digits = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", digits):  # ASCII digits only: no '1_0', no '٣'
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    # Python reads at most 4,300 digits; anything past 18 is far above the limit anyway.
    too_long = -1 if digits.startswith("-") else MAX_LIMIT + 1
    value = int(digits) if len(digits) <= 18 else too_long
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{digits[:24]!r} must be greater than zero")
    if value > MAX_LIMIT:
        raise argparse.ArgumentTypeError(
            f"{digits[:24]}{'…' if len(digits) > 24 else ''} is more than {MAX_LIMIT:,}; "
            "use `paydesk export` for more rows"
        )
    return value
