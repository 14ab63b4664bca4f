"""The ``paydesk`` console script. Subcommands never import Qt; only opening a window does."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def launch_gui(args: argparse.Namespace) -> int:
    from desktop.app import run  # Qt is imported only here, when a window is wanted

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli import main as cli_main

    return cli_main(argv, gui=launch_gui)


if __name__ == "__main__":
    sys.exit(main())
