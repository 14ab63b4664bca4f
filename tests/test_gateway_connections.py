"""Gateway connections: add (checked, detected), list, show, remove; admin only, audited; the
secret only in the keyring. Each test on SQLite and Postgres, against the fake gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from core.cli import main
from core.errors import Conflict, InputError, NotFound, Refused
from core.gateway import connections, secrets
from core.gateway.errors import GatewayAuthFailed, GatewayUnreachable
from core.store.models import AuditEvent, GatewayConnection, Merchant
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.webhook_receiver import ADMIN, SUPPORT, add_staff


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway(Variation())
    yield gateway
    gateway.close()


def _counts(ctx) -> tuple[int, int, int]:
    with ctx.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(GatewayConnection)) or 0,
            s.scalar(select(func.count()).select_from(Merchant)) or 0,
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.like("gateway.%"))
            )
            or 0,
        )


def test_adding_checks_detects_and_keeps_the_secret_only_in_the_keyring(
    ctx, gw, isolated_environment
) -> None:
    add_staff(ctx)
    conn, kept = connections.add_connection(ctx, ADMIN, "acme", gw.root, API_KEY, API_SECRET)
    assert kept == "keyring"
    assert conn.url == gw.api
    assert conn.api_key_masked == "•" * (len(API_KEY) - 4) + API_KEY[-4:]
    assert conn.capabilities.payment_list == "paged" and conn.capabilities.retry_route
    assert isolated_environment.store[("Paydesk", "gateway:acme")] == API_SECRET
    with ctx.db.read() as s:
        row = s.get(GatewayConnection, "acme")
        assert row is not None and row.api_key == API_KEY
        stored = json.dumps(
            [getattr(row, c.name) for c in GatewayConnection.__table__.c], default=str
        )
        audits = " ".join(e.details or "" for e in s.scalars(select(AuditEvent)))
    assert API_SECRET not in stored and API_SECRET not in audits
    assert _counts(ctx) == (1, 1, 1)


def test_a_401_saves_nothing(ctx, gw, isolated_environment) -> None:
    add_staff(ctx)
    before = _counts(ctx)
    with pytest.raises(GatewayAuthFailed) as err:
        connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, "secret_wrong")
    assert "refused the API key and secret" in str(err.value)
    assert _counts(ctx) == before
    assert ("Paydesk", "gateway:acme") not in isolated_environment.store


def test_an_unreachable_gateway_saves_nothing(ctx, isolated_environment) -> None:
    add_staff(ctx)
    gw = FakeGateway()
    url = gw.api
    gw.close()
    before = _counts(ctx)
    with pytest.raises(GatewayUnreachable):
        connections.add_connection(ctx, ADMIN, "acme", url, API_KEY, API_SECRET)
    assert _counts(ctx) == before


@pytest.mark.parametrize(
    ("name", "url", "key", "secret", "said"),
    [
        ("", "http://127.0.0.1:1", "k", "s", "connection name is 1 to 64"),
        ("bad name", "http://127.0.0.1:1", "k", "s", "connection name is 1 to 64"),
        ("acme", "ftp://x", "k", "s", "is not a gateway URL"),
        ("acme", "http://127.0.0.1:1", "", "s", "API key must be"),
        ("acme", "http://127.0.0.1:1", "k", "", "API secret must be"),
    ],
)
def test_bad_input_is_one_sentence_and_nothing_is_written(
    ctx, name, url, key, secret, said
) -> None:
    add_staff(ctx)
    before = _counts(ctx)
    with pytest.raises(InputError) as err:
        connections.add_connection(ctx, ADMIN, name, url, key, secret)
    assert said in str(err.value)
    assert _counts(ctx) == before


def test_only_admins_add_and_remove(ctx, gw) -> None:
    add_staff(ctx)
    with pytest.raises(Refused) as err:
        connections.add_connection(ctx, SUPPORT, "acme", gw.api, API_KEY, API_SECRET)
    assert str(err.value) == "Only admin staff can add gateway connections; sam is support."
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    with pytest.raises(Refused):
        connections.remove_connection(ctx, SUPPORT, "acme")
    assert [c.name for c in connections.list_connections(ctx, SUPPORT)] == ["acme"]


def test_a_second_connection_with_the_same_name_is_refused(ctx, gw) -> None:
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    with pytest.raises(Conflict):
        connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)


def test_removing_forgets_the_secret_and_keeps_the_row(ctx, gw, isolated_environment) -> None:
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    gone = connections.remove_connection(ctx, ADMIN, "acme")
    assert gone.removed and gone.secret == "missing"
    assert ("Paydesk", "gateway:acme") not in isolated_environment.store
    assert connections.list_connections(ctx, ADMIN) == []
    assert [c.name for c in connections.list_connections(ctx, ADMIN, include_removed=True)] == [
        "acme"
    ]
    with pytest.raises(NotFound):
        connections.remove_connection(ctx, ADMIN, "acme")
    assert _counts(ctx) == (1, 1, 2)
    # Added again under the same name: the same merchant, the row back in use.
    again, _ = connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    assert not again.removed and again.merchant_id == gone.merchant_id


def test_a_headless_worker_reads_the_secret_from_the_environment(monkeypatch) -> None:
    assert secrets.env_var("acme-eu.1") == "PAYDESK_GATEWAY_SECRET_ACME_EU_1"
    monkeypatch.setenv("PAYDESK_GATEWAY_SECRET_ACME_EU_1", "from-env")
    assert secrets.read("acme-eu.1") == "from-env"
    assert secrets.where("acme-eu.1") == "environment"


def test_cli_add_show_list_remove(db_url, gw, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PAYDESK_ACTOR", "alice")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(API_SECRET + "\n"))
    base = ["--database", db_url, "gateways"]
    assert (
        main(
            [
                *base,
                "add",
                "acme",
                "--url",
                gw.root,
                "--api-key",
                API_KEY,
                "--api-secret-stdin",
                "--json",
            ]
        )
        == 0
    )
    added = json.loads(capsys.readouterr().out)
    assert added["name"] == "acme" and added["api_key"].endswith(API_KEY[-4:])
    assert main([*base, "show", "acme"]) == 0
    out = capsys.readouterr().out
    assert "api key      " + "•" * (len(API_KEY) - 4) + API_KEY[-4:] in out
    assert API_SECRET not in out and API_KEY not in out
    assert main([*base, "list", "--json"]) == 0
    assert [c["name"] for c in json.loads(capsys.readouterr().out)] == ["acme"]
    assert main([*base, "remove", "acme"]) == 0
    assert "no longer synced" in capsys.readouterr().out


def test_cli_add_without_a_secret_on_a_pipe_is_one_sentence(
    db_url, gw, capsys, monkeypatch
) -> None:
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(""))
    code = main(
        ["--database", db_url, "gateways", "add", "acme", "--url", gw.api, "--api-key", API_KEY]
    )
    assert code == 2
    assert "--api-secret-stdin" in capsys.readouterr().err
