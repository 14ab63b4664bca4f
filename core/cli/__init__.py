"""The ``paydesk`` command line. Every subcommand calls ``core`` services; none writes SQL.

Errors are one sentence on stderr: exit 2 for bad input or a refused action, 1 for a
runtime failure (any database or system error included; ``--verbose`` adds the traceback). The GUI is opened through a callable handed in by ``desktop.entry`` so
that ``core`` never imports Qt.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from core import __version__
from core.errors import CLI_DETAILS, PaydeskError, exit_code, sentence

# Modules under core.cli that each add their subcommands with ``register(subparsers)``.
COMMAND_MODULES = (
    "core.cli.db_cmd",
    "core.cli.payments_cmd",
    "core.cli.access_cmd",
    "core.cli.refunds_cmd",
    "core.cli.worker_cmd",
    "core.cli.health_cmd",
    "core.cli.webhooks_cmd",
    "core.cli.merchants_cmd",
    "core.cli.demo_cmd",
    "core.cli.export_cmd",
    "core.cli.gateways_cmd",
    "core.cli.recon_cmd",
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
    """Run one command line and return its exit code. Nothing escapes as a traceback: any
    error is one sentence on stderr (``core.errors.sentence``), with the traceback too only
    under ``--verbose``; a reader that closes the pipe early (``| head``) ends it quietly."""
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
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except KeyboardInterrupt:
        print("paydesk: Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        from core.cli.text import say  # not before it is needed: opening the window skips it

        if args.verbose and not isinstance(exc, PaydeskError):
            traceback.print_exc()
        with contextlib.suppress(OSError):
            say(
                f"paydesk: {sentence(exc, database=_database_named(args), details=CLI_DETAILS)}",
                file=sys.stderr,
            )
        return exit_code(exc)


def _quiet_stdout() -> None:
    """What Python's documentation recommends for SIGPIPE: point stdout at the null device so
    the flush at exit does not fail again, and exit without a word."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _database_named(args: argparse.Namespace) -> str | None:
    """The database the command ran against, for an error sentence (a file path or the URL
    with its password masked); None when that cannot be told."""
    try:
        from core import settings
        from core.store import dburl

        target = dburl.parse(
            settings.resolve_database_url(
                getattr(args, "database", None), demo=getattr(args, "demo", False)
            )
        )
        return str(target.sqlite_path) if target.sqlite_path else target.masked()
    except Exception:
        return None
