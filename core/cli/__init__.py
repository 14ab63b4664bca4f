"""The ``paydesk`` command line. Every subcommand calls ``core`` services; none writes SQL.

Errors are one sentence on stderr: exit 2 for bad input or a refused action, 1 for a
runtime failure. The GUI is opened through a callable handed in by ``desktop.entry`` so
that ``core`` never imports Qt.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from core import __version__
from core.errors import PaydeskError

# Modules under core.cli that each add their subcommands with ``register(subparsers)``.
COMMAND_MODULES = (
    "core.cli.db_cmd",
    "core.cli.payments_cmd",
    "core.cli.staff_cmd",
    "core.cli.policy_cmd",
    "core.cli.refunds_cmd",
    "core.cli.worker_cmd",
    "core.cli.health_cmd",
    "core.cli.rollups_cmd",
    "core.cli.webhooks_cmd",
    "core.cli.merchants_cmd",
    "core.cli.demo_cmd",
    "core.cli.export_cmd",
)

GuiLauncher = Callable[[argparse.Namespace], int]

# Commands that monitors call often: when one is named, only its module is loaded, so the
# process answers fast (`paydesk health` within half a second, process start included).
FAST_COMMANDS = {"health": "core.cli.health_cmd"}
# Global options that take a value, skipped when looking for the command's name.
_VALUE_OPTIONS = ("--database", "--screenshot", "--view")


def command_name(argv: Sequence[str] | None) -> str | None:
    """The subcommand named on the command line, if any."""
    args = list(sys.argv[1:] if argv is None else argv)
    i = 0
    while i < len(args):
        if args[i] in _VALUE_OPTIONS:
            i += 2
        elif args[i].startswith("-"):
            i += 1
        else:
            return args[i]
    return None


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One sentence, not a usage dump.
        msg = message[0].upper() + message[1:] if message else "Invalid arguments"
        self.exit(2, f"paydesk: {msg.rstrip('.')}. See `{self.prog} --help`.\n")


def modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The command modules a command line needs: the named command's alone when it is a fast
    one, none when the window is being opened (nothing names a command and no help is
    asked for: they would load SQLAlchemy and httpx before the window), otherwise all."""
    name = command_name(argv)
    if name is None:
        args = sys.argv[1:] if argv is None else argv
        return COMMAND_MODULES if any(a in ("-h", "--help") for a in args) else ()
    fast = FAST_COMMANDS.get(name)
    return (fast,) if fast else COMMAND_MODULES


def build_parser(only: str | Sequence[str] | None = None) -> Parser:
    """The parser with every subcommand, or with only the module(s) ``only``."""
    parser = Parser(
        prog="paydesk", description="Paydesk: payments, refunds and webhooks back office."
    )
    parser.add_argument("--version", action="version", version=f"Paydesk {__version__}")
    parser.add_argument(
        "--database", metavar="URL", help="database URL or SQLite file (also PAYDESK_DATABASE_URL)"
    )
    parser.add_argument(
        "--demo", action="store_true", help="use the separate demo database, seeded on first run"
    )
    parser.add_argument(
        "--screenshot", metavar="FILE.png", help="render the main window to a PNG and exit"
    )
    parser.add_argument("--view", default=None, help="view to open (payments, jobs, ...)")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="smoke test: temp database, migrate, scheduler, window",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    if only is None:
        only = COMMAND_MODULES
    for name in (only,) if isinstance(only, str) else only:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None, gui: GuiLauncher | None = None) -> int:
    parser = build_parser(modules_for(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command is None:
            if gui is None:
                print(
                    "paydesk: The desktop app is not installed here; use a subcommand (see --help).",
                    file=sys.stderr,
                )
                return 2
            return gui(args)
        return int(args.func(args) or 0)
    except PaydeskError as exc:
        print(f"paydesk: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("paydesk: Interrupted.", file=sys.stderr)
        return 130
