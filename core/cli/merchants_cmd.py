"""``paydesk merchants list|show|set-webhook|enable|disable`` (webhook endpoints)."""

from __future__ import annotations

import argparse

from core.cli.common import opened, print_json, print_table, say, utc_text
from core.webhooks import as_json
from core.webhooks import deliveries as webhooks


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merchants", help="merchants and their webhook endpoints")
    msub = p.add_subparsers(dest="merchants_command", metavar="ACTION", required=True)

    ls = msub.add_parser("list", help="every merchant and its endpoint")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)

    show = msub.add_parser("show", help="one merchant's endpoint and its health")
    show.add_argument("id")
    show.add_argument(
        "--reveal-secret", action="store_true", help="print the signing secret (admin, audited)"
    )
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)

    st = msub.add_parser("set-webhook", help="set the endpoint URL (admin)")
    st.add_argument("id")
    st.add_argument("--url", required=True)
    st.add_argument(
        "--rotate-secret",
        action="store_true",
        help="new signing secret; the old one keeps signing alongside it for 24 h",
    )
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=run_set)

    en = msub.add_parser("enable", help="enable the endpoint; waiting deliveries go out (admin)")
    en.add_argument("id")
    en.add_argument("--json", action="store_true")
    en.set_defaults(func=run_enable)

    dis = msub.add_parser("disable", help="pause deliveries to the endpoint (admin)")
    dis.add_argument("id")
    dis.add_argument("--reason", help="shown to colleagues")
    dis.add_argument("--json", action="store_true")
    dis.set_defaults(func=run_disable)


def run_list(args: argparse.Namespace) -> int:
    with opened(args) as ctx, ctx.db.read() as session:
        eps = webhooks.endpoints(session)
    if args.json:
        print_json([as_json.endpoint_as_json(e) for e in eps])
        return 0
    print_table(
        ["id", "name", "endpoint", "enabled", "failures"],
        [
            [
                e.merchant_id,
                e.name,
                e.webhook_url or "",
                "yes" if e.webhook_enabled else "no",
                str(e.consecutive_failures),
            ]
            for e in eps
        ],
        right={4},
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        secret = None
        if args.reveal_secret:
            secret = webhooks.reveal_secret(ctx, ctx.default_actor(), args.id)
        with ctx.db.read() as session:
            e = webhooks.endpoint(session, args.id)
            health = webhooks.endpoint_health(session, e.merchant_id, ctx.clock.now())
    if args.json:
        data = as_json.endpoint_as_json(e)
        data["attempts_24h"] = health.attempts
        data["successes_24h"] = health.successes
        data["success_rate_24h"] = health.success_rate
        if secret is not None:
            data["webhook_secret"] = secret
        print_json(data)
        return 0
    rate = "no attempts" if health.success_rate is None else f"{health.success_rate:.0%}"
    say(f"{e.name} ({e.merchant_id})")
    say(f"endpoint     {e.webhook_url or 'none'}")
    say(f"secret       {secret or e.secret_masked or 'none'}")
    if e.secret_rotated_at:
        say(f"rotated      {utc_text(e.secret_rotated_at, label=True)}")
    state = "enabled" if e.webhook_enabled else f"disabled: {e.disabled_reason or ''}".rstrip(": ")
    say(f"state        {state}")
    say(f"last 24 h    {health.attempts} attempts, {rate} succeeded")
    say(f"failures     {e.consecutive_failures} in a row")
    if e.failing_since:
        say(f"failing for  since {utc_text(e.failing_since, label=True)}")
    if e.last_success_at:
        say(f"last success {utc_text(e.last_success_at, label=True)}")
    return 0


def _print_endpoint(args: argparse.Namespace, e: webhooks.Endpoint, sentence: str) -> None:
    if args.json:
        print_json(as_json.endpoint_as_json(e))
    else:
        say(sentence)


def run_set(args: argparse.Namespace) -> int:
    url = webhooks.validate_url(args.url)  # before opening anything
    with opened(args) as ctx:
        e = webhooks.set_endpoint(ctx, ctx.default_actor(), args.id, url, args.rotate_secret)
    note = (
        " New signing secret; the previous one keeps signing alongside it for 24 h."
        if args.rotate_secret
        else ""
    )
    _print_endpoint(args, e, f"{e.name} now receives webhooks at {e.webhook_url}.{note}")
    return 0


def run_enable(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        e = webhooks.enable_endpoint(ctx, ctx.default_actor(), args.id)
    _print_endpoint(args, e, f"The endpoint of {e.name} is enabled; waiting deliveries go out now.")
    return 0


def run_disable(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        e = webhooks.disable_endpoint(ctx, ctx.default_actor(), args.id, args.reason)
    _print_endpoint(args, e, f"The endpoint of {e.name} is disabled; its deliveries wait.")
    return 0
