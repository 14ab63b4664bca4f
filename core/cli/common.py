"""What the subcommands share: opening the database a command names, printing results."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core import settings
from core.context import Context
from core.db import open_database
from core.migrate import check_schema, upgrade


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
        from core.roles import ensure_first_admin

        ensure_first_admin(ctx, ctx.default_actor())
    return ctx


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> None:
    """A plain aligned table for terminals."""
    right = right or set()
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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value
