"""``paydesk demo --payments N [--seed S] [--webhook-url URL]``."""

from __future__ import annotations

import argparse
import sys
import time

from core.cli.common import open_context, say
from core.demo import generator as demo
from core.demo import settlements
from core.recon import samples

DEFAULT_PAYMENTS = 10_000

HELP = """\
Fill the database with realistic demo data: 5-8 merchants, six staff members (admin,
finance, support), N payments over the last 90 days, subscriptions, refunds in every state,
webhook logs with their delivery attempts, and audit events. The same --seed gives the
same ids and amounts.

The data goes into the database Paydesk is pointed at (--database URL, or --demo for the
separate demo database) and only into one that holds no payments yet: running it again
on the same database is refused, so demo data never mixes with real data or an earlier
demo. Act as one of the demo staff with PAYDESK_ACTOR=asha.menon (admin), rahul.verma
(finance) or vikram.singh (support) in standalone mode.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="fill an empty database with realistic demo data",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Checked by core.demo.generator (the GUI's sentences too), before the database is opened.
    p.add_argument(
        "--payments",
        metavar="N",
        default=str(DEFAULT_PAYMENTS),
        help=f"how many payments (default {DEFAULT_PAYMENTS:,}; at most {demo.MAX_PAYMENTS:,})",
    )
    p.add_argument("--seed", metavar="S", default="1", help="random seed (default 1)")
    p.add_argument(
        "--webhook-url",
        metavar="URL",
        help="every merchant's webhook endpoint (default: none, deliveries stay pending)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    payments = demo.check_payments(args.payments)
    webhook_url = demo.check_webhook_url(args.webhook_url)
    seed = demo.check_seed(args.seed)
    ctx = open_context(args)
    started = time.perf_counter()
    line = _ProgressLine() if sys.stderr.isatty() else None
    try:
        summary = demo.seed(
            ctx.db,
            payments=payments,
            seed=seed,
            webhook_url=webhook_url,
            now=ctx.clock.now(),
            progress=line.show if line else None,
        )
        reports = settlements.write_reports(ctx.db, samples.sample_folder(), now=ctx.clock.now())
    finally:
        if line:
            line.clear()
        ctx.db.dispose()
    seconds = time.perf_counter() - started
    reported = (
        f"; {len(reports)} sample settlement reports to import are in {reports[0].parent}"
        if reports
        else ""
    )
    say(f"Seeded {summary.sentence()} into {ctx.db.describe()} in {seconds:.1f} s{reported}.")
    return 0


class _ProgressLine:
    """One line on a terminal's stderr, rewritten in place."""

    def __init__(self) -> None:
        self.width = 0

    def show(self, stage: str, done: int, total: int) -> None:
        if stage == "payments":
            text = f"Seeding payments {done:,}/{total:,}"
        else:
            text = "Building indexes…"
        self._write(text)

    def clear(self) -> None:
        self._write("")

    def _write(self, text: str) -> None:
        sys.stderr.write("\r" + text.ljust(self.width) + ("\r" if not text else ""))
        sys.stderr.flush()
        self.width = max(self.width, len(text))
