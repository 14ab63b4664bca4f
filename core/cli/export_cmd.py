"""``paydesk export payments|webhooks|refunds --out FILE.csv [filters]``; other tables add a
subcommand here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from core.cli import recon_cmd
from core.cli.common import open_context, say
from core.cli.payments_cmd import add_filter_arguments, filter_from
from core.cli.webhooks_cmd import parse_time
from core.context import Context
from core.payments import export
from core.refunds.records import RefundFilter
from core.refunds.states import KINDS, STATUSES
from core.webhooks import deliveries as webhooks


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a filtered view to a CSV file")
    esub = p.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    pay = esub.add_parser(
        "payments",
        help="payments, newest first",
        description="Write the payments the filters select to a CSV file (amounts in major "
        "units as exact decimals, plus amount_minor). The file appears only when the export "
        "is complete; it replaces a file of the same name (a link: the file it names). A "
        "folder, a device or a pipe of that name is refused.",
    )
    pay.add_argument("--out", metavar="FILE.csv", required=True, type=Path)
    add_filter_arguments(pay)
    pay.set_defaults(func=run_payments)

    hooks = esub.add_parser(
        "webhooks",
        help="webhook deliveries, newest first",
        description="Write the webhook logs the filters select to a CSV file, one line per "
        "log with its latest outcome. The file appears only when the export is complete.",
    )
    hooks.add_argument("--out", metavar="FILE.csv", required=True, type=Path)
    hooks.add_argument("--status", choices=webhooks.STATUSES)
    hooks.add_argument("--merchant", metavar="ID")
    hooks.add_argument("--event", metavar="NAME", help="e.g. payment.captured")
    hooks.add_argument("--since", metavar="TIME", help="created at or after (ISO 8601, UTC)")
    hooks.add_argument("--until", metavar="TIME", help="created before (ISO 8601, UTC)")
    hooks.add_argument("--search", metavar="ID", help="a log id (msg_…) or a payment/refund id")
    hooks.set_defaults(func=run_webhooks)

    ref = esub.add_parser(
        "refunds",
        help="refunds, newest first",
        description="Write the refunds the filters select to a CSV file (amounts in major "
        "units as exact decimals, plus amount_minor). The file appears only when the export "
        "is complete.",
    )
    ref.add_argument("--out", metavar="FILE.csv", required=True, type=Path)
    ref.add_argument("--status", choices=STATUSES)
    ref.add_argument("--merchant", metavar="ID")
    ref.add_argument("--payment", metavar="ID")
    ref.add_argument("--requested-by", metavar="USER")
    ref.add_argument("--kind", choices=KINDS)
    ref.add_argument("--search", metavar="Q", help="a refund id or a payment id")
    ref.set_defaults(func=run_refunds)
    recon_cmd.add_export(esub)


def run_payments(args: argparse.Namespace) -> int:
    f = filter_from(args)
    return _write(
        args,
        "payment",
        lambda ctx, target, progress: export.export_payments(ctx.db, f, target, progress=progress),
    )


def run_webhooks(args: argparse.Namespace) -> int:
    f = webhooks.WebhookFilter(
        status=args.status,
        merchant_id=args.merchant,
        event=args.event,
        created_from=parse_time(args.since, "--since"),
        created_to=parse_time(args.until, "--until"),
        search=args.search,
    ).validated()
    return _write(
        args,
        "webhook log",
        lambda ctx, target, progress: export.export_webhooks(ctx.db, f, target, progress=progress),
    )


def run_refunds(args: argparse.Namespace) -> int:
    f = RefundFilter(
        status=args.status,
        merchant_id=args.merchant,
        payment_id=args.payment,
        requested_by=args.requested_by,
        kind=args.kind,
        search=args.search,
    ).validated()
    return _write(
        args,
        "refund",
        lambda ctx, target, progress: export.export_refunds(
            ctx.db, f, target, now=ctx.clock.now(), progress=progress
        ),
    )


def _write(
    args: argparse.Namespace,
    noun: str,
    write: Callable[[Context, Path, export.Progress | None], int],
) -> int:
    """Run one export the way every subcommand does and say how many ``noun``s it wrote."""
    target = export.check_target(args.out)  # before the database is opened
    ctx = open_context(args)
    progress = _progress if sys.stderr.isatty() else None
    try:
        rows = write(ctx, target, progress)
    finally:
        if progress:
            sys.stderr.write("\r\x1b[K")
        ctx.db.dispose()
    say(f"Wrote {rows:,} {noun}{'s' if rows != 1 else ''} to {target}.")
    return 0


def _progress(rows: int) -> None:
    sys.stderr.write(f"\rExporting: {rows:,} rows")
    sys.stderr.flush()
