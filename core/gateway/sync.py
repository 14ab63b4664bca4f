"""One sync of a gateway connection: payments from the payment list (where there is one) and
from the payloads of the webhook logs, refunds from the refund list (where there is one) and
from ``refund.*`` payloads, and the webhook logs themselves, upserted by the gateway's ids.
Then the refunds Paydesk sent are looked for (core.gateway.refund_lookups).

The API has no ``since`` filter, so the lists are read newest first and an incremental pass
stops at the first page that brings nothing new or changed (``Walk``); the ``payment.*`` and
``refund.*`` payloads of new logs carry the status changes of older payments. A full pass,
every ``gateway_full_sync_minutes`` (policy), reads the lists whole for changes deep in them.

Each page is applied in one transaction or not at all, in bulk (one read of the rows held, one
insert, one update): syncing twice changes nothing, a changed status updates the row, and a
row Paydesk cannot use is skipped with its reason (kept on the connection). A row whose id
Paydesk already holds from elsewhere (its own data, another connection) is never
overwritten: it is skipped with that reason.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from core import ids
from core.access import policy, roles
from core.context import Context
from core.errors import NotFound, sentence
from core.gateway import secrets
from core.gateway.capabilities import Capabilities
from core.gateway.client import GatewayClient, read_ahead
from core.gateway.connections import get_row
from core.gateway.errors import GatewayError
from core.gateway.refund_lookups import check_open, look_up_sent
from core.gateway.refund_matching import RefundsApplied, apply_refunds
from core.gateway.rows import GatewayLog, GatewayPayment, GatewayRefund, Skipped
from core.jobs.task import Task
from core.store import notify
from core.store.models import Base, GatewayConnection, Payment, Refund, WebhookLog

MAX_SKIPPED_KEPT = 50  # skipped-row sentences kept on the connection

ClientFactory = Callable[[str, str, str], GatewayClient]


def _default_client(url: str, key: str, secret: str) -> GatewayClient:
    return GatewayClient(url, key, secret)


@dataclass
class SyncResult:
    name: str
    added: int = 0
    updated: int = 0
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    full: bool = False  # read the lists whole (see ``Walk``)
    # Rows inserted, per table: an incremental pass adds them to the connection's counts
    # instead of counting the tables again, and Postgres's statistics are kept up with them.
    new_payments: int = field(default=0, repr=False)
    new_logs: int = field(default=0, repr=False)
    analyzed: dict[str, int] = field(default_factory=dict, repr=False)

    def sentence(self) -> str:
        base = f"{self.name}: {self.added} added, {self.updated} updated"
        if self.skipped:
            base += f", {len(self.skipped)} skipped"
        return base + (f"; {self.error}" if self.error else ".")

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "added": self.added,
            "updated": self.updated,
            "skipped": self.skipped,
            "error": self.error,
        }


# The payment columns a gateway may change after the payment is made.
_PAYMENT_STATE = ("status", "captured", "error_code", "error_description", "updated_at")
_LOG_STATE = (
    "status",
    "attempts",
    "last_attempt_at",
    "next_retry_at",
    "response_code",
    "response_body",
)
MAX_PAYMENT_ID = 32  # payments.id is 32 characters long; a longer gateway id cannot be kept
# An incremental pass reads at most this many pages past its stop to reach a log the gateway
# was due to try again (its status moves without a new log at the head of the list).
FOLLOW_PAGES = 20
_ID_RNG = random.SystemRandom()


def bulk_insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) in the session's transaction, in one go. On
    Postgres one ``COPY … FROM STDIN``: one round trip, where an executemany sends a statement
    per row (the values are Python's own: datetimes aware UTC, as UTCDateTime would bind them).
    On SQLite an executemany, which runs in the driver without a round trip per row."""
    table = model.__table__
    assert isinstance(table, Table)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    from psycopg import sql

    keys = list(rows[0])
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, keys))
    )
    driver: Any = session.connection().connection.driver_connection
    with driver.cursor() as cur, cur.copy(copy) as out:
        for r in rows:
            out.write_row([r[k] for k in keys])


