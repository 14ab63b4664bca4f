"""Gateway connections: add (credentials checked, capabilities detected), list, show, remove.

Adding and removing are admin actions, each one audit event in the same transaction. A ``401``
from the gateway, or any other failure while checking, saves nothing. The API key is stored in
the database (shown masked); the secret only in the keyring (``core.gateway.secrets``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import ids
from core.access import audit, roles
from core.context import Context
from core.errors import Conflict, InputError, NotFound, Refused
from core.gateway import secrets
from core.gateway.capabilities import Capabilities
from core.gateway.client import GatewayClient, api_base
from core.store.models import GatewayConnection, Merchant

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_KEY = 200
MAX_SECRET = 500

# Opens a client for a connection; tests and the GUI's connection test pass their own.
ClientFactory = Callable[[str, str, str], GatewayClient]


def _default_client(url: str, key: str, secret: str) -> GatewayClient:
    return GatewayClient(url, key, secret)


def mask_key(key: str) -> str:
    """All but the last 4 characters masked (all of a key of 4 or fewer)."""
    shown = key[-4:] if len(key) > 4 else ""
    return "•" * (len(key) - len(shown)) + shown


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.fullmatch(name):
        raise InputError(
            "A connection name is 1 to 64 letters, digits, '.', '-' or '_', starting with a "
            "letter or digit."
        )
    return name


def require_admin(session: Session, actor: str, what: str) -> None:
    """Only admins change gateway connections (the same rule as policy and endpoints)."""
    who = roles.identity(session, actor)
    if who.refusal:
        raise Refused(who.refusal)
    if "admin" not in who.roles:
        held = " and ".join(who.roles) or "not on the staff list"
        raise Refused(f"Only admin staff can {what}; {actor} is {held}.")


@dataclass
class ConnectionInfo:
    name: str
    url: str
    api_key_masked: str
    capabilities: Capabilities
    merchant_id: str
    added_at: datetime
    added_by: str
    removed: bool
    removed_at: datetime | None
    last_sync_at: datetime | None
    last_sync_outcome: str | None
    last_error: str | None
    last_added: int
    last_updated: int
    payments: int
    refunds: int
    logs: int
    skipped: list[str] = field(default_factory=list)
    queue_status: dict[str, Any] | None = None
    secret: str = "missing"  # where this copy finds the secret: keyring/memory/environment

    def as_json(self) -> dict[str, Any]:
        from core.payments.queries import iso

        return {
            "name": self.name,
            "url": self.url,
            "api_key": self.api_key_masked,
            "capabilities": json.loads(self.capabilities.to_json()),
            "merchant_id": self.merchant_id,
            "added_at": iso(self.added_at),
            "added_by": self.added_by,
            "removed": self.removed,
            "removed_at": iso(self.removed_at),
            "last_sync_at": iso(self.last_sync_at),
            "last_sync_outcome": self.last_sync_outcome,
            "last_error": self.last_error,
            "last_added": self.last_added,
            "last_updated": self.last_updated,
            "counts": {
                "payments": self.payments,
                "refunds": self.refunds,
                "webhook_logs": self.logs,
            },
            "skipped": self.skipped,
            "queue_status": self.queue_status,
            "secret": self.secret,
        }


def _loads_list(text: str | None) -> list[str]:
    try:
        data = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(x) for x in data] if isinstance(data, list) else []


def _loads_dict(text: str | None) -> dict[str, Any] | None:
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def info(row: GatewayConnection) -> ConnectionInfo:
    return ConnectionInfo(
        name=row.name,
        url=row.url,
        api_key_masked=mask_key(row.api_key),
        capabilities=Capabilities.from_json(row.capabilities),
        merchant_id=row.merchant_id,
        added_at=row.added_at,
        added_by=row.added_by,
        removed=bool(row.removed),
        removed_at=row.removed_at,
        last_sync_at=row.last_sync_at,
        last_sync_outcome=row.last_sync_outcome,
        last_error=row.last_error,
        last_added=row.last_added or 0,
        last_updated=row.last_updated or 0,
        payments=row.payments_count or 0,
        refunds=row.refunds_count or 0,
        logs=row.logs_count or 0,
        skipped=_loads_list(row.last_skipped),
        queue_status=_loads_dict(row.queue_status),
        secret=secrets.where(row.name),
    )


def add_connection(
    ctx: Context,
    actor: str,
    name: str,
    url: str,
    api_key: str,
    api_secret: str,
    *,
    client_factory: ClientFactory = _default_client,
) -> tuple[ConnectionInfo, str]:
    """Check the credentials against the gateway, detect what it offers, and save the
    connection (admin, audited). Returns the connection and where the secret was kept
    (``keyring`` or ``memory``). Any failure, a ``401`` included, saves nothing."""
    name = check_name(name)
    base = api_base(url)
    api_key = (api_key or "").strip()
    if not api_key or len(api_key) > MAX_KEY or not api_key.isprintable():
        raise InputError(f"The API key must be 1 to {MAX_KEY} printable characters.")
    api_secret = (api_secret or "").strip()
    if not api_secret or len(api_secret) > MAX_SECRET or not api_secret.isprintable():
        raise InputError(f"The API secret must be 1 to {MAX_SECRET} printable characters.")
    with ctx.db.read() as session:
        require_admin(session, actor, "add gateway connections")
        existing = session.get(GatewayConnection, name)
        if existing is not None and not existing.removed:
            raise Conflict(f"A gateway connection named {name} exists already.")
    # The network check runs before the write transaction: no lock is held while waiting.
    client = client_factory(base, api_key, api_secret)
    try:
        caps = client.detect()
    finally:
        client.close()
    now = ctx.clock.now()
    with ctx.db.write() as session:
        require_admin(session, actor, "add gateway connections")
        row = session.get(GatewayConnection, name)
        if row is not None and not row.removed:
            raise Conflict(f"A gateway connection named {name} exists already.")
        if row is None:
            merchant_id = ids.new_id("merchant")
            # The gateway's rows belong to this merchant. Paydesk never delivers its webhooks
            # (the gateway does): no endpoint.
            session.add(
                Merchant(
                    id=merchant_id,
                    name=f"Gateway {name}",
                    email="",
                    webhook_url=None,
                    webhook_enabled=False,
                    webhook_disabled_reason="Webhooks of gateway payments are sent by the gateway.",
                    webhook_consecutive_failures=0,
                    created_at=now,
                )
            )
            session.flush()
            row = GatewayConnection(
                name=name,
                merchant_id=merchant_id,
                added_at=now,
                payments_count=0,
                refunds_count=0,
                logs_count=0,
                last_added=0,
                last_updated=0,
            )
            session.add(row)
        row.url = base
        row.api_key = api_key
        row.capabilities = caps.to_json()
        row.added_at = now
        row.added_by = actor
        row.removed = False
        row.removed_at = None
        row.removed_by = None
        row.updated_at = now
        audit.record(
            session,
            at=now,
            actor=actor,
            action="gateway.add",
            entity_type="gateway",
            entity_id=name,
            details={
                "url": base,
                "api_key": mask_key(api_key),
                "capabilities": json.loads(caps.to_json()),
            },
            client=ctx.client_id,
        )
        session.flush()
        result = info(row)
    kept = secrets.store(name, api_secret)
    result.secret = secrets.where(name)
    return result, kept


def test_connection(
    url: str, api_key: str, api_secret: str, *, client_factory: ClientFactory = _default_client
) -> tuple[str, Capabilities]:
    """Check a key and secret against the gateway at ``url`` and detect what it offers, as
    adding does, without saving anything. Returns the API base and the capabilities."""
    base = api_base(url)
    api_key, api_secret = (api_key or "").strip(), (api_secret or "").strip()
    if not api_key or not api_secret:
        raise InputError("Give both the API key and the API secret.")
    client = client_factory(base, api_key, api_secret)
    try:
        return base, client.detect()
    finally:
        client.close()


def list_connections(
    ctx: Context, actor: str, *, include_removed: bool = False
) -> list[ConnectionInfo]:
    with ctx.db.read() as session:
        roles.require(session, actor, "view")
        query = select(GatewayConnection).order_by(GatewayConnection.name)
        if not include_removed:
            query = query.where(GatewayConnection.removed.is_(False))
        return [info(r) for r in session.scalars(query)]


def get_row(session: Session, name: str, *, removed_ok: bool = True) -> GatewayConnection:
    row = session.get(GatewayConnection, (name or "").strip())
    if row is None or (row.removed and not removed_ok):
        raise NotFound(f"There is no gateway connection named {name}.")
    return row


def show_connection(ctx: Context, actor: str, name: str) -> ConnectionInfo:
    with ctx.db.read() as session:
        roles.require(session, actor, "view")
        return info(get_row(session, name))


def remove_connection(ctx: Context, actor: str, name: str) -> ConnectionInfo:
    """Stop syncing the connection and delete its keyring secret (admin, audited). What it
    synced stays, attributed to the removed connection."""
    now = ctx.clock.now()
    with ctx.db.write() as session:
        require_admin(session, actor, "remove gateway connections")
        row = get_row(session, name, removed_ok=False)
        row.removed = True
        row.removed_at = now
        row.removed_by = actor
        row.lease_owner = None
        row.lease_expires_at = None
        row.updated_at = now
        audit.record(
            session,
            at=now,
            actor=actor,
            action="gateway.remove",
            entity_type="gateway",
            entity_id=row.name,
            details={"url": row.url},
            client=ctx.client_id,
        )
        session.flush()
        result = info(row)
    secrets.forget(result.name)
    result.secret = "missing"
    return result
