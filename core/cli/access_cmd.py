"""``paydesk staff grant|revoke|list|add`` (who may do what) and ``paydesk policy show|set``
(the settings every copy obeys).

Shared mode (Postgres): roles are memberships of the groups ``paydesk_support``,
``paydesk_finance`` and ``paydesk_admin``; ``grant``/``revoke`` change them and ``list``
shows their members. Standalone: the staff list in the database file.
"""

from __future__ import annotations

import argparse
import json

from core.access import policy, roles
from core.cli.common import opened, print_json, print_table, say
from core.payments.queries import iso


def register(sub: argparse._SubParsersAction) -> None:
    register_staff(sub)
    register_policy(sub)


def register_staff(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("staff", help="who may do what")
    ssub = p.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    for name, func, help_ in (
        ("grant", run_grant, "give a login (or person) a role (admin)"),
        ("revoke", run_revoke, "take a role from a login (or person) (admin)"),
    ):
        g = ssub.add_parser(name, help=help_)
        g.add_argument("user")
        g.add_argument("role", metavar="ROLE", help=f"one of {', '.join(roles.ROLES)}")
        g.add_argument("--json", action="store_true")
        g.set_defaults(func=func)
    add = ssub.add_parser("add", help="standalone: add a person or change their role (admin)")
    add.add_argument("user")
    add.add_argument("--role", required=True, choices=roles.ROLES)
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=run_add)
    ls = ssub.add_parser("list", help="logins (or staff) and their roles")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)


def _as_json(m: roles.StaffMember) -> dict[str, object]:
    return {
        "username": m.username,
        "role": m.role,
        "created_at": iso(m.created_at),
        "added_by": m.added_by,
    }


def _change_as_json(c: roles.RoleChange) -> dict[str, object]:
    return {
        "username": c.username,
        "role": c.role,
        "action": "grant" if c.granted else "revoke",
        "changed": c.changed,
        "roles": list(c.roles),
    }


def _change(args: argparse.Namespace, grant: bool) -> int:
    with opened(args) as ctx:
        act = roles.grant_role if grant else roles.revoke_role
        change = act(ctx, ctx.default_actor(), args.user, args.role)
    if args.json:
        print_json(_change_as_json(change))
    else:
        print(change.sentence())
    return 0


def run_grant(args: argparse.Namespace) -> int:
    return _change(args, grant=True)


def run_revoke(args: argparse.Namespace) -> int:
    return _change(args, grant=False)


def run_add(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        member = roles.set_staff_role(ctx, ctx.default_actor(), args.user, args.role)
    if args.json:
        print_json(_as_json(member))
    else:
        print(f"{member.username} is now {member.role}.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with opened(args) as ctx, ctx.db.read() as session:
        if roles.shared(session):
            members = roles.list_members(session)
            staff = None
        else:
            staff = roles.list_staff(session)
    if staff is not None:
        if args.json:
            print_json([_as_json(m) for m in staff])
        else:
            print_table(
                ["user", "role", "added by"],
                [[m.username, m.role, m.added_by or ""] for m in staff],
            )
        return 0
    if args.json:
        print_json(
            [
                {"username": m.username, "roles": list(m.roles), "login": m.can_login}
                for m in members
            ]
        )
    else:
        print_table(
            ["login", "roles", "can log in"],
            [[m.username, ", ".join(m.roles), "yes" if m.can_login else "no"] for m in members],
        )
    return 0


def register_policy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="settings every copy obeys")
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    show = psub.add_parser("show", help="every policy setting and its value")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_policy_show)
    st = psub.add_parser("set", help="change a policy setting (admin)")
    st.add_argument("key", choices=sorted(policy.KEYS))
    st.add_argument("value")
    st.set_defaults(func=run_policy_set)


def run_policy_show(args: argparse.Namespace) -> int:
    with opened(args) as ctx, ctx.db.read() as session:
        values = policy.get_all(session)
    if args.json:
        print_json(values)
    else:
        print_table(
            ["setting", "value", "meaning"],
            [[k, json.dumps(v), policy.KEYS[k].description] for k, v in values.items()],
        )
    return 0


def run_policy_set(args: argparse.Namespace) -> int:
    with opened(args) as ctx:
        value = policy.set_value(ctx, ctx.default_actor(), args.key, args.value)
    say(f"{args.key} = {json.dumps(value)}")
    return 0