def bulk_update(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Update rows by ``id`` (dicts with the same keys). On Postgres one ``UPDATE … FROM
    unnest(…)``: one statement, so the tables' statement triggers (the dashboard's rollups)
    run once, not once per row. On SQLite an executemany by primary key."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(model), rows)
        return
    table = model.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect
    keys = list(rows[0])
    arrays = ", ".join(
        f"CAST(:a{i} AS {table.c[k].type.dialect_impl(dialect).compile(dialect)}[])"
        for i, k in enumerate(keys)
    )
    sets = ", ".join(f"{k} = v.{k}" for k in keys if k != "id")
    sql = (
        f"UPDATE {table.name} SET {sets} FROM unnest({arrays}) AS v({', '.join(keys)}) "
        f"WHERE {table.name}.id = v.id"
    )
    session.execute(text(sql), {f"a{i}": [r[k] for r in rows] for i, k in enumerate(keys)})


def among(session: Session, column: Any, keys: list[str]) -> ColumnElement[bool]:
    """``column IN keys`` for a page of keys. On Postgres the keys go as one array, joined
    with ``unnest``: 500 separate parameters make the server compare each row with each of
    them in turn when it scans, which grows with the table."""
    if session.get_bind().dialect.name == "postgresql":
        return column.in_(select(func.unnest(literal(keys, ARRAY(String)))))
    return column.in_(keys)


def _payment_state(p: GatewayPayment) -> dict[str, Any]:
    status = "success" if p.status in ("partially_refunded", "refunded") else p.status
    return {
        "status": status,
        "captured": p.captured or status == "success",
        "error_code": (p.error_code or None) and p.error_code[:64],
        "error_description": p.error_description,
        "updated_at": p.updated_at,
    }


def apply_payments(
    session: Session,
    name: str,
    merchant_id: str,
    pays: Iterable[GatewayPayment],
    result: SyncResult,
) -> list[str]:
    """Add or update the payments in bulk (one read of the rows held, one insert, one update);
    returns the ids of those that changed."""
    by_id: dict[str, GatewayPayment] = {}
    for p in pays:
        if len(p.id) > MAX_PAYMENT_ID:
            why = f"its id is longer than the {MAX_PAYMENT_ID} characters Paydesk keeps"
            result.skipped.append(Skipped("payment", p.id, why).sentence())
            continue
        # The newest word on a payment wins (a page or payloads may name it twice).
        if p.id not in by_id or p.updated_at >= by_id[p.id].updated_at:
            by_id[p.id] = p
    if not by_id:
        return []
    held = {
        r.id: r
        for r in session.execute(
            select(Payment.id, Payment.gateway, *(getattr(Payment, k) for k in _PAYMENT_STATE))
            .where(among(session, Payment.id, list(by_id)))
        )
    }
    added: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for pid, p in by_id.items():
        state = _payment_state(p)
        row = held.get(pid)
        if row is None:
            added.append(
                {
                    "id": p.id,
                    "merchant_id": merchant_id,
                    "order_id": p.order_id[:64],
                    "amount": p.amount,
                    "currency": p.currency,
                    "method": p.method,
                    "customer_email": None,
                    "refunded_amount": 0,  # the database's triggers keep it from here on
                    "customer_vpa": (p.vpa or None) and p.vpa[:100],
                    "card_last4": p.card_last4,
                    "created_at": p.created_at,
                    "gateway": name,
                    **state,
                }
            )
            continue
        if row.gateway != name:
            where = f"connection {row.gateway}" if row.gateway else "Paydesk's own data"
            result.skipped.append(
                Skipped("payment", pid, f"Paydesk already holds this id from {where}").sentence()
            )
            continue
        if all(getattr(row, k) == v for k, v in state.items()):
            continue
        if row.updated_at is not None and p.updated_at < row.updated_at:
            continue  # an older word than what Paydesk holds (a stale payload)
        changed.append({"id": pid, **state})
    if added:
        bulk_insert(session, Payment, added)
    if changed:
        bulk_update(session, Payment, changed)
    result.added += len(added)
    result.new_payments += len(added)
    result.updated += len(changed)
    return [r["id"] for r in added] + [r["id"] for r in changed]


