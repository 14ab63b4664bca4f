"""``paydesk refunds request|approve|reject|cancel|retry|list|show|link|resend``.

The person acting is ``PAYDESK_ACTOR`` or the OS user in standalone mode, the database login
in shared mode. Every subcommand takes ``--json``; refusals exit 2 with the service's sentence.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.common import (
    UTC_LABEL,
    opened,
    positive_int,
    print_json,
    print_table,
    say,
    utc_text,
)
from core.context import Context
from core.errors import InputError
from core.gateway import refund_review
from core.money import format_money
from core.payments.queries import iso
from core.refunds import queries
from core.refunds import service as refunds
from core.refunds.labels import status_label
from core.refunds.many import decide_many
from core.refunds.records import DecisionResult, RefundDetail, RefundFilter, RefundView
from core.refunds.states import KINDS, REASONS, STATUSES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refunds", help="request, decide and find refunds")
    rsub = p.add_subparsers(dest="refunds_command", metavar="ACTION", required=True)

    rq = rsub.add_parser("request", help="request a refund of a payment")
    rq.add_argument("payment_id", metavar="PAYMENT_ID")
    rq.add_argument("--amount", metavar="AMOUNT", help="in the payment's currency, e.g. 12.50")
    rq.add_argument(
        "--reason", help=f"a code of the policy's refund_reasons (by default {', '.join(REASONS)})"
    )
    rq.add_argument("--note", metavar="TEXT", help="why; needed with --reason other")
    rq.add_argument("--idempotency-key", metavar="KEY", help="the same key never refunds twice")
    kind = rq.add_mutually_exclusive_group()
    kind.add_argument("--pro-rata", action="store_true", help="the unused share of the period")
    kind.add_argument("--full", action="store_true", help="everything still refundable")
    rq.add_argument("--json", action="store_true")
    rq.set_defaults(func=run_request)

    for action, help_text in (
        ("approve", "approve pending refunds (finance, admin)"),
        ("reject", "reject pending refunds with a note (finance, admin)"),
        ("cancel", "withdraw your own pending requests"),
        ("retry", "put failed refunds back to approved (finance, admin)"),
    ):
        cmd = rsub.add_parser(
            action,
            help=help_text,
            description=f"{help_text[0].upper()}{help_text[1:]}. With several ids it is all or "
            "none: every refund is checked first, and if any cannot be acted on the command "
            "names each of them and changes nothing; otherwise all change in one transaction.",
        )
        cmd.add_argument("refund_ids", metavar="ID", nargs="+")
        if action == "reject":
            cmd.add_argument("--note", metavar="TEXT", help="why (required)")
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(func=run_decision, action=action)

    ls = rsub.add_parser("list", help="list refunds, newest first")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--payment", metavar="ID")
    ls.add_argument("--merchant", metavar="ID")
    ls.add_argument("--requested-by", metavar="USER")
    ls.add_argument("--kind", choices=KINDS)
    ls.add_argument("--search", metavar="Q", help="a refund id or a payment id")
    ls.add_argument(
        "--limit", type=positive_int, default=100, help="at most this many (default 100)"
    )
    ls.add_argument(
        "--needs-check",
        action="store_true",
        help="gateway refunds whose answer was lost and that were not found, with the evidence",
    )
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ls.set_defaults(func=run_list)

    lk = rsub.add_parser(
        "link",
        help="link a Needs-check refund to the gateway's refund (finance, admin)",
        description="Link a gateway refund whose outcome is unknown to the refund the gateway "
        "made; the gateway is asked first that it is of the same payment and amount.",
    )
    lk.add_argument("refund_id", metavar="REFUND_ID")
    lk.add_argument("gateway_refund_id", metavar="GATEWAY_REFUND_ID")
    lk.add_argument("--json", action="store_true")
    lk.set_defaults(func=run_link)

    rs = rsub.add_parser(
        "resend",
        help="send a Needs-check refund to the gateway again (finance, admin)",
        description="Send a refund in Needs check to its gateway again. Most gateways ignore "
        "idempotency keys: if the first request did reach the gateway, this makes a second "
        "refund. Read the evidence (refunds list --needs-check) first.",
    )
    rs.add_argument("refund_id", metavar="REFUND_ID")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=run_resend)

    sh = rsub.add_parser("show", help="one refund: payment, refunds of it, pro-rata, audit trail")
    sh.add_argument("refund_id", metavar="ID")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=run_show)


def _say(r: RefundView) -> str:
    what = f"Refund {r.id} of {r.amount_text} on {r.payment_id}"
    if r.status == "pending_approval":
        return f"{what} is awaiting approval (requested by {r.requested_by})."
    if r.status == "approved" and r.decided_by == refunds.POLICY_ACTOR:
        return f"{what} is approved: it is below the approval threshold."
    if r.status in ("approved", "rejected", "cancelled"):
        return f"{what} is {r.status} by {r.decided_by}."
    return f"{what} is {r.status.replace('_', ' ')}."


def _emit(args: argparse.Namespace, r: RefundView) -> None:
    if args.json:
        print_json(r.as_json())
    else:
        say(_say(r))


def _with_context(args: argparse.Namespace, work: Any) -> Any:
    with opened(args) as ctx:
        return work(ctx, ctx.default_actor())


def run_request(args: argparse.Namespace) -> int:
    if args.amount is None and not args.full and not args.pro_rata:
        raise InputError("Say how much: --amount, --full or --pro-rata.")
    kind = "pro_rata" if args.pro_rata else "full" if args.full else None

    def work(ctx: Context, actor: str) -> RefundView:
        amount = None
        if args.amount is not None:
            with ctx.db.read() as session:
                amount = queries.parse_refund_amount(session, args.payment_id, args.amount)
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


def run_decision(args: argparse.Namespace) -> int:
    """approve / reject / cancel / retry of one or several refunds: all or none."""
    results: list[DecisionResult] = _with_context(
        args,
        lambda ctx, actor: decide_many(
            ctx, actor, args.action, args.refund_ids, note=getattr(args, "note", None)
        ),
    )
    views = [r.refund for r in results if r.refund is not None]
    if len(views) == 1:
        _emit(args, views[0])
    elif args.json:
        print_json([r.as_json() for r in views])
    else:
        for r in views:
            say(_say(r))
    return 0


def run_link(args: argparse.Namespace) -> int:
    view: RefundView = _with_context(
        args,
        lambda ctx, actor: refund_review.link(ctx, actor, args.refund_id, args.gateway_refund_id),
    )
    if args.json:
        print_json(view.as_json())
    else:
        say(f"Refund {view.id} is linked to the gateway's refund {args.gateway_refund_id}.")
        say(_say(view))
    return 0


def run_resend(args: argparse.Namespace) -> int:
    view: RefundView = _with_context(
        args, lambda ctx, actor: refund_review.resend(ctx, actor, args.refund_id)
    )
    if args.json:
        print_json(view.as_json())
    else:
        say(
            f"Refund {view.id} will be sent to the gateway again by the next processing round "
            "of a copy that holds the connection's secret."
        )
    return 0


def _run_needs_check(args: argparse.Namespace) -> int:
    def work(ctx: Context, _actor: str) -> list[refund_review.NeedsCheck]:
        with ctx.db.read() as session:
            return refund_review.needs_check(session, limit=args.limit)

    rows = _with_context(args, work)
    if args.json:
        print_json([r.as_json() for r in rows])
        return 0
    if not rows:
        say("No refund needs a check.")
        return 0
    for r in rows:
        v = r.refund
        say(f"{v.id}  {v.payment_id}  {v.amount_text}  gateway {r.gateway}")
        for line in (r.evidence or "").splitlines():
            say(f"  {line}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    if args.needs_check:
        return _run_needs_check(args)
    f = RefundFilter(
        status=args.status,
        merchant_id=args.merchant,
        requested_by=args.requested_by,
        kind=args.kind,
        payment_id=args.payment,
        search=args.search,
    ).validated()

    def work(ctx: Context, _actor: str) -> list[RefundView]:
        with ctx.db.read() as session:
            return queries.page(session, f, limit=args.limit)

    rows = _with_context(args, work)
    if args.json:
        print_json([r.as_json() for r in rows])
        return 0
    print_table(
        [f"requested {UTC_LABEL}", "id", "payment", "amount", "kind", "reason", "by", "status"],
        [
            [
                utc_text(r.created_at),
                r.id,
                r.payment_id,
                r.amount_text,
                r.kind,
                r.reason,
                r.requested_by,
                status_label(r.status),  # the GUI's words; --json keeps the stored value
            ]
            for r in rows
        ],
        right={3},
    )
    return 0


def detail_as_json(d: RefundDetail) -> dict[str, Any]:
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
    def work(ctx: Context, _actor: str) -> RefundDetail:
        with ctx.db.read() as session:
            return queries.detail(session, args.refund_id)

    d = _with_context(args, work)
    if args.json:
        print_json(detail_as_json(d))
        return 0
    r, p = d.refund, d.payment
    say(_say(r))
    say(f"  kind {r.kind}, reason {r.reason}" + (f", note: {r.note}" if r.note else ""))
    if r.decision_note:
        say(f"  decision note: {r.decision_note}")
    if r.failure_reason:
        say(f"  failed: {r.failure_reason}")
    with_gateway = _with_context(
        args,
        lambda ctx, _actor: _gateway_state(ctx, r.id),
    )
    if with_gateway.gateway:
        outcome = with_gateway.outcome.replace("_", " ") if with_gateway.outcome else None
        say(f"  gateway {with_gateway.gateway}" + (f", outcome {outcome}" if outcome else ""))
        for line in (with_gateway.evidence or "").splitlines():
            say(f"    {line}")
    say(
        f"Payment {p.id} ({p.merchant_name}): {format_money(p.amount, p.currency)} {p.status}, "
        f"{format_money(d.refundable, p.currency)} still refundable."
    )
    if d.pro_rata:
        say(f"Pro rata: {d.pro_rata.explain()}")
    if len(d.refunds) > 1:
        say("Refunds of this payment:")
        for s in d.refunds:
            say(f"  {s.id}  {s.amount_text:>12}  {s.status}  by {s.requested_by}")
    say(f"Audit trail {UTC_LABEL}:")
    for e in d.audit:
        say(f"  {utc_text(e.at, seconds=True)}  {e.actor:<16} {e.action}")
    return 0


def _gateway_state(ctx: Context, refund_id: str) -> refund_review.NeedsCheck:
    with ctx.db.read() as session:
        return refund_review.gateway_state(session, refund_id)
