"""The ``paydesk`` console script. Subcommands never import Qt; only opening a window does."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def launch_gui(args: argparse.Namespace) -> int:
    from desktop.platform_check import xcb_problem

    # --self-test and --screenshot run offscreen; a window on X needs the xcb plugin's libraries.
    headless = bool(getattr(args, "self_test", False) or getattr(args, "screenshot", None))
    problem = None if headless else xcb_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from desktop.shell.app import run  # Qt is imported only here, when a window is wanted

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli import main as cli_main

    return cli_main(argv, gui=launch_gui)


if __name__ == "__main__":
    sys.exit(main())