def _apply_logs(
    session: Session, name: str, merchant_id: str, logs: list[GatewayLog], result: SyncResult
) -> list[str]:
    """Add or update the logs in bulk; returns the Paydesk ids of those that changed."""
    by_id: dict[str, GatewayLog] = {}
    for g in logs:
        if g.id not in by_id or g.attempts >= by_id[g.id].attempts:
            by_id[g.id] = g  # a page naming a log twice: the later attempt wins
    if not by_id:
        return []
    held = {
        r.gateway_log_id: r
        for r in session.execute(
            select(
                WebhookLog.id,
                WebhookLog.gateway_log_id,
                *(getattr(WebhookLog, k) for k in _LOG_STATE),
            ).where(
                WebhookLog.gateway == name,
                among(session, WebhookLog.gateway_log_id, list(by_id)),
            )
        )
    }
    new = [g for gid, g in by_id.items() if gid not in held]
    fresh_ids = iter(ids.new_ids("webhook", len(new), _ID_RNG)) if new else iter(())
    added: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for gid, g in by_id.items():
        state = {k: getattr(g, k) for k in _LOG_STATE}
        row = held.get(gid)
        if row is None:
            entity = g.payment.id if g.payment else g.refund.id if g.refund else None
            added.append(
                {
                    "id": next(fresh_ids),
                    "merchant_id": merchant_id,
                    "event": g.event,
                    "payload": g.payload,
                    "entity_id": entity[:32] if entity else None,
                    "round_start": 0,
                    "created_at": g.created_at,
                    "updated_at": g.last_attempt_at or g.created_at,
                    "gateway": name,
                    "gateway_log_id": gid,
                    **state,
                }
            )
        elif any(getattr(row, k) != v for k, v in state.items()):
            changed.append({"id": row.id, "updated_at": g.last_attempt_at or g.created_at, **state})
    if added:
        bulk_insert(session, WebhookLog, added)
    if changed:
        bulk_update(session, WebhookLog, changed)
    result.added += len(added)
    result.new_logs += len(added)
    result.updated += len(changed)
    return [r["id"] for r in added] + [r["id"] for r in changed]


def _changed(ctx: Context, session: Session, payment_ids: list[str]) -> None:
    # The lists refresh and reconciliation matches again (a late sync can settle a line).
    if payment_ids:
        notify.emit(session, "payments", payment_ids, None, ctx.client_id)


def _logs_changed(ctx: Context, session: Session, log_ids: list[str]) -> None:
    # No status in the notice: Paydesk's dispatcher wakes for "pending" ones, and never
    # delivers a gateway's logs.
    if log_ids:
        notify.emit(session, "webhook_logs", log_ids, None, ctx.client_id)


def _refunds(
    ctx: Context,
    session: Session,
    name: str,
    merchant_id: str,
    refunds: list[GatewayRefund],
    where: str,
    r: SyncResult,
    seen: set[str],
) -> None:
    done = RefundsApplied()
    apply_refunds(ctx, session, name, merchant_id, refunds, where, done)
    r.added += done.added
    r.updated += done.updated
    r.skipped += done.skipped
    seen.update(done.seen)
    _changed(ctx, session, sorted(done.payments))


def _page(
    ctx: Context, name: str, apply: Callable[[Session, SyncResult], None], result: SyncResult
) -> int:
    """Apply one page in one transaction: its counts join ``result`` only when it commits.
    Returns how many rows it added or updated."""
    part = SyncResult(name)
    with ctx.db.write() as session:
        apply(session, part)
    result.added += part.added
    result.updated += part.updated
    result.skipped += part.skipped
    result.new_payments += part.new_payments
    result.new_logs += part.new_logs
    _keep_statistics(ctx, result)
    return part.added + part.updated


# Postgres plans a page's reads from its statistics of the tables; a first sync that grows them
# from nothing to 100,000 rows before autovacuum looks would be planned for empty tables
# (scanning the whole table for each page). Refreshed after this many new rows.
ANALYZE_EVERY = 20_000


def _keep_statistics(ctx: Context, result: SyncResult) -> None:
    if not ctx.db.is_postgres:
        return  # SQLite's planner uses the indexes without statistics
    for table, grown in (("payments", result.new_payments), ("webhook_logs", result.new_logs)):
        done = result.analyzed.get(table, 0)
        if grown - done >= ANALYZE_EVERY:
            result.analyzed[table] = grown
            # A login that does not own the table gets a warning and nothing else.
            with ctx.db.write() as session:
                session.execute(text(f"ANALYZE {table}"))


