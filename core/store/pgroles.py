"""Postgres group roles and grants for shared mode (DESIGN.md §5; docs/shared-mode.md).

Three NOLOGIN group roles, one per Paydesk role, hold every privilege; people connect
with their own LOGIN role and are made members of a group (``paydesk staff grant``).
The groups are cluster-wide, so creating them is idempotent and nothing ever drops them.

``apply_grants`` is what a migration calls after it creates or changes tables: it resets
the groups' privileges on each of Paydesk's own tables (``core.store.db.PAYDESK_TABLES``) in the
current schema to what the table's class allows (see ``TABLE_RULES``), so it can be run
again at any time and always converges. Any other table of the schema (another
application's, set up beside Paydesk with ``paydesk db upgrade --into-existing``) is never
touched, and no default privileges are set: a table a later migration creates gets its
grants from that migration's ``apply_grants``. Paydesk tables not in ``TABLE_RULES`` get the
ordinary class (every group reads and writes). The rules about refund decisions and endpoints that grants alone cannot
express are triggers (migration 0004).

The rest answers, at run time, who the connected login is: its groups, and whether it
owns the schema (superusers and the owner count as admin), and manages memberships.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from core.store.db import PAYDESK_TABLES

# Paydesk role -> Postgres group role. Highest first: a login in several groups acts with
# the highest one's name (and every group's permissions).
GROUPS: dict[str, str] = {
    "admin": "paydesk_admin",
    "finance": "paydesk_finance",
    "support": "paydesk_support",
}
ALL_GROUPS = ", ".join(GROUPS.values())  # fixed lower-case names: no quoting needed

# What a merchant is (identity and endpoint): only admins write these. Every other column
# of ``merchants`` is delivery bookkeeping that every copy's dispatcher keeps.
MERCHANT_FIXED = (
    "id",
    "name",
    "email",
    "created_at",
    "webhook_url",
    "webhook_secret",
    "webhook_secret_previous",
    "webhook_secret_rotated_at",
)

# Never readable by a login (migration 0005; core.webhooks.secrets).
MERCHANT_SECRETS = ("webhook_secret", "webhook_secret_previous")
# What every copy's dispatcher writes on a webhook log; what it is about and carries (id,
# merchant_id, event, payload, entity_id, created_at) no login may change.
WEBHOOK_LOG_BOOKKEEPING = (
    "status",
    "attempts",
    "round_start",
    "next_trigger",
    "next_actor",
    "last_attempt_at",
    "next_retry_at",
    "response_code",
    "response_body",
    "last_error",
    "lease_owner",
    "lease_expires_at",
    "updated_at",
)

# What every copy that syncs a gateway connection records on it; what it is (URL, key,
# capabilities, removal) only admins change.
GATEWAY_SYNC_BOOKKEEPING = (
    "last_sync_at",
    "last_sync_outcome",
    "last_error",
    "last_skipped",
    "last_added",
    "last_updated",
    "payments_count",
    "refunds_count",
    "logs_count",
    "full_sync_at",
    "queue_status",
    "lease_owner",
    "lease_expires_at",
    "updated_at",
)

_DML = "SELECT, INSERT, UPDATE, DELETE"


@dataclass(frozen=True)
class TableRule:
    """Privileges of one class of table: ``everyone`` for all three groups, ``admin`` for
    paydesk_admin on top, and ``staff_columns`` (column names, or None for every column but
    ``MERCHANT_FIXED``) that support and finance may UPDATE."""

    everyone: str
    admin: str = ""
    finance: str = ""  # granted to finance and admin
    staff_columns: tuple[str, ...] | None = ()
    # Columns no group may SELECT (every other column is granted SELECT one by one), and
    # columns every group, admin included, may UPDATE (migration 0005).
    hidden: tuple[str, ...] = ()
    bookkeeping: tuple[str, ...] = ()


ORDINARY = TableRule(everyone=_DML)
TABLE_RULES: dict[str, TableRule] = {
    # Migrations are run by the owner; every copy only reads the revision.
    "alembic_version": TableRule(everyone="SELECT"),
    # Append-only for everyone: no group may UPDATE, DELETE or TRUNCATE it.
    "audit_events": TableRule(everyone="SELECT, INSERT"),
    # Admin only: policy, the standalone staff list, gateway data.
    "policy": TableRule(everyone="SELECT", admin="INSERT, UPDATE, DELETE"),
    "staff": TableRule(everyone="SELECT", admin="INSERT, UPDATE, DELETE"),
    "subscriptions": TableRule(everyone="SELECT", admin="INSERT, UPDATE, DELETE"),
    # refunded_amount is the database's own (migration 0005's triggers refuse any other change
    # to it, from every login). The column grant stays only because Postgres requires an UPDATE
    # privilege for ``SELECT … FOR UPDATE``, which serialises requests on one payment.
    "payments": TableRule(
        everyone="SELECT", admin="INSERT, UPDATE, DELETE", staff_columns=("refunded_amount",)
    ),
    # Endpoints are admin's; delivery bookkeeping (health, automatic disable) is everyone's,
    # and the merchants trigger stops a non-admin from enabling or re-pointing an endpoint.
    # No login reads the signing secrets: they are reached through the security-definer
    # functions of migration 0005 (core.webhooks.secrets), the reveal audited.
    "merchants": TableRule(
        everyone="",
        admin="INSERT, UPDATE, DELETE",
        staff_columns=None,
        hidden=MERCHANT_SECRETS,
    ),
    # Deliveries are created only by paydesk_enqueue_webhook (migration 0005), which checks
    # what they say; every copy keeps their delivery bookkeeping, never what they carry.
    "webhook_logs": TableRule(everyone="SELECT", bookkeeping=WEBHOOK_LOG_BOOKKEEPING),
    # Everyone requests and processes; the refunds trigger guards every change of state.
    # A refund is never deleted.
    "refunds": TableRule(everyone="SELECT, INSERT, UPDATE"),
    # Gateway connections (core.gateway): admins add and remove them; every syncing copy
    # keeps the sync bookkeeping.
    "gateway_connections": TableRule(
        everyone="SELECT", admin="INSERT, UPDATE, DELETE", bookkeeping=GATEWAY_SYNC_BOOKKEEPING
    ),
    # Reconciliation (core.recon): finance and admin import and resolve, support reads.
    "settlement_batches": TableRule(everyone="SELECT", finance="INSERT, UPDATE, DELETE"),
    "settlement_lines": TableRule(everyone="SELECT", finance="INSERT, UPDATE, DELETE"),
}


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _run(conn: Connection, statements: Iterable[str]) -> None:
    for sql in statements:
        conn.execute(text(sql))


def ensure_groups(conn: Connection) -> None:
    """Create the three NOLOGIN groups unless they exist, and give paydesk_admin the right to
    grant support and finance. Safe when another database of the cluster (or a migration
    running at the same moment) created them first."""
    if conn.dialect.name != "postgresql":
        return
    blocks = []
    for group in GROUPS.values():
        blocks.append(
            f"""
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{group}') THEN
    BEGIN
      CREATE ROLE {group} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;"""
        )
    for group in (GROUPS["finance"], GROUPS["support"]):
        # Members of paydesk_admin may grant and revoke support and finance (the admin
        # option is inherited through membership); admin itself is granted WITH ADMIN
        # OPTION to each admin (``grant``), so admins can make admins.
        blocks.append(
            f"""
  IF NOT EXISTS (
    SELECT FROM pg_catalog.pg_auth_members
    WHERE roleid = '{group}'::regrole AND member = 'paydesk_admin'::regrole AND admin_option
  ) THEN
    BEGIN
      GRANT {group} TO paydesk_admin WITH ADMIN OPTION;
    EXCEPTION WHEN unique_violation THEN NULL;
    END;
  END IF;"""
        )
    conn.execute(text("DO $$\nBEGIN" + "".join(blocks) + "\nEND\n$$"))


def current_schema(conn: Connection) -> str:
    return str(conn.execute(text("SELECT current_schema()")).scalar_one())


def _columns(conn: Connection, schema: str, table: str) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
            ),
            {"s": schema, "t": table},
        ).scalars()
    )


def _table_statements(conn: Connection, schema: str, table: str) -> list[str]:
    rule = TABLE_RULES.get(table, ORDINARY)
    qualified = f"{_quote(conn, schema)}.{_quote(conn, table)}"
    # REVOKE ALL first (column privileges included): the result depends only on the rule.
    out = [f"REVOKE ALL ON TABLE {qualified} FROM {ALL_GROUPS}"]
    if rule.everyone:
        out.append(f"GRANT {rule.everyone} ON TABLE {qualified} TO {ALL_GROUPS}")
    if rule.admin:
        out.append(f"GRANT {rule.admin} ON TABLE {qualified} TO {GROUPS['admin']}")
    if rule.finance:
        finance_admin = f"{GROUPS['finance']}, {GROUPS['admin']}"
        out.append(f"GRANT {rule.finance} ON TABLE {qualified} TO {finance_admin}")
    existing = _columns(conn, schema, table)
    if rule.staff_columns is None:
        columns = [c for c in existing if c not in MERCHANT_FIXED]
    else:
        columns = [c for c in rule.staff_columns if c in existing]
    if columns:
        listed = ", ".join(_quote(conn, c) for c in columns)
        out.append(
            f"GRANT UPDATE ({listed}) ON TABLE {qualified} "
            f"TO {GROUPS['support']}, {GROUPS['finance']}"
        )
    return out + _column_statements(conn, rule, qualified, existing)


def _column_statements(
    conn: Connection, rule: TableRule, qualified: str, existing: list[str]
) -> list[str]:
    """Column-level SELECT for a table with hidden columns, and UPDATE of its bookkeeping
    columns for every group."""
    out = []
    if rule.hidden:
        shown = ", ".join(_quote(conn, c) for c in existing if c not in rule.hidden)
        out.append(f"GRANT SELECT ({shown}) ON TABLE {qualified} TO {ALL_GROUPS}")
    columns = [c for c in rule.bookkeeping if c in existing]
    if columns:
        listed = ", ".join(_quote(conn, c) for c in columns)
        out.append(f"GRANT UPDATE ({listed}) ON TABLE {qualified} TO {ALL_GROUPS}")
    return out


def _paydesk_tables(conn: Connection, schema: str) -> list[str]:
    """Paydesk's own tables present in ``schema``."""
    return list(
        conn.execute(
            text(
                "SELECT c.relname::text FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind IN ('r', 'p') "
                "AND c.relname = ANY(:names) ORDER BY c.relname"
            ),
            {"s": schema, "names": sorted(PAYDESK_TABLES)},
        ).scalars()
    )


