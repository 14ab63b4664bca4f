"""``paydesk policy show|set``."""

from __future__ import annotations

import argparse
import json

from core import policy
from core.cli.common import open_context, print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("policy", help="settings every copy obeys")
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    show = psub.add_parser("show", help="every policy setting and its value")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)
    st = psub.add_parser("set", help="change a policy setting (admin)")
    st.add_argument("key", choices=sorted(policy.KEYS))
    st.add_argument("value")
    st.set_defaults(func=run_set)


def run_show(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    try:
        with ctx.db.read() as session:
            values = policy.get_all(session)
    finally:
        ctx.db.dispose()
    if args.json:
        print_json(values)
    else:
        print_table(
            ["setting", "value", "meaning"],
            [[k, json.dumps(v), policy.KEYS[k].description] for k, v in values.items()],
        )
    return 0


def run_set(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    try:
        value = policy.set_value(ctx, ctx.default_actor(), args.key, args.value)
    finally:
        ctx.db.dispose()
    print(f"{args.key} = {json.dumps(value)}")
    return 0