@dataclass
class Walk:
    """How far one of the gateway's lists is read in this sync. The lists come newest first
    (``created_at`` descending) and the API has no ``since`` filter, so an incremental pass
    stops at the first page that brings nothing new or changed. A full pass reads the list
    whole, and so does any pass over a list that turns out not to be newest first."""

    full: bool
    # Read back at least to this ``created_at`` (the oldest log the gateway was due to try
    # again), at most ``FOLLOW_PAGES`` pages past the stop.
    follow_to: datetime | None = None
    pages: int = 0
    followed: int = 0
    ordered: bool = True
    stopped: bool = False
    _last: datetime | None = None

    def more(self, created: list[datetime], changed: int) -> bool:
        """After a page whose rows were created at ``created`` and that added or updated
        ``changed`` rows: whether to read the next page."""
        self.pages += 1
        for when in created:
            if self._last is not None and when > self._last:
                self.ordered = False  # not newest first: only reading it whole finds everything
            self._last = when
        if self.full or not self.ordered or changed:
            return True
        behind = self.follow_to is not None and bool(created) and min(created) > self.follow_to
        if behind and self.followed < FOLLOW_PAGES:
            self.followed += 1
            return True
        self.stopped = True
        return False


def full_pass_due(session: Session, row: GatewayConnection, now: datetime) -> bool:
    """Whether this sync reads the lists whole: never done yet, the last sync failed (its
    unread pages may hold new rows behind ones already applied), or the policy's
    ``gateway_full_sync_minutes`` have passed since the last full pass."""
    minutes = int(policy.get(session, "gateway_full_sync_minutes"))
    return (
        minutes == 0
        or row.full_sync_at is None
        or row.last_sync_outcome == "error"
        or now - row.full_sync_at >= timedelta(minutes=minutes)
    )


def _due_logs_from(session: Session, name: str, now: datetime) -> datetime | None:
    """The oldest ``created_at`` of this connection's logs that the gateway was due to try
    again by now: their status and attempts change deep in the list."""
    return session.scalar(
        select(func.min(WebhookLog.created_at)).where(
            WebhookLog.gateway == name,
            WebhookLog.status == "pending",
            or_(WebhookLog.next_retry_at.is_(None), WebhookLog.next_retry_at <= now),
        )
    )


