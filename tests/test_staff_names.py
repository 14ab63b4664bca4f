"""Roles go to people only (core.access.roles, core.store.pgroles).

Shared mode: ``paydesk staff grant`` refuses Postgres' built-in roles (pg_monitor, …), roles
that cannot log in and Paydesk's own groups, on a real server. Both modes: nobody is given, or
acts under, a name Paydesk itself writes into decisions and audit events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select

from core.access import roles
from core.cli import main
from core.context import Context
from core.refunds import processing as proc
from core.refunds import service as rf
from core.store import pgroles
from core.store.db import open_database
from core.store.migrate import upgrade
from core.store.models import AuditEvent, Staff
from core.webhooks import outcomes
from tests.conftest import POSTGRES_URL

RESERVED_EXAMPLES = [*roles.RESERVED_ACTORS, "System", " PAYDESK-AUTO ", "paydesk-scheduler"]


def test_the_names_paydesk_acts_under_are_the_reserved_ones():
    assert set(roles.RESERVED_ACTORS) == {
        rf.POLICY_ACTOR,
        rf.AUTO_ACTOR,
        proc.WORKER_ACTOR,
        outcomes.SYSTEM_ACTOR,
    }
    assert all(roles.reserved_actor(n) for n in RESERVED_EXAMPLES)
    assert not any(roles.reserved_actor(n) for n in ("alice", "paydesk", "systems", "paydesk_x"))


# -- standalone --------------------------------------------------------------------------------


@pytest.fixture
def standalone(tmp_path, monkeypatch) -> Iterator[str]:
    """A standalone database whose first admin is alice (acting through the CLI)."""
    url = f"sqlite:///{tmp_path / 'paydesk.sqlite3'}"
    monkeypatch.setenv("PAYDESK_ACTOR", "alice")
    assert main(["--database", url, "staff", "list"]) == 0
    yield url


def staff_rows(url: str) -> list[tuple[str, str]]:
    db = open_database(url)
    try:
        with db.read() as s:
            return [(r.username, r.role) for r in s.scalars(select(Staff).order_by(Staff.username))]
    finally:
        db.dispose()


def audit_count(url: str) -> int:
    db = open_database(url)
    try:
        with db.read() as s:
            return len(list(s.scalars(select(AuditEvent.id))))
    finally:
        db.dispose()


@pytest.mark.parametrize("name", RESERVED_EXAMPLES)
@pytest.mark.parametrize(
    "argv",
    [["staff", "add", "{}", "--role", "admin"], ["staff", "grant", "{}", "finance"]],
    ids=["add", "grant"],
)
def test_standalone_refuses_to_give_a_role_to_a_name_paydesk_acts_under(
    standalone, name, argv, capsys
):
    capsys.readouterr()
    before = (staff_rows(standalone), audit_count(standalone))
    code = main(["--database", standalone, *[a.format(name) for a in argv]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "a name Paydesk itself acts under" in err
    assert (staff_rows(standalone), audit_count(standalone)) == before


def test_standalone_still_adds_people(standalone, capsys):
    assert main(["--database", standalone, "staff", "add", "bob", "--role", "support"]) == 0
    assert ("bob", "support") in staff_rows(standalone)


@pytest.mark.parametrize("name", roles.RESERVED_ACTORS)
def test_nobody_acts_under_a_reserved_name(tmp_path, monkeypatch, name, capsys):
    # An empty database: the name is not made its first admin, and cannot act.
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    monkeypatch.setenv("PAYDESK_ACTOR", name)
    code = main(["--database", url, "staff", "add", "mallory", "--role", "admin"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{name} is a name Paydesk itself acts under" in err
    assert staff_rows(url) == []


def test_a_reserved_name_an_older_version_added_cannot_act_but_can_be_removed(
    standalone, monkeypatch, capsys
):
    db = open_database(standalone)
    try:
        with db.write() as s:  # as an older Paydesk allowed
            s.add(Staff(username="paydesk-auto", role="admin", created_at=Context(db).clock.now()))
    finally:
        db.dispose()
    monkeypatch.setenv("PAYDESK_ACTOR", "paydesk-auto")
    assert main(["--database", standalone, "staff", "add", "eve", "--role", "admin"]) == 2
    assert "acts under" in capsys.readouterr().err
    monkeypatch.setenv("PAYDESK_ACTOR", "alice")
    assert main(["--database", standalone, "staff", "revoke", "paydesk-auto", "admin"]) == 0
    assert ("paydesk-auto", "admin") not in staff_rows(standalone)


# -- shared Postgres ---------------------------------------------------------------------------


class Roles:
    """Server roles made for one test and dropped after it."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.names: list[str] = []

    def create(self, name: str, *, login: bool) -> str:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} " + ("LOGIN" if login else "NOLOGIN")).format(
                    sql.Identifier(name)
                )
            )
        self.names.append(name)
        return name

    def drop(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for name in reversed(self.names):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def server(pg_schema_url) -> Iterator[tuple[str, Roles]]:
    """A migrated schema, the CLI acting as its owner (the postgres superuser: admin)."""
    db = open_database(pg_schema_url, use_keyring=False)
    upgrade(db)
    db.dispose()
    made = Roles()
    yield pg_schema_url, made
    made.drop()


def member_of(name: str) -> set[str]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT g.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
            "JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = %s",
            (name,),
        ).fetchall()
    return {r[0] for r in rows} & set(pgroles.GROUPS.values())


