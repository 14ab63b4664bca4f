"""``paydesk payments list``."""

from __future__ import annotations

import argparse

from core.cli.common import UTC_LABEL, opened, positive_int, print_json, print_table, utc_text
from core.money import format_money
from core.payments import queries as payments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("payments", help="find payments")
    psub = p.add_subparsers(dest="payments_command", metavar="ACTION", required=True)
    ls = psub.add_parser("list", help="list payments, newest first")
    add_filter_arguments(ls)
    ls.add_argument(
        "--limit", type=positive_int, default=100, help="at most this many (default 100)"
    )
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ls.set_defaults(func=run_list)


def add_filter_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", choices=payments.STATUSES)
    p.add_argument("--merchant", metavar="ID")
    p.add_argument("--method", choices=payments.METHODS)
    p.add_argument(
        "--search", metavar="Q", help="payment id, order id, or start of customer email/VPA"
    )
    p.add_argument("--sort", choices=payments.SORTS, default="created")


def filter_from(args: argparse.Namespace) -> payments.PaymentFilter:
    return payments.PaymentFilter(
        status=args.status,
        merchant_id=args.merchant,
        method=args.method,
        search=args.search,
        sort=args.sort,
    ).validated()


def run_list(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        f = filter_from(args)
        with ctx.db.read() as session:
            rows = payments.page(session, f, limit=args.limit)
            names = payments.merchant_names(session)
    if args.json:
        print_json([payments.row_as_json(r) for r in rows])
        return 0
    print_table(
        [
            f"created {UTC_LABEL}",
            "id",
            "merchant",
            "order",
            "method",
            "amount",
            "status",
            "refunded",
            "requested",
        ],
        [
            [
                utc_text(r.created_at),
                r.id,
                names.get(r.merchant_id, r.merchant_id),
                r.order_id,
                r.method,
                format_money(r.amount, r.currency),
                r.status,
                format_money(r.refunded_amount, r.currency) if r.refunded_amount else "",
                format_money(r.pending_refund_amount, r.currency)
                if r.pending_refund_amount
                else "",
            ]
            for r in rows
        ],
        right={5, 7, 8},
    )
    return 0