def sync_connection(
    ctx: Context,
    name: str,
    *,
    client_factory: ClientFactory = _default_client,
    full: bool | None = None,
) -> SyncResult:
    """Sync one connection now and record the outcome on it. ``full``: read the lists whole
    (None: when ``full_pass_due``). Errors end the sync with the pages applied so far kept,
    and are returned in ``SyncResult.error`` (also recorded)."""
    started = ctx.clock.now()
    with ctx.db.read() as session:
        row = get_row(session, name, removed_ok=False)
        name, url, key, merchant_id = row.name, row.url, row.api_key, row.merchant_id
        caps = Capabilities.from_json(row.capabilities)
        if full is None:
            full = full_pass_due(session, row, started)
        follow = None if full else _due_logs_from(session, name, started)
    result = SyncResult(name, full=full)
    secret = secrets.read(name)
    if not secret:
        result.error = (
            f"This copy does not hold the secret of {name}; store it in the keyring "
            f"(gateways add) or set {secrets.env_var(name)}."
        )
        _record(ctx, name, result, None, started)
        return result
    queue: dict[str, Any] | None = None
    client = client_factory(url, key, secret)
    try:
        if caps.payment_list != "none":
            walk = Walk(full)
            for page in read_ahead(client.payment_pages(caps.payment_list), full):
                result.skipped += [s.sentence() for s in page.skipped]
                items = page.items

                def pays(s: Session, r: SyncResult, items: list[GatewayPayment] = items) -> None:
                    _changed(ctx, s, apply_payments(s, name, merchant_id, items, r))

                n = _page(ctx, name, pays, result)
                if not walk.more([p.created_at for p in items], n):
                    break
        seen: set[str] = set()
        if caps.refund_list:
            walk = Walk(full)
            for rpage in read_ahead(client.refund_pages(), full):
                result.skipped += [s.sentence() for s in rpage.skipped]
                refunds = rpage.items

                def refs(s: Session, r: SyncResult, refunds: list[GatewayRefund] = refunds) -> None:
                    _refunds(ctx, s, name, merchant_id, refunds, "the refund list", r, seen)

                n = _page(ctx, name, refs, result)
                if not walk.more([g.created_at for g in refunds], n):
                    break
        if caps.webhook_logs:
            walk = Walk(full, follow)
            for lpage in read_ahead(client.log_pages(), full):
                result.skipped += [s.sentence() for s in lpage.skipped]
                logs = lpage.items

                def both(s: Session, r: SyncResult, logs: list[GatewayLog] = logs) -> None:
                    # The payloads are the change feed for payments deep in the payment list.
                    found = [g.payment for g in logs if g.payment]
                    _changed(ctx, s, apply_payments(s, name, merchant_id, found, r))
                    _logs_changed(ctx, s, _apply_logs(s, name, merchant_id, logs, r))
                    carried = [g.refund for g in logs if g.refund]
                    _refunds(ctx, s, name, merchant_id, carried, "a webhook payload", r, seen)

                n = _page(ctx, name, both, result)
                if not walk.more([g.created_at for g in logs], n):
                    break
        looked = RefundsApplied(seen=seen)
        look_up_sent(ctx, name, merchant_id, client, looked)
        result.updated += looked.updated
        result.added += looked.added
        check_open(ctx, name, client, caps)
        if caps.queue_status:
            try:
                queue = client.queue_status()
            except GatewayError:
                queue = None  # indicative only: its failure does not fail the sync
    except Exception as exc:
        result.error = sentence(exc)
    finally:
        client.close()
    _record(ctx, name, result, queue, started)
    return result


def _record(
    ctx: Context, name: str, result: SyncResult, queue: dict[str, Any] | None, started: datetime
) -> None:
    now = ctx.clock.now()
    with ctx.db.write() as session:
        row = session.get(GatewayConnection, name)
        if row is None:
            return
        skipped = list(result.skipped)
        if not result.full and not result.error:
            # An incremental pass does not read the rows skipped deeper in the lists: their
            # reasons stand until the next full pass reads them again.
            skipped += [s for s in _kept_skipped(row.last_skipped) if s not in skipped]
        row.last_sync_at = now
        row.last_sync_outcome = "error" if result.error else ("partial" if skipped else "ok")
        row.last_error = result.error
        row.last_skipped = json.dumps(skipped[:MAX_SKIPPED_KEPT])
        row.last_added = result.added
        row.last_updated = result.updated
        if result.full and not result.error:
            # When it started: what changed while it read is seen by the next pass.
            row.full_sync_at = started
        if queue is not None:
            row.queue_status = json.dumps(queue, sort_keys=True)
        if result.full or result.error:
            _count_rows(session, row)
        else:
            # Counting 100,000 rows on every sync would cost more than the sync itself.
            row.payments_count = (row.payments_count or 0) + result.new_payments
            row.logs_count = (row.logs_count or 0) + result.new_logs
            row.refunds_count = (
                session.scalar(
                    select(func.count()).select_from(Refund).where(Refund.gateway == name)
                )
                or 0
            )
        row.updated_at = now


def _count_rows(session: Session, row: GatewayConnection) -> None:
    for model, attr in ((Payment, "payments_count"), (Refund, "refunds_count")):
        where = model.gateway == row.name
        count = session.scalar(select(func.count()).select_from(model).where(where))
        setattr(row, attr, count or 0)
    row.logs_count = (
        session.scalar(
            select(func.count()).select_from(WebhookLog).where(WebhookLog.gateway == row.name)
        )
        or 0
    )


def _kept_skipped(stored: str | None) -> list[str]:
    try:
        kept = json.loads(stored) if stored else []
    except ValueError:
        return []
    return [s for s in kept if isinstance(s, str)] if isinstance(kept, list) else []


