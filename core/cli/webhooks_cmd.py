"""``paydesk webhooks list|show|retry|test``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from core.cli.common import (
    UTC_LABEL,
    opened,
    positive_int,
    print_json,
    print_table,
    say,
    utc_text,
)
from core.errors import InputError, Refused
from core.webhooks import as_json
from core.webhooks import deliveries as webhooks


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("webhooks", help="webhook deliveries: find, inspect, retry, test")
    wsub = p.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)

    ls = wsub.add_parser("list", help="list deliveries, newest first")
    ls.add_argument("--status", choices=webhooks.STATUSES)
    _add_scope(ls)
    ls.add_argument("--search", metavar="ID", help="a log id (msg_…) or a payment/refund id")
    ls.add_argument("--limit", type=positive_int, default=100, help="at most this many (100)")
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ls.set_defaults(func=run_list)

    show = wsub.add_parser("show", help="one delivery with its payload and attempts")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)

    rt = wsub.add_parser(
        "retry",
        help="retry deliveries by id, or every failed one matching a filter",
        description="Retry named deliveries (a new round, due now), or with --failed every "
        "failed delivery matching the filter: the count is shown first.",
    )
    rt.add_argument("ids", nargs="*", metavar="ID")
    rt.add_argument("--failed", action="store_true", help="retry failed deliveries by filter")
    _add_scope(rt)
    rt.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rt.add_argument("--json", action="store_true")
    rt.set_defaults(func=run_retry)

    test = wsub.add_parser("test", help="send a test.ping to a merchant's endpoint")
    test.add_argument("--merchant", metavar="ID", required=True)
    test.add_argument(
        "--no-wait", action="store_true", help="queue it for the dispatcher instead of sending now"
    )
    test.add_argument("--json", action="store_true")
    test.set_defaults(func=run_test)


def _add_scope(p: argparse.ArgumentParser) -> None:
    p.add_argument("--merchant", metavar="ID")
    p.add_argument("--event", metavar="NAME", help="e.g. payment.captured")
    p.add_argument("--since", metavar="TIME", help="created at or after (ISO 8601, UTC)")
    p.add_argument("--until", metavar="TIME", help="created before (ISO 8601, UTC)")


def parse_time(text: str | None, what: str) -> datetime | None:
    """ISO 8601 date or date-time; without an offset it is UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{text!r} is not a time for {what}; use ISO 8601 like 2026-01-15 or 2026-01-15T09:30."
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _filter(args: argparse.Namespace, status: str | None) -> webhooks.WebhookFilter:
    return webhooks.WebhookFilter(
        status=status,
        merchant_id=args.merchant,
        event=args.event,
        created_from=parse_time(args.since, "--since"),
        created_to=parse_time(args.until, "--until"),
        search=getattr(args, "search", None),
    ).validated()


def _when(dt: datetime | None) -> str:
    return utc_text(dt, seconds=True)


