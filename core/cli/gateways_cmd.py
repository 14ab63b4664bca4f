"""``paydesk gateways add|list|show|sync|remove`` (connections to merchants' gateways)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.cli.common import opened, print_json, print_table, say
from core.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gateways", help="connections to merchants' payment gateways")
    gsub = p.add_subparsers(dest="gateways_command", metavar="ACTION", required=True)

    add = gsub.add_parser("add", help="connect a gateway account (admin)")
    add.add_argument("name")
    add.add_argument("--url", required=True, help="the server root or its …/api/v1")
    add.add_argument("--api-key", required=True)
    add.add_argument(
        "--api-secret-stdin",
        action="store_true",
        help="read the API secret from standard input (otherwise asked for on the terminal)",
    )
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=run_add)

    ls = gsub.add_parser("list", help="every connection")
    ls.add_argument("--all", action="store_true", help="removed connections too")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)

    show = gsub.add_parser("show", help="one connection: capabilities, last sync, counts")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)

    sync = gsub.add_parser("sync", help="sync one connection, or all, now")
    sync.add_argument("name", nargs="?")
    sync.add_argument("--json", action="store_true")
    sync.set_defaults(func=run_sync)

    rm = gsub.add_parser("remove", help="stop syncing and forget the secret (admin)")
    rm.add_argument("name")
    rm.add_argument("--json", action="store_true")
    rm.set_defaults(func=run_remove)


def _read_secret(from_stdin: bool) -> str:
    if from_stdin:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise InputError("No API secret was given on standard input.")
        return secret
    if not sys.stdin.isatty():
        raise InputError(
            "Give the API secret on a terminal, or pipe it in with --api-secret-stdin."
        )
    import getpass

    return getpass.getpass("API secret: ").strip()


def run_add(args: argparse.Namespace) -> int:
    from core.gateway import connections
    from core.gateway.client import api_base

    api_base(args.url)  # a bad URL is refused before anything is asked or opened
    connections.check_name(args.name)
    secret = _read_secret(args.api_secret_stdin)
    with opened(args) as ctx:
        conn, kept = connections.add_connection(
            ctx, ctx.default_actor(), args.name, args.url, args.api_key, secret
        )
    if args.json:
        print_json(conn.as_json())
        return 0
    say(f"Connected {conn.name} at {conn.url}.")
    for line in conn.capabilities.lines():
        say(f"  {line}")
    if kept == "memory":
        from core.gateway.secrets import env_var

        say(
            "No keyring is available: the secret was not stored. Workers read it from "
            f"{env_var(conn.name)}."
        )
    return 0


def _when(value: Any) -> str:
    from core.payments.queries import iso

    return iso(value) or "never"


def run_list(args: argparse.Namespace) -> int:
    from core.gateway import connections

    with opened(args) as ctx:
        rows = connections.list_connections(ctx, ctx.default_actor(), include_removed=args.all)
    if args.json:
        print_json([c.as_json() for c in rows])
        return 0
    print_table(
        ["name", "url", "last sync", "outcome", "payments", "refunds", "logs"],
        [
            [
                c.name + (" (removed)" if c.removed else ""),
                c.url,
                _when(c.last_sync_at),
                c.last_sync_outcome or "",
                str(c.payments),
                str(c.refunds),
                str(c.logs),
            ]
            for c in rows
        ],
        right={4, 5, 6},
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    from core.gateway import connections

    with opened(args) as ctx:
        c = connections.show_connection(ctx, ctx.default_actor(), args.name)
    if args.json:
        print_json(c.as_json())
        return 0
    say(f"{c.name}{' (removed)' if c.removed else ''}")
    say(f"url          {c.url}")
    say(f"api key      {c.api_key_masked}")
    say(f"secret       {c.secret}")
    say(f"added        {_when(c.added_at)} by {c.added_by}")
    say(f"last sync    {_when(c.last_sync_at)} {c.last_sync_outcome or ''}".rstrip())
    if c.last_error:
        say(f"last error   {c.last_error}")
    say(f"counts       {c.payments} payments, {c.refunds} refunds, {c.logs} webhook logs")
    for line in c.capabilities.lines():
        say(f"offers       {line}")
    if c.queue_status:
        q = c.queue_status
        say(
            f"queue        {q.get('pending')} pending, {q.get('processing')} processing, "
            f"{q.get('completed')} completed, {q.get('failed')} failed, "
            f"worker {q.get('worker_status')}"
        )
    for s in c.skipped[:10]:
        say(f"skipped      {s}")
    return 0


def run_sync(args: argparse.Namespace) -> int:
    from core.gateway import sync

    with opened(args) as ctx:
        results = sync.sync_now(ctx, ctx.default_actor(), args.name)
    if args.json:
        print_json([r.as_json() for r in results])
    else:
        for r in results:
            say(r.sentence())
            for s in r.skipped[:10]:
                say(f"  {s}")
    return 1 if any(r.error for r in results) else 0


def run_remove(args: argparse.Namespace) -> int:
    from core.gateway import connections

    with opened(args) as ctx:
        c = connections.remove_connection(ctx, ctx.default_actor(), args.name)
    if args.json:
        print_json(c.as_json())
        return 0
    say(f"Removed {c.name}: it is no longer synced and its secret is forgotten; its rows stay.")
    return 0