def sync_now(
    ctx: Context,
    actor: str,
    name: str | None = None,
    *,
    client_factory: ClientFactory = _default_client,
) -> list[SyncResult]:
    """``paydesk gateways sync [NAME]``: one sync of the named connection, or of every one."""
    with ctx.db.read() as session:
        roles.require(session, actor, "view")
        if name is not None:
            names = [get_row(session, name, removed_ok=False).name]
        else:
            names = list(
                session.scalars(
                    select(GatewayConnection.name)
                    .where(GatewayConnection.removed.is_(False))
                    .order_by(GatewayConnection.name)
                )
            )
    if name is not None and not names:
        raise NotFound(f"There is no gateway connection named {name}.")
    return [sync_connection(ctx, n, client_factory=client_factory) for n in names]


# -- the scheduler task ------------------------------------------------------------------------

# The task looks this often for connections that are due; each connection is synced every
# ``gateway_sync_interval_seconds`` (policy, 30 s by default).
POLL_SECONDS = 5.0
LEASE = timedelta(minutes=5)  # a copy that dies mid-sync frees its connection after this
BACKOFF_ROUNDS = 4  # intervals a connection waits after a failed sync
# A sync that started this little before its interval is up counts as on time (the task's
# poll and the interval never line up exactly).
EARLY = timedelta(seconds=1)


def sync_interval(session: Session) -> timedelta:
    return timedelta(seconds=int(policy.get(session, "gateway_sync_interval_seconds")))


def _claim(ctx: Context, name: str) -> bool:
    """Take the connection's lease for this copy: in shared mode exactly one copy syncs a
    connection at a time. False when another copy holds it or it is backing off."""
    now = ctx.clock.now()
    with ctx.db.write() as session:
        interval = sync_interval(session)
        due = now - interval + EARLY
        backoff = now - interval * BACKOFF_ROUNDS
        done = session.execute(
            update(GatewayConnection)
            .where(
                GatewayConnection.name == name,
                GatewayConnection.removed.is_(False),
                or_(
                    GatewayConnection.lease_expires_at.is_(None),
                    GatewayConnection.lease_expires_at < now,
                    GatewayConnection.lease_owner == ctx.client_id,
                ),
                or_(
                    GatewayConnection.last_sync_at.is_(None), GatewayConnection.last_sync_at <= due
                ),
                or_(
                    GatewayConnection.last_sync_outcome.is_(None),
                    GatewayConnection.last_sync_outcome != "error",
                    GatewayConnection.last_sync_at.is_(None),
                    GatewayConnection.last_sync_at < backoff,
                ),
            )
            .values(lease_owner=ctx.client_id, lease_expires_at=now + LEASE)
        )
        return bool(getattr(done, "rowcount", 0))


def _release(ctx: Context, name: str) -> None:
    with ctx.db.write() as session:
        session.execute(
            update(GatewayConnection)
            .where(GatewayConnection.name == name, GatewayConnection.lease_owner == ctx.client_id)
            .values(lease_owner=None, lease_expires_at=None)
        )


def run_due(ctx: Context, *, client_factory: ClientFactory = _default_client) -> str | None:
    """One round of the task: sync every connection whose secret this copy holds and whose
    lease it gets. Raises with the first failure's sentence so the Jobs view shows it."""
    with ctx.db.read() as session:
        names = list(
            session.scalars(
                select(GatewayConnection.name)
                .where(GatewayConnection.removed.is_(False))
                .order_by(GatewayConnection.name)
            )
        )
    done: list[SyncResult] = []
    for name in names:
        if not secrets.read(name):
            continue  # copies without the secret show the data; others sync it
        if not _claim(ctx, name):
            continue
        try:
            done.append(sync_connection(ctx, name, client_factory=client_factory))
        finally:
            _release(ctx, name)
    failed = [r for r in done if r.error]
    if failed:
        raise GatewayError(failed[0].sentence())
    if not done:
        return None
    return "; ".join(r.sentence().rstrip(".") for r in done)


def sync_task() -> Task:
    """Sync each gateway connection this copy holds the secret of, each at its interval."""
    return Task(
        name="gateway_sync",
        title="Sync gateway connections",
        interval=POLL_SECONDS,
        run=run_due,
    )