def refused(url: str, argv: list[str], capsys) -> str:
    capsys.readouterr()
    code = main(["--database", url, *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.fixture
def builtin(request) -> Iterator[str]:
    """A built-in role; whatever membership a failing test gave it is taken back after."""
    name: str = request.param
    before = member_of(name)
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for group in member_of(name) - before:
            conn.execute(
                sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), sql.Identifier(name))
            )


@pytest.mark.parametrize(
    "builtin", ["pg_monitor", "pg_read_all_data", "pg_signal_backend"], indirect=True
)
@pytest.mark.parametrize("role", roles.ROLES)
def test_a_builtin_postgres_role_is_refused(server, builtin, role, capsys):
    url, _ = server
    before = member_of(builtin)
    err = refused(url, ["staff", "grant", builtin, role], capsys)
    assert f"{builtin} is a built-in Postgres role" in err
    assert member_of(builtin) == before


def test_a_role_that_cannot_log_in_is_refused(server, capsys):
    url, made = server
    name = made.create(f"pd_{made.tag}_team", login=False)
    err = refused(url, ["staff", "grant", name, "finance"], capsys)
    assert "cannot log in" in err
    assert member_of(name) == set()


@pytest.mark.parametrize("group", pgroles.GROUPS.values())
def test_a_paydesk_group_is_refused(server, group, capsys):
    url, _ = server
    err = refused(url, ["staff", "grant", group, "support"], capsys)
    assert "is a Paydesk group" in err


def test_a_login_named_like_paydesk_is_refused(server, capsys):
    url, made = server
    name = made.create(f"paydesk-{made.tag}", login=True)
    err = refused(url, ["staff", "grant", name, "finance"], capsys)
    assert "a name Paydesk itself acts under" in err
    assert member_of(name) == set()


def test_a_persons_login_is_granted_and_a_nologin_member_can_still_be_revoked(server, capsys):
    url, made = server
    person = made.create(f"pd_{made.tag}_ann", login=True)
    assert main(["--database", url, "staff", "grant", person, "finance"]) == 0
    assert member_of(person) == {"paydesk_finance"}
    # A role an older version let in: taking the group back still works.
    team = made.create(f"pd_{made.tag}_team", login=False)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT paydesk_finance TO {}").format(sql.Identifier(team)))
    assert main(["--database", url, "staff", "revoke", team, "finance"]) == 0
    assert member_of(team) == set()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE paydesk_finance FROM {}").format(sql.Identifier(person)))


def test_the_grant_function_itself_refuses_a_role_that_is_not_a_login(server):
    url, _ = server
    db = open_database(url, use_keyring=False)
    try:
        with db.write() as s, pytest.raises(ValueError):
            pgroles.grant(s, "pg_monitor", "finance")
    finally:
        db.dispose()
    assert member_of("pg_monitor") == set()
