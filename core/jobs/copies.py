"""The copies of Paydesk online and the work each holds under a lease, as plain rows the Jobs
view and the main window's status bar show; each read opens and closes its own session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.jobs import presence
from core.store.db import Database


@dataclass(frozen=True)
class CopyRow:
    """One running copy (or a lease holder no longer seen online)."""

    client_id: str
    host: str
    user: str
    version: str
    kind: str
    last_seen: datetime | None  # None: holds leases but is not online
    webhooks: int
    refunds: int


@dataclass(frozen=True)
class OnlineClient:
    id: str
    kind: str
    host: str
    user: str


def copies_online(db: Database, now: datetime) -> list[CopyRow]:
    """Copies online with their leases, then lease holders that stopped beating (they can
    hold leases until these run out)."""
    none = presence.Leases()
    with db.read() as session:
        leases = presence.leases_by_client(session, now)
        # Plain values out of the session: ORM objects do not leave the worker.
        rows = [
            CopyRow(
                c.id,
                c.host,
                c.user,
                c.version,
                c.kind,
                c.last_seen,
                leases.get(c.id, none).webhooks,
                leases.get(c.id, none).refunds,
            )
            for c in presence.online_clients(session, now)
        ]
    online = {r.client_id for r in rows}
    for client_id, held in sorted(leases.items()):
        if client_id not in online:
            rows.append(
                CopyRow(client_id, client_id, "—", "—", "—", None, held.webhooks, held.refunds)
            )
    return rows


def clients_online(db: Database, now: datetime) -> list[OnlineClient]:
    """Every copy seen lately, most recently seen first."""
    with db.read() as session:
        return [
            OnlineClient(c.id, c.kind, c.host, c.user)
            for c in presence.online_clients(session, now)
        ]
