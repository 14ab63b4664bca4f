"""Presence of running copies (the app and headless workers) in the ``clients`` table.

Each copy upserts its own row every 15 s; a copy seen in the last minute is online. A copy
that stops cleanly removes its row; one that dies leaves a row that simply goes stale and
is cleared a day later by whichever copy beats next.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import __version__
from core.context import Context
from core.jobs.task import Task
from core.store.db import Database
from core.store.models import Client, Refund, WebhookLog

HEARTBEAT_INTERVAL = 15.0  # seconds
ONLINE_WITHIN = timedelta(seconds=60)
# Rows of copies that vanished without a clean stop are dropped after this long.
FORGET_AFTER = timedelta(days=1)


def heartbeat(ctx: Context) -> int:
    """Record that this copy is alive now; returns how many copies are online."""
    now = ctx.clock.now()
    values = {
        "id": ctx.client_id,
        "host": socket.gethostname()[:255],
        "user": ctx.default_actor()[:100],
        "version": __version__,
        "kind": ctx.kind,
        "started_at": now,
        "last_seen": now,
    }
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if ctx.db.is_postgres else sqlite.insert
    stmt = insert(Client).values(**values)
    # One statement on both databases: a second beat moves last_seen and keeps started_at.
    stmt = stmt.on_conflict_do_update(
        index_elements=[Client.id],
        set_={
            "host": stmt.excluded.host,
            "user": stmt.excluded.user,
            "version": stmt.excluded.version,
            "kind": stmt.excluded.kind,
            "last_seen": stmt.excluded.last_seen,
        },
    )
    with ctx.db.write() as session:
        session.execute(stmt)
        session.execute(delete(Client).where(Client.last_seen < now - FORGET_AFTER))
        online = session.scalar(
            select(func.count()).select_from(Client).where(Client.last_seen >= now - ONLINE_WITHIN)
        )
    return int(online or 0)


def online_clients(
    session: Session, now: datetime, within: timedelta = ONLINE_WITHIN
) -> list[Client]:
    """Copies seen within ``within`` of ``now``, most recently seen first."""
    rows = session.scalars(
        select(Client)
        .where(Client.last_seen >= now - within)
        .order_by(Client.last_seen.desc(), Client.id)
    )
    return list(rows)


@dataclass(frozen=True)
class Leases:
    """Work a copy holds right now: webhook deliveries and refunds under an unexpired lease."""

    webhooks: int = 0
    refunds: int = 0

    @property
    def total(self) -> int:
        return self.webhooks + self.refunds


def _client_of(owner: str) -> str:
    # The dispatcher leases as "<client id>/<dispatcher>", refund processing as the client id.
    client, sep, _ = owner.rpartition("/")
    return client if sep else owner


def leases_by_client(session: Session, now: datetime) -> dict[str, Leases]:
    """Unexpired leases per client id (only clients holding at least one are listed).

    A delivery is leased only while ``pending`` and a refund only while ``processing``; the
    status narrows the read to the small slice the status indexes point at.
    """
    counts: dict[str, list[int]] = {}
    for slot, model, status in ((0, WebhookLog, "pending"), (1, Refund, "processing")):
        rows = session.execute(
            select(model.lease_owner, func.count())
            .where(
                model.status == status,
                model.lease_owner.is_not(None),
                model.lease_expires_at > now,
            )
            .group_by(model.lease_owner)
        )
        for owner, n in rows:
            if owner is None:
                continue  # filtered out by the query; here for the type
            counts.setdefault(_client_of(owner), [0, 0])[slot] += int(n)
    return {client: Leases(w, r) for client, (w, r) in counts.items()}


def remove_client(db: Database, client_id: str) -> None:
    """Remove a copy's row (called when it stops cleanly)."""
    with db.write() as session:
        session.execute(delete(Client).where(Client.id == client_id))


def _run(ctx: Context) -> str:
    online = heartbeat(ctx)
    return f"{online} {'copy' if online == 1 else 'copies'} online"


def _on_stop(ctx: Context) -> None:
    remove_client(ctx.db, ctx.client_id)


def heartbeat_task() -> Task:
    """The presence heartbeat, every 15 s; the row goes away when the scheduler stops."""
    return Task(
        name="heartbeat",
        title="Presence heartbeat",
        interval=HEARTBEAT_INTERVAL,
        run=_run,
        on_stop=_on_stop,
    )