def run_list(args: argparse.Namespace) -> int:
    f = _filter(args, args.status)
    with opened(args) as ctx, ctx.db.read() as session:
        rows = webhooks.page(session, f, limit=args.limit)
    if args.json:
        print_json([as_json.row_as_json(r) for r in rows])
        return 0
    print_table(
        [
            f"created {UTC_LABEL}",
            "id",
            "merchant",
            "event",
            "status",
            "attempts",
            "code",
            f"next retry {UTC_LABEL}",
            "error",
        ],
        [
            [
                _when(r.created_at),
                r.id,
                r.merchant_id,
                r.event,
                r.status,
                str(r.attempts),
                str(r.response_code or ""),
                _when(r.next_retry_at) if r.status == "pending" else "",
                (r.last_error or "")[:60],
            ]
            for r in rows
        ],
        right={5, 6},
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    with opened(args) as ctx, ctx.db.read() as session:
        d = webhooks.detail(session, args.id, ctx.clock.now())
    if args.json:
        print_json(as_json.detail_as_json(d))
        return 0
    r = d.row
    say(f"{r.id}  {r.event}  {r.status}  ({r.attempts} attempt{'s' if r.attempts != 1 else ''})")
    say(f"merchant   {d.merchant_name} ({r.merchant_id})  {d.webhook_url or 'no endpoint'}")
    say(f"created    {_when(r.created_at)} UTC")
    if r.status == "pending" and r.next_retry_at:
        say(f"next try   {_when(r.next_retry_at)} UTC")
    if d.retry_refusal:
        say(f"retry      not possible: {d.retry_refusal}")
    say("payload")
    for line in d.payload_pretty.splitlines():
        say(f"  {line}")
    if d.attempts:
        say("attempts")
        print_table(
            ["#", f"started {UTC_LABEL}", "ms", "outcome", "trigger", "by"],
            [
                [
                    str(a.number),
                    _when(a.started_at),
                    str(a.duration_ms if a.duration_ms is not None else ""),
                    a.summary,
                    a.trigger,
                    a.actor or "",
                ]
                for a in d.attempts
            ],
            right={0, 2},
        )
    return 0


def run_retry(args: argparse.Namespace) -> int:
    if args.ids and args.failed:
        raise InputError("Give log ids or --failed with a filter, not both.")
    if not args.ids and not args.failed:
        raise InputError("Name the logs to retry, or use --failed to retry by filter.")
    if args.ids and any((args.merchant, args.event, args.since, args.until)):
        raise InputError("Filters (--merchant, --event, --since, --until) go with --failed.")
    if args.ids:
        with opened(args) as ctx:
            ids = webhooks.retry(ctx, ctx.default_actor(), args.ids)
            with ctx.db.read() as session:
                rows = webhooks.rows_by_id(session, ids)
        if args.json:
            print_json({"retried": ids})
        else:
            for log_id in ids:
                if rows[log_id].gateway:
                    say(
                        f"{log_id}: {rows[log_id].gateway} delivers it again; the next sync shows how."
                    )
                else:
                    say(f"{log_id} is due now; a running Paydesk or `paydesk worker` sends it.")
        return 0
    f = _filter(args, "failed")
    with opened(args) as ctx:
        # What it would retry and what it leaves out (and why), said before it acts.
        plan = webhooks.read_bulk_plan(ctx, f)
        count = plan.count
        if count == 0:
            if args.json:
                print_json({"matching": 0, "retried": 0, "left_out": plan.left_out_count})
            elif plan.left_out:
                for line in plan.lines():
                    say(line)
                say("Nothing was retried.")
            else:
                say("No failed deliveries match; nothing was retried.")
            return 0
        if not args.json:
            for line in plan.lines():
                say(line)
        if not args.yes:
            if not sys.stdin.isatty():
                raise Refused("Add --yes to retry them without being asked.")
            answer = input(f"Retry {count:,} deliveries? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                say("Nothing was retried.")
                return 1
        outcome = webhooks.run_bulk_retry(ctx, ctx.default_actor(), f)
        outcome.raise_if_failed()
        retried = outcome.retried
    if args.json:
        result = {"matching": count, "retried": retried}
        if plan.left_out:
            result["left_out"] = plan.left_out_count
        print_json(result)
    elif outcome.forwarded.targets:
        say(outcome.sentence())
    else:
        say(f"{retried:,} deliveries are due now.")
    return 0


def run_test(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        log_id = webhooks.send_test_event(ctx, ctx.default_actor(), args.merchant)
        outcome = None
        if not args.no_wait:
            from core.webhooks.dispatcher import Dispatcher

            dispatcher = Dispatcher(ctx, concurrency=1)
            try:
                outcome = dispatcher.deliver([log_id]).get(log_id)
            finally:
                dispatcher.close()
    if args.json:
        result: dict[str, object] = {"id": log_id, "sent": outcome is not None}
        if outcome is not None:
            result.update(
                ok=outcome.ok,
                response_code=outcome.code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        print_json(result)
    elif outcome is None:
        say(f"Test event {log_id} is queued; a running Paydesk or `paydesk worker` sends it.")
    elif outcome.ok:
        say(f"Test event {log_id} delivered: HTTP {outcome.code} in {outcome.duration_ms} ms.")
    else:
        say(f"Test event {log_id} failed: {outcome.error}. It will be retried on schedule.")
    return 0 if outcome is None or outcome.ok else 1
