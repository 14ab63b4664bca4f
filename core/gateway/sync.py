"""One sync of a gateway connection: payments from the payment list (where there is one) and
from the payloads of the webhook logs, refunds from the refund list (where there is one) and
from ``refund.*`` payloads, and the webhook logs themselves, upserted by the gateway's ids.
Then the refunds Paydesk sent are looked for (core.gateway.refund_lookups).

Each page is applied in one transaction or not at all: syncing twice changes nothing, a changed
status updates the row, and a row Paydesk cannot use is skipped with its reason (kept on the
connection). A row whose id Paydesk already holds from elsewhere (its own data, another
connection) is never overwritten: it is skipped with that reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core import ids
from core.access import policy, roles
from core.context import Context
from core.errors import NotFound, sentence
from core.gateway import secrets
from core.gateway.capabilities import Capabilities
from core.gateway.client import GatewayClient
from core.gateway.connections import get_row
from core.gateway.errors import GatewayError
from core.gateway.refund_lookups import check_open, look_up_sent
from core.gateway.refund_matching import RefundsApplied, apply_refunds
from core.gateway.rows import GatewayLog, GatewayPayment, GatewayRefund, Skipped
from core.jobs.task import Task
from core.store import notify
from core.store.models import GatewayConnection, Payment, Refund, WebhookLog

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


_PAYMENT_FIELDS = ("status", "captured", "error_code", "error_description", "updated_at")


def _apply_payments(
    session: Session,
    name: str,
    merchant_id: str,
    pays: Iterable[GatewayPayment],
    result: SyncResult,
) -> list[str]:
    """Add or update the payments; returns the ids of those that changed."""
    by_id: dict[str, GatewayPayment] = {}
    for p in pays:
        # The newest word on a payment wins (a page or payloads may name it twice).
        if p.id not in by_id or p.updated_at >= by_id[p.id].updated_at:
            by_id[p.id] = p
    if not by_id:
        return []
    changed: list[str] = []
    existing = {
        row.id: row for row in session.scalars(select(Payment).where(Payment.id.in_(list(by_id))))
    }
    for pid, p in by_id.items():
        row = existing.get(pid)
        status = "success" if p.status in ("partially_refunded", "refunded") else p.status
        if row is None:
            session.add(
                Payment(
                    id=p.id,
                    merchant_id=merchant_id,
                    order_id=p.order_id[:64],
                    amount=p.amount,
                    currency=p.currency,
                    method=p.method,
                    status=status,
                    captured=p.captured or status == "success",
                    customer_email=None,
                    customer_vpa=(p.vpa or None) and p.vpa[:100],
                    card_last4=p.card_last4,
                    error_code=(p.error_code or None) and p.error_code[:64],
                    error_description=p.error_description,
                    created_at=p.created_at,
                    updated_at=p.updated_at,
                    gateway=name,
                )
            )
            result.added += 1
            changed.append(pid)
            continue
        if row.gateway != name:
            where = f"connection {row.gateway}" if row.gateway else "Paydesk's own data"
            result.skipped.append(
                Skipped("payment", pid, f"Paydesk already holds this id from {where}").sentence()
            )
            continue
        new = {
            "status": status,
            "captured": p.captured or status == "success",
            "error_code": (p.error_code or None) and p.error_code[:64],
            "error_description": p.error_description,
            "updated_at": p.updated_at,
        }
        if any(getattr(row, k) != v for k, v in new.items()):
            if row.updated_at is not None and p.updated_at < row.updated_at:
                continue  # an older word than what Paydesk holds (a stale payload)
            for k, v in new.items():
                setattr(row, k, v)
            result.updated += 1
            changed.append(pid)
    return changed


def _apply_logs(
    session: Session, name: str, merchant_id: str, logs: list[GatewayLog], result: SyncResult
) -> None:
    if not logs:
        return
    known = {
        row.gateway_log_id: row
        for row in session.scalars(
            select(WebhookLog).where(
                WebhookLog.gateway == name, WebhookLog.gateway_log_id.in_([g.id for g in logs])
            )
        )
    }
    for g in logs:
        entity = g.payment.id if g.payment else g.refund.id if g.refund else None
        values = {
            "status": g.status,
            "attempts": g.attempts,
            "last_attempt_at": g.last_attempt_at,
            "next_retry_at": g.next_retry_at,
            "response_code": g.response_code,
            "response_body": g.response_body,
        }
        row = known.get(g.id)
        if row is None:
            session.add(
                WebhookLog(
                    id=ids.new_id("webhook"),
                    merchant_id=merchant_id,
                    event=g.event,
                    payload=g.payload,
                    entity_id=entity[:32] if entity else None,
                    round_start=0,
                    created_at=g.created_at,
                    updated_at=g.last_attempt_at or g.created_at,
                    gateway=name,
                    gateway_log_id=g.id,
                    **values,
                )
            )
            known[g.id] = row  # type: ignore[assignment]  # a page naming it twice adds it once
            result.added += 1
        elif row is not None and any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            result.updated += 1


def _changed(ctx: Context, session: Session, payment_ids: list[str]) -> None:
    # The lists refresh and reconciliation matches again (a late sync can settle a line).
    if payment_ids:
        notify.emit(session, "payments", payment_ids, None, ctx.client_id)


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
) -> None:
    """Apply one page in one transaction: its counts join ``result`` only when it commits."""
    part = SyncResult(name)
    with ctx.db.write() as session:
        apply(session, part)
    result.added += part.added
    result.updated += part.updated
    result.skipped += part.skipped


def sync_connection(
    ctx: Context, name: str, *, client_factory: ClientFactory = _default_client
) -> SyncResult:
    """Sync one connection now and record the outcome on it. Errors end the sync with the
    pages applied so far kept, and are returned in ``SyncResult.error`` (also recorded)."""
    with ctx.db.read() as session:
        row = get_row(session, name, removed_ok=False)
        name, url, key, merchant_id = row.name, row.url, row.api_key, row.merchant_id
        caps = Capabilities.from_json(row.capabilities)
    result = SyncResult(name)
    secret = secrets.read(name)
    if not secret:
        result.error = (
            f"This copy does not hold the secret of {name}; store it in the keyring "
            f"(gateways add) or set {secrets.env_var(name)}."
        )
        _record(ctx, name, result, None)
        return result
    queue: dict[str, Any] | None = None
    client = client_factory(url, key, secret)
    try:
        if caps.payment_list != "none":
            for page in client.payment_pages(caps.payment_list):
                result.skipped += [s.sentence() for s in page.skipped]
                items = page.items

                def pays(s: Session, r: SyncResult, items: list[GatewayPayment] = items) -> None:
                    _changed(ctx, s, _apply_payments(s, name, merchant_id, items, r))

                _page(ctx, name, pays, result)
        seen: set[str] = set()
        if caps.refund_list:
            for rpage in client.refund_pages():
                result.skipped += [s.sentence() for s in rpage.skipped]
                refunds = rpage.items

                def refs(s: Session, r: SyncResult, refunds: list[GatewayRefund] = refunds) -> None:
                    _refunds(ctx, s, name, merchant_id, refunds, "the refund list", r, seen)

                _page(ctx, name, refs, result)
        if caps.webhook_logs:
            for lpage in client.log_pages():
                result.skipped += [s.sentence() for s in lpage.skipped]
                logs = lpage.items

                def both(s: Session, r: SyncResult, logs: list[GatewayLog] = logs) -> None:
                    found = [g.payment for g in logs if g.payment]
                    _changed(ctx, s, _apply_payments(s, name, merchant_id, found, r))
                    _apply_logs(s, name, merchant_id, logs, r)
                    carried = [g.refund for g in logs if g.refund]
                    _refunds(ctx, s, name, merchant_id, carried, "a webhook payload", r, seen)

                _page(ctx, name, both, result)
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
    _record(ctx, name, result, queue)
    return result


def _record(ctx: Context, name: str, result: SyncResult, queue: dict[str, Any] | None) -> None:
    now = ctx.clock.now()
    with ctx.db.write() as session:
        row = session.get(GatewayConnection, name)
        if row is None:
            return
        row.last_sync_at = now
        row.last_sync_outcome = "error" if result.error else ("partial" if result.skipped else "ok")
        row.last_error = result.error
        row.last_skipped = json.dumps(result.skipped[:MAX_SKIPPED_KEPT])
        row.last_added = result.added
        row.last_updated = result.updated
        if not result.error:
            row.full_sync_at = now
        if queue is not None:
            row.queue_status = json.dumps(queue, sort_keys=True)
        from sqlalchemy import func

        row.payments_count = (
            session.scalar(select(func.count()).select_from(Payment).where(Payment.gateway == name))
            or 0
        )
        row.refunds_count = (
            session.scalar(select(func.count()).select_from(Refund).where(Refund.gateway == name))
            or 0
        )
        row.logs_count = (
            session.scalar(
                select(func.count()).select_from(WebhookLog).where(WebhookLog.gateway == name)
            )
            or 0
        )
        row.updated_at = now


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
