"""``paydesk rollups rebuild|compact|check``: the dashboard's rollup tables."""

from __future__ import annotations

import argparse

from core import rollups
from core.cli.common import open_context, print_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rollups", help="the dashboard's rollup tables")
    rsub = p.add_subparsers(dest="rollups_command", metavar="ACTION", required=True)
    rebuild = rsub.add_parser("rebuild", help="recompute the rollups from the raw rows")
    rebuild.set_defaults(func=run_rebuild)
    compact = rsub.add_parser("compact", help="fold the rollups' delta rows (Postgres)")
    compact.set_defaults(func=run_compact)
    chk = rsub.add_parser("check", help="compare the rollups with a full recount (exit 1: drift)")
    chk.add_argument("--json", action="store_true")
    chk.set_defaults(func=run_check)


def run_rebuild(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    try:
        result = rollups.rebuild(ctx.db)
    finally:
        ctx.db.dispose()
    print(result.sentence())
    return 0


def run_compact(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    try:
        removed = rollups.compact(ctx.db)
    finally:
        ctx.db.dispose()
    print(f"Folded the dashboard rollups: {removed:,} rows fewer.")
    return 0


def run_check(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    try:
        with ctx.db.read() as session:
            drift = rollups.drift(session)
    finally:
        ctx.db.dispose()
    if args.json:
        print_json({"drift": drift, "exact": not any(drift.values())})
    elif any(drift.values()):
        parts = ", ".join(f"{n:,} keys in {t}" for t, n in drift.items() if n)
        print(f"The rollups disagree with a recount: {parts}; run `paydesk rollups rebuild`.")
    else:
        print("The rollups match a full recount.")
    return 1 if any(drift.values()) else 0
