"""``paydesk db upgrade``, ``paydesk db copy`` and ``paydesk rollups rebuild|compact|check``
(the dashboard's rollup tables)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from core.cli.common import database_url, opened, print_json, print_table, say
from core.errors import Refused
from core.money import format_money
from core.overview import rollups
from core.store import dbcopy, dburl
from core.store.db import open_database
from core.store.migrate import head_revision, upgrade

COPY_HELP = """\
Copy every table from one database to another, for instance a standalone file into the
shared Postgres. The target is migrated to this app's schema first; the source is only read
(it must already be at this app's schema). Everything written to the target is ONE
transaction: if anything fails, is cancelled or does not add up, the target is left exactly
as it was. At the end, row counts per table and money totals per table per currency are
compared with the source; any difference is an error and nothing is kept. The target gets
one audit event recording the move.
"""


def register(sub: argparse._SubParsersAction) -> None:
    register_db(sub)
    register_rollups(sub)


def register_db(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database schema and moves")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dbsub.add_parser("upgrade", help="migrate the database to this app's schema")
    up.add_argument(
        "--into-existing",
        action="store_true",
        help="set Paydesk up in a Postgres schema that already holds another application's "
        "tables (they get no Paydesk grants)",
    )
    up.set_defaults(func=run_upgrade)
    cp = dbsub.add_parser(
        "copy",
        help="copy all data into another database (one transaction)",
        description=COPY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cp.add_argument("--from", dest="source", required=True, metavar="URL", help="copy from")
    cp.add_argument("--to", dest="target", required=True, metavar="URL", help="copy into")
    cp.add_argument(
        "--force",
        action="store_true",
        help="replace the data a non-empty target holds (asks first at a terminal)",
    )
    cp.add_argument("--yes", action="store_true", help="do not ask before replacing (--force)")
    cp.set_defaults(func=run_copy)


def run_upgrade(args: argparse.Namespace) -> int:
    db = open_database(database_url(args))
    try:
        changed = upgrade(db, into_existing=args.into_existing)
        print(
            f"{db.target.masked()}: migrated to schema {head_revision()}."
            if changed
            else f"{db.target.masked()}: already at schema {head_revision()}."
        )
    finally:
        db.dispose()
    return 0


def run_copy(args: argparse.Namespace) -> int:
    if args.force and not args.yes:
        _confirm_replace(args.target)
    progress = ProgressLine(sys.stderr)
    try:
        report = dbcopy.copy_database(args.source, args.target, force=args.force, progress=progress)
    finally:
        progress.finish()
    print(
        f"Copied {report.rows:,} rows from {report.source} to {report.target} "
        f"in {report.seconds:.1f} s."
    )
    rows = [
        [
            t.name,
            f"{t.rows:,}",
            ", ".join(format_money(v, c) for c, v in sorted(t.totals.items())),
        ]
        for t in report.tables
    ]
    print_table(["table", "rows", "totals"], rows, right={1})
    if report.replaced_rows:
        print(f"{report.replaced_rows:,} rows that the target held before were replaced.")
    print("Row counts and money totals match the source.")
    return 0


def _confirm_replace(target_url: str) -> None:
    """--force without --yes: ask at a terminal, refuse elsewhere (scripts must say --yes)."""
    holdings = dbcopy.target_holdings(target_url)
    if not holdings:
        return
    what = f"{dburl.parse(target_url).masked()} holds {dbcopy.describe_holdings(holdings)}"
    if not sys.stdin.isatty():
        raise Refused(f"{what}; add --yes to replace it without being asked.")
    answer = input(f"{what}. Replace all of it? Type yes to continue: ")
    if answer.strip().lower() not in ("y", "yes"):
        raise Refused("Nothing was copied; the target was left as it was.")


class ProgressLine:
    """``payments 420,000/1,000,000`` as one updating line at a terminal; one line per
    finished table otherwise (logs and pipes)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = False

    def __call__(self, table: str, done: int, total: int) -> None:
        line = f"{table} {done:,}/{total:,}"
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}")
            self.stream.flush()
            self.shown = True
        elif done == total:
            self.stream.write(line + "\n")

    def finish(self) -> None:
        """Clear the updating line so the summary (or the error) starts on a clean line."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def register_rollups(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollups", help="the dashboard's rollup tables")
    rsub = p.add_subparsers(dest="rollups_command", metavar="ACTION", required=True)
    rebuild = rsub.add_parser("rebuild", help="recompute the rollups from the raw rows")
    rebuild.set_defaults(func=run_rollups_rebuild)
    compact = rsub.add_parser("compact", help="fold the rollups' delta rows (Postgres)")
    compact.set_defaults(func=run_rollups_compact)
    chk = rsub.add_parser("check", help="compare the rollups with a full recount (exit 1: drift)")
    chk.add_argument("--json", action="store_true")
    chk.set_defaults(func=run_rollups_check)


def run_rollups_rebuild(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        result = rollups.rebuild(ctx.db)
    say(result.sentence())
    return 0


def run_rollups_compact(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        removed = rollups.compact(ctx.db)
    say(f"Folded the dashboard rollups: {removed:,} rows fewer.")
    return 0


def run_rollups_check(args: argparse.Namespace) -> int:
    with opened(args) as ctx, ctx.db.read() as session:
        drift = rollups.drift(session)
    if args.json:
        print_json({"drift": drift, "exact": not any(drift.values())})
    elif any(drift.values()):
        parts = ", ".join(f"{n:,} keys in {t}" for t, n in drift.items() if n)
        say(f"The rollups disagree with a recount: {parts}; run `paydesk rollups rebuild`.")
    else:
        say("The rollups match a full recount.")
    return 1 if any(drift.values()) else 0