def _paydesk_sequences(conn: Connection, schema: str, tables: list[str]) -> list[str]:
    """The sequences of ``tables``' columns (serial and identity), qualified and quoted."""
    rows: Sequence[tuple[str, str]] = conn.execute(
        text(
            "SELECT DISTINCT sn.nspname::text, s.relname::text FROM pg_catalog.pg_depend d "
            "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace "
            "JOIN pg_catalog.pg_class t ON t.oid = d.refobjid "
            "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
            "WHERE d.classid = 'pg_catalog.pg_class'::regclass "
            "AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "AND tn.nspname = :s AND t.relname = ANY(:names) ORDER BY 1, 2"
        ),
        {"s": schema, "names": tables},
    ).all()
    return [f"{_quote(conn, n)}.{_quote(conn, r)}" for n, r in rows]


def apply_grants(conn: Connection) -> None:
    """Give the groups their privileges on Paydesk's own tables and their sequences in the
    current schema, and on nothing else. Idempotent; a no-op on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    ensure_groups(conn)
    schema = current_schema(conn)
    s = _quote(conn, schema)
    tables = _paydesk_tables(conn, schema)
    statements = [f"GRANT USAGE ON SCHEMA {s} TO {ALL_GROUPS}"]
    for table in tables:
        statements += _table_statements(conn, schema, table)
    sequences = _paydesk_sequences(conn, schema, tables)
    if sequences:
        statements.append(f"GRANT USAGE, SELECT ON SEQUENCE {', '.join(sequences)} TO {ALL_GROUPS}")
    # Earlier versions gave every table this login created in the schema, another
    # application's included, the ordinary privileges by default; no more.
    statements += [
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} REVOKE ALL ON TABLES FROM {ALL_GROUPS}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} REVOKE ALL ON SEQUENCES FROM {ALL_GROUPS}",
    ]
    _run(conn, statements)


def revoke_grants(conn: Connection) -> None:
    """Take back every privilege the groups hold on Paydesk's tables and sequences in the
    current schema (a downgrade). The groups themselves stay: other databases of the cluster
    may use them."""
    if conn.dialect.name != "postgresql":
        return
    schema = current_schema(conn)
    s = _quote(conn, schema)
    tables = _paydesk_tables(conn, schema)
    statements = [f"REVOKE ALL ON TABLE {s}.{_quote(conn, t)} FROM {ALL_GROUPS}" for t in tables]
    sequences = _paydesk_sequences(conn, schema, tables)
    if sequences:
        statements.append(f"REVOKE ALL ON SEQUENCE {', '.join(sequences)} FROM {ALL_GROUPS}")
    statements += [
        f"REVOKE ALL ON SCHEMA {s} FROM {ALL_GROUPS}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} REVOKE ALL ON TABLES FROM {ALL_GROUPS}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} REVOKE ALL ON SEQUENCES FROM {ALL_GROUPS}",
    ]
    _run(conn, statements)


# -- who is connected ------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """The login a connection runs as: its name, whether it owns the Paydesk tables or their
    schema (superusers do too), and the Paydesk roles whose group it is a member of."""

    name: str
    owner: bool
    groups: frozenset[str]

    @property
    def roles(self) -> tuple[str, ...]:
        """Its Paydesk roles, highest first; the owner is admin."""
        held = self.groups | ({"admin"} if self.owner else set())
        return tuple(r for r in GROUPS if r in held)


def _member_sql(group: str) -> str:
    # to_regrole: NULL (not an error) on a server where the groups were never created.
    return f"coalesce(pg_has_role(session_user, to_regrole('{group}')::oid, 'MEMBER'), false)"


_LOGIN_SQL = text(
    "SELECT session_user::text, coalesce(("
    "SELECT pg_has_role(session_user, c.relowner, 'MEMBER') "
    "OR pg_has_role(session_user, n.nspowner, 'MEMBER') "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = to_regclass('refunds')), false), "
    + ", ".join(_member_sql(g) for g in GROUPS.values())
)


def login(session: Session | Connection) -> Login:
    """The login this session runs as (``session_user``), with its Paydesk roles."""
    row: Any = session.execute(_LOGIN_SQL).one()
    name, owner, *member = row
    return Login(
        name=name,
        owner=bool(owner),
        groups=frozenset(r for r, m in zip(GROUPS, member, strict=True) if m),
    )


@dataclass(frozen=True)
class ServerRole:
    """A role on the server, as ``paydesk staff grant`` needs to know it: whether it can log
    in, is one of Paydesk's groups, or is one of Postgres' own (``pg_…``: pg_monitor,
    pg_read_all_data, …; nobody may create a role named so)."""

    name: str
    can_login: bool
    is_group: bool
    is_builtin: bool = False


def server_role(session: Session, name: str) -> ServerRole | None:
    row = session.execute(
        text("SELECT rolname::text, rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = :n"),
        {"n": name},
    ).one_or_none()
    if row is None:
        return None
    return ServerRole(
        row[0], bool(row[1]), row[0] in GROUPS.values(), is_builtin=row[0].startswith("pg_")
    )


def direct_membership(session: Session, name: str, role: str) -> tuple[bool, bool]:
    """(is a direct member of the role's group, holds its admin option)."""
    row = session.execute(
        text(
            "SELECT a.admin_option FROM pg_catalog.pg_auth_members a "
            "JOIN pg_catalog.pg_roles g ON g.oid = a.roleid "
            "JOIN pg_catalog.pg_roles m ON m.oid = a.member "
            "WHERE g.rolname = :g AND m.rolname = :m"
        ),
        {"g": GROUPS[role], "m": name},
    ).one_or_none()
    return (row is not None, bool(row and row[0]))


def grant(session: Session, name: str, role: str) -> None:
    """Make the login ``name`` a member of the role's group (admins WITH ADMIN OPTION, so
    they can make admins too). Raises the driver's error when the server refuses, and
    ValueError for a role that is not a person's login (``core.access.roles`` says so first)."""
    found = server_role(session, name)
    if found is None or found.is_group or found.is_builtin or not found.can_login:
        raise ValueError(f"{name} is not a login that may be given a Paydesk role")
    user = _quote(session.connection(), name)
    option = " WITH ADMIN OPTION" if role == "admin" else ""
    session.execute(text(f"GRANT {GROUPS[role]} TO {user}{option}"))


def revoke(session: Session, name: str, role: str) -> None:
    """End the login's direct membership of the role's group."""
    user = _quote(session.connection(), name)
    session.execute(text(f"REVOKE {GROUPS[role]} FROM {user}"))


@dataclass(frozen=True)
class Member:
    """A role that is a direct member of one or more Paydesk groups."""

    name: str
    roles: tuple[str, ...]  # highest first
    can_login: bool


def members(session: Session) -> list[Member]:
    """Every direct member of the three groups (the groups themselves left out), by name."""
    rows: Sequence[tuple[str, str, bool]] = session.execute(
        text(
            "SELECT m.rolname::text, g.rolname::text, m.rolcanlogin "
            "FROM pg_catalog.pg_auth_members a "
            "JOIN pg_catalog.pg_roles g ON g.oid = a.roleid "
            "JOIN pg_catalog.pg_roles m ON m.oid = a.member "
            f"WHERE g.rolname IN ({', '.join(repr(g) for g in GROUPS.values())}) "
            f"AND m.rolname NOT IN ({', '.join(repr(g) for g in GROUPS.values())}) "
            "ORDER BY m.rolname"
        )
    ).all()
    by_name: dict[str, tuple[set[str], bool]] = {}
    role_of_group = {g: r for r, g in GROUPS.items()}
    for name, group, can_login in rows:
        held, _ = by_name.setdefault(name, (set(), bool(can_login)))
        held.add(role_of_group[group])
    return [
        Member(name, tuple(r for r in GROUPS if r in held), can_login)
        for name, (held, can_login) in by_name.items()
    ]
