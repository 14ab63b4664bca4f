"""``paydesk refunds request|approve|reject|cancel|retry|list|show``.

The person acting is ``PAYDESK_ACTOR`` or the OS user in standalone mode, the database login
in shared mode. Every subcommand takes ``--json``; refusals exit 2 with the service's sentence.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core import refunds
from core.cli.common import open_context, positive_int, print_json, print_table
from core.context import Context
from core.errors import InputError
from core.money import format_money
from core.payments import iso


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("refunds", help="request, decide and find refunds")
    rsub = p.add_subparsers(dest="refunds_command", metavar="ACTION", required=True)

    rq = rsub.add_parser("request", help="request a refund of a payment")
    rq.add_argument("payment_id", metavar="PAYMENT_ID")
    rq.add_argument("--amount", metavar="AMOUNT", help="in the payment's currency, e.g. 12.50")
    rq.add_argument("--reason", help=f"one of {', '.join(refunds.REASONS)}")
    rq.add_argument("--note", metavar="TEXT")
    rq.add_argument("--idempotency-key", metavar="KEY", help="the same key never refunds twice")
    kind = rq.add_mutually_exclusive_group()
    kind.add_argument("--pro-rata", action="store_true", help="the unused share of the period")
    kind.add_argument("--full", action="store_true", help="everything still refundable")
    rq.add_argument("--json", action="store_true")
    rq.set_defaults(func=run_request)

    ap = rsub.add_parser("approve", help="approve pending refunds (finance, admin)")
    ap.add_argument("refund_ids", metavar="ID", nargs="+")
    ap.add_argument("--json", action="store_true")
    ap.set_defaults(func=run_approve)

    rj = rsub.add_parser("reject", help="reject a pending refund with a note (finance, admin)")
    rj.add_argument("refund_id", metavar="ID")
    rj.add_argument("--note", metavar="TEXT", help="why (required)")
    rj.add_argument("--json", action="store_true")
    rj.set_defaults(func=run_reject)

    cn = rsub.add_parser("cancel", help="withdraw your own pending request")
    cn.add_argument("refund_id", metavar="ID")
    cn.add_argument("--json", action="store_true")
    cn.set_defaults(func=run_cancel)

    rt = rsub.add_parser("retry", help="put a failed refund back to approved (finance, admin)")
    rt.add_argument("refund_id", metavar="ID")
    rt.add_argument("--json", action="store_true")
    rt.set_defaults(func=run_retry)

    ls = rsub.add_parser("list", help="list refunds, newest first")
    ls.add_argument("--status", choices=refunds.STATUSES)
    ls.add_argument("--payment", metavar="ID")
    ls.add_argument("--merchant", metavar="ID")
    ls.add_argument("--requested-by", metavar="USER")
    ls.add_argument("--kind", choices=refunds.KINDS)
    ls.add_argument("--search", metavar="Q", help="a refund id or a payment id")
    ls.add_argument(
        "--limit", type=positive_int, default=100, help="at most this many (default 100)"
    )
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ls.set_defaults(func=run_list)

    sh = rsub.add_parser("show", help="one refund: payment, refunds of it, pro-rata, audit trail")
    sh.add_argument("refund_id", metavar="ID")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=run_show)


def _say(r: refunds.RefundView) -> str:
    what = f"Refund {r.id} of {r.amount_text} on {r.payment_id}"
    if r.status == "pending_approval":
        return f"{what} is awaiting approval (requested by {r.requested_by})."
    if r.status == "approved" and r.decided_by == refunds.POLICY_ACTOR:
        return f"{what} is approved: it is below the approval threshold."
    if r.status in ("approved", "rejected", "cancelled"):
        return f"{what} is {r.status} by {r.decided_by}."
    return f"{what} is {r.status.replace('_', ' ')}."


def _emit(args: argparse.Namespace, r: refunds.RefundView) -> None:
    if args.json:
        print_json(r.as_json())
    else:
        print(_say(r))


def _with_context(args: argparse.Namespace, work: Any) -> Any:
    ctx = open_context(args)
    try:
        return work(ctx, ctx.default_actor())
    finally:
        ctx.db.dispose()


def run_request(args: argparse.Namespace) -> int:
    if args.amount is None and not args.full and not args.pro_rata:
        raise InputError("Say how much: --amount, --full or --pro-rata.")
    kind = "pro_rata" if args.pro_rata else "full" if args.full else None

    def work(ctx: Context, actor: str) -> refunds.RefundView:
        amount = None
        if args.amount is not None:
            with ctx.db.read() as session:
                amount = refunds.parse_refund_amount(session, args.payment_id, args.amount)
        return refunds.request_refund(
            ctx,
            actor,
            args.payment_id,
            amount=amount,
            kind=kind,
            reason=args.reason,
            note=args.note,
            idempotency_key=args.idempotency_key,
        )

    _emit(args, _with_context(args, work))
    return 0


def run_approve(args: argparse.Namespace) -> int:
    if len(args.refund_ids) == 1:
        view = _with_context(
            args, lambda ctx, actor: refunds.approve(ctx, actor, args.refund_ids[0])
        )
        _emit(args, view)
        return 0
    results: list[refunds.DecisionResult] = _with_context(
        args, lambda ctx, actor: refunds.approve_many(ctx, actor, args.refund_ids)
    )
    approved = [r.refund for r in results if r.ok and r.refund is not None]
    if args.json:
        print_json([r.as_json() for r in approved])
    else:
        for r in approved:
            print(_say(r))
    for result in results:
        if not result.ok:
            print(f"paydesk: {result.message}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 2


def run_reject(args: argparse.Namespace) -> int:
    _emit(
        args,
        _with_context(
            args, lambda ctx, actor: refunds.reject(ctx, actor, args.refund_id, args.note)
        ),
    )
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    _emit(args, _with_context(args, lambda ctx, actor: refunds.cancel(ctx, actor, args.refund_id)))
    return 0


def run_retry(args: argparse.Namespace) -> int:
    _emit(args, _with_context(args, lambda ctx, actor: refunds.retry(ctx, actor, args.refund_id)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    f = refunds.RefundFilter(
        status=args.status,
        merchant_id=args.merchant,
        requested_by=args.requested_by,
        kind=args.kind,
        payment_id=args.payment,
        search=args.search,
    ).validated()

    def work(ctx: Context, _actor: str) -> list[refunds.RefundView]:
        with ctx.db.read() as session:
            return refunds.page(session, f, limit=args.limit)

    rows = _with_context(args, work)
    if args.json:
        print_json([r.as_json() for r in rows])
        return 0
    print_table(
        ["requested", "id", "payment", "amount", "kind", "reason", "by", "status"],
        [
            [
                r.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                r.id,
                r.payment_id,
                r.amount_text,
                r.kind,
                r.reason,
                r.requested_by,
                r.status,
            ]
            for r in rows
        ],
        right={3},
    )
    return 0


def detail_as_json(d: refunds.RefundDetail) -> dict[str, Any]:
    """``refunds show --json``: the refund, its payment, siblings, pro-rata and audit trail."""
    p = d.payment
    return {
        "refund": d.refund.as_json(),
        "payment": {
            "id": p.id,
            "merchant_id": p.merchant_id,
            "merchant_name": p.merchant_name,
            "order_id": p.order_id,
            "amount": p.amount,
            "currency": p.currency,
            "method": p.method,
            "status": p.status,
            "captured": p.captured,
            "refunded_amount": p.refunded_amount,
            "created_at": iso(p.created_at),
        },
        "refundable": d.refundable,
        "refunds": [r.as_json() for r in d.refunds],
        "pro_rata": d.pro_rata.as_json() if d.pro_rata else None,
        "audit": [
            {
                "at": iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "details": e.details,
                "client": e.client,
            }
            for e in d.audit
        ],
    }


def run_show(args: argparse.Namespace) -> int:
    def work(ctx: Context, _actor: str) -> refunds.RefundDetail:
        with ctx.db.read() as session:
            return refunds.detail(session, args.refund_id)

    d = _with_context(args, work)
    if args.json:
        print_json(detail_as_json(d))
        return 0
    r, p = d.refund, d.payment
    print(_say(r))
    print(f"  kind {r.kind}, reason {r.reason}" + (f", note: {r.note}" if r.note else ""))
    if r.decision_note:
        print(f"  decision note: {r.decision_note}")
    if r.failure_reason:
        print(f"  failed: {r.failure_reason}")
    print(
        f"Payment {p.id} ({p.merchant_name}): {format_money(p.amount, p.currency)} {p.status}, "
        f"{format_money(d.refundable, p.currency)} still refundable."
    )
    if d.pro_rata:
        print(f"Pro rata: {d.pro_rata.explain()}")
    if len(d.refunds) > 1:
        print("Refunds of this payment:")
        for s in d.refunds:
            print(f"  {s.id}  {s.amount_text:>12}  {s.status}  by {s.requested_by}")
    print("Audit trail:")
    for e in d.audit:
        print(f"  {e.at.astimezone():%Y-%m-%d %H:%M:%S}  {e.actor:<16} {e.action}")
    return 0
