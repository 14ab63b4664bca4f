"""What a dispatcher records of its attempts, a batch in one transaction, and only for logs
whose lease it still holds.

Per attempt: a ``webhook_attempts`` row; per log: its status, attempts, response and next retry
(policy schedule, ±10 % jitter), its lease let go; per endpoint: its health (consecutive
failures, last success, failing since), a 410 or a long run of failures disabling it, audited;
then change notices. On Postgres the logs of a batch are written by one statement
(``_PG_RECORD_LOG``) that returns the ids whose lease was still held; on SQLite the write lock
of the transaction keeps what is read true until the update.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.access import audit
from core.access.roles import SYSTEM_ACTOR
from core.context import Context
from core.store import notify
from core.store.models import Merchant, WebhookAttempt, WebhookLog
from core.webhooks.claims import Item
from core.webhooks.sender import Outcome

log = logging.getLogger(__name__)


# Who the audit log names for what the dispatcher decides on its own (410, auto-disable):
# SYSTEM_ACTOR, one of the names no person may take (core.access.roles.RESERVED_ACTORS).
JITTER = 0.10

_L = cast(Table, WebhookLog.__table__)
_M = cast(Table, Merchant.__table__)
_A = cast(Table, WebhookAttempt.__table__)


@dataclass
class Done:
    """An attempt made: the claimed log, when its attempt started, what came of it."""

    item: Item
    started_at: datetime
    outcome: Outcome


@dataclass
class DispatchStats:
    """What one run did."""

    delivered: int = 0  # attempts that succeeded
    failed_attempts: int = 0  # attempts that failed (the log may be retried)
    given_up: int = 0  # logs that became ``failed``
    lost_leases: int = 0  # outcomes not recorded because another copy took the log over
    endpoints_disabled: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict, repr=False)

    def merge(self, other: DispatchStats) -> None:
        self.delivered += other.delivered
        self.failed_attempts += other.failed_attempts
        self.given_up += other.given_up
        self.lost_leases += other.lost_leases
        self.endpoints_disabled += other.endpoints_disabled
        self.outcomes.update(other.outcomes)

    @property
    def attempts(self) -> int:
        return self.delivered + self.failed_attempts

    def sentence(self) -> str | None:
        """A short text for the Jobs view, or None when nothing was attempted."""
        if not self.attempts and not self.lost_leases:
            return None
        parts = [f"{self.delivered} delivered"]
        if self.failed_attempts:
            parts.append(f"{self.failed_attempts} failed")
        if self.given_up:
            parts.append(f"{self.given_up} gave up")
        if self.endpoints_disabled:
            parts.append(f"{self.endpoints_disabled} endpoint(s) disabled")
        if self.lost_leases:
            parts.append(f"{self.lost_leases} taken over by another copy")
        return ", ".join(parts)


def record_in(
    session: Session,
    ctx: Context,
    owner: str,
    values: dict[str, Any],
    rng: random.Random,
    now: datetime,
    done: list[Done],
) -> DispatchStats:
    """Record outcomes inside ``session``'s transaction, under the policy ``values``; only of
    logs whose lease ``owner`` holds."""
    stats = DispatchStats()
    conn = session.connection()
    schedule: list[int] = values["webhook_retry_schedule"]
    disable_days = int(values["webhook_disable_after_days"])
    rows: list[tuple[Done, str, datetime | None, str | None]] = []
    for d in sorted(done, key=lambda d: d.item.id):  # one lock order for every copy
        item, out = d.item, d.outcome
        error = f"{out.error}; the endpoint was disabled" if out.gone else out.error
        if out.ok:
            status, next_at = "success", None
        elif item.invalid is not None or item.attempts + 1 - item.round_start >= len(schedule):
            status, next_at = "failed", None
        else:
            in_round = item.attempts + 1 - item.round_start
            delay = schedule[in_round] * rng.uniform(1 - JITTER, 1 + JITTER)
            if out.retry_after is not None:
                delay = max(delay, out.retry_after)
            status, next_at = "pending", now + timedelta(seconds=delay)
        rows.append((d, status, next_at, error))
    owned = _update_logs(conn, ctx, owner, now, rows)

    attempt_rows: list[dict[str, Any]] = []
    by_status: dict[str, list[str]] = defaultdict(list)
    health: dict[str, list[Done]] = defaultdict(list)
    gone: dict[str, Done] = {}
    for d, status, _, error in rows:
        item, out = d.item, d.outcome
        if item.id not in owned:
            stats.lost_leases += 1
            log.info("%s was taken over by another copy; this attempt is not recorded", item.id)
            continue
        if out.ok:
            stats.delivered += 1
        else:
            stats.failed_attempts += 1
            stats.given_up += status == "failed"
        if out.gone:
            gone.setdefault(item.merchant_id, d)
        if item.invalid is None:
            health[item.merchant_id].append(d)
        by_status[status].append(item.id)
        stats.outcomes[item.id] = out
        attempt_rows.append(
            {
                "webhook_log_id": item.id,
                "number": item.attempts + 1,
                "started_at": d.started_at,
                "duration_ms": out.duration_ms,
                "url": item.url,
                "response_code": out.code,
                "response_body": out.body,
                "error": error,
                "trigger": item.trigger,
                "actor": item.actor,
                "client": ctx.client_id,
            }
        )
    if not attempt_rows:
        return stats
    conn.execute(insert(_A), attempt_rows)
    # Health in completion order, so "the last outcome" means the last one that came back.
    for ds in health.values():
        ds.sort(key=lambda d: d.started_at)
    _record_health(conn, health, now)
    for merchant_id, d in sorted(gone.items()):
        if any(x.outcome.ok and x.started_at >= d.started_at for x in health[merchant_id]):
            continue  # it answered again after the 410: not gone after all
        stats.endpoints_disabled += _disable(
            session,
            ctx,
            merchant_id,
            now,
            f"The endpoint answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC; "
            "deliveries wait until it is enabled again.",
            {"log_id": d.item.id, "response_code": 410},
        )
    if disable_days > 0:
        stats.endpoints_disabled += _auto_disable(
            session,
            ctx,
            [m for m, ds in health.items() if not any(x.outcome.ok for x in ds)],
            now,
            disable_days,
        )
    for status, status_ids in by_status.items():
        notify.emit(session, "webhook_logs", status_ids, status, ctx.client_id)
    if health:
        notify.emit(session, "merchants", sorted(health), None, ctx.client_id)
    return stats


def _update_logs(
    conn: Connection,
    ctx: Context,
    owner: str,
    now: datetime,
    rows: list[tuple[Done, str, datetime | None, str | None]],
) -> set[str]:
    """Write each outcome to its log where this dispatcher still holds the lease; returns
    the ids written (the others were taken over by another copy)."""
    if not rows:
        return set()
    if ctx.db.is_postgres:
        # One statement for the whole batch: arrays unnested against the table.
        result = conn.execute(
            _PG_RECORD_LOG,
            {
                "ids": [d.item.id for d, *_ in rows],
                "statuses": [status for _, status, _, _ in rows],
                "attempts": [d.item.attempts + 1 for d, *_ in rows],
                "last_at": [d.started_at for d, *_ in rows],
                "next_at": [next_at for _, _, next_at, _ in rows],
                "codes": [d.outcome.code for d, *_ in rows],
                "bodies": [d.outcome.body for d, *_ in rows],
                "errors": [error for *_, error in rows],
                "owner": owner,
                "now": now,
            },
        )
        return set(result.scalars())
    # SQLite: this transaction holds the write lock, so what we read stays true.
    ids = [d.item.id for d, *_ in rows]
    owned: set[str] = set(
        conn.scalars(select(_L.c.id).where(_L.c.id.in_(ids), _L.c.lease_owner == owner))
    )
    params = [
        {
            "b_id": d.item.id,
            "b_status": status,
            "b_attempts": d.item.attempts + 1,
            "b_last": d.started_at,
            "b_next": next_at,
            "b_code": d.outcome.code,
            "b_body": d.outcome.body,
            "b_error": error,
        }
        for d, status, next_at, error in rows
        if d.item.id in owned
    ]
    if params:
        conn.execute(_RECORD_LOG.values(updated_at=now, lease_owner=None), params)
    return owned


def _record_health(conn: Connection, health: dict[str, list[Done]], now: datetime) -> None:
    """Consecutive failures, last success and failing-since per endpoint."""
    recovered: list[dict[str, Any]] = []
    failing: list[dict[str, Any]] = []
    for merchant_id in sorted(health):  # one order everywhere: no deadlocks between copies
        ds = health[merchant_id]
        last_ok = max((i for i, d in enumerate(ds) if d.outcome.ok), default=None)
        if last_ok is None:
            failing.append({"b_id": merchant_id, "b_n": len(ds), "b_since": ds[0].started_at})
        else:
            after = ds[last_ok + 1 :]
            recovered.append(
                {
                    "b_id": merchant_id,
                    "b_n": len(after),
                    "b_ok": ds[last_ok].started_at,
                    "b_since": after[0].started_at if after else None,
                }
            )
    if recovered:
        conn.execute(
            update(_M)
            .where(_M.c.id == bindparam("b_id"))
            .values(
                webhook_last_success_at=bindparam("b_ok"),
                webhook_consecutive_failures=bindparam("b_n"),
                webhook_failing_since=bindparam("b_since"),
            ),
            recovered,
        )
    if failing:
        conn.execute(
            update(_M)
            .where(_M.c.id == bindparam("b_id"))
            .values(
                webhook_consecutive_failures=_M.c.webhook_consecutive_failures + bindparam("b_n"),
                webhook_failing_since=func.coalesce(
                    _M.c.webhook_failing_since,
                    bindparam("b_since", type_=_M.c.webhook_failing_since.type),
                ),
            ),
            failing,
        )


def _auto_disable(
    session: Session, ctx: Context, merchant_ids: list[str], now: datetime, days: int
) -> int:
    if not merchant_ids:
        return 0
    cutoff = now - timedelta(days=days)
    rows = (
        session.connection()
        .execute(
            select(_M.c.id, _M.c.webhook_failing_since, _M.c.webhook_consecutive_failures).where(
                _M.c.id.in_(merchant_ids),
                _M.c.webhook_enabled.is_(True),
                _M.c.webhook_failing_since.is_not(None),
                _M.c.webhook_failing_since <= cutoff,
            )
        )
        .all()
    )
    count = 0
    for r in sorted(rows, key=lambda r: r.id):
        count += _disable(
            session,
            ctx,
            r.id,
            now,
            f"Every delivery since {r.webhook_failing_since:%Y-%m-%d %H:%M} UTC failed "
            f"({r.webhook_consecutive_failures} attempts, more than {days} days); "
            "deliveries wait until the endpoint is enabled again.",
            {
                "failing_since": r.webhook_failing_since,
                "failures": r.webhook_consecutive_failures,
            },
        )
    return count


def _disable(
    session: Session,
    ctx: Context,
    merchant_id: str,
    now: datetime,
    reason: str,
    details: dict[str, Any],
) -> int:
    result = session.connection().execute(
        update(_M)
        .where(_M.c.id == merchant_id, _M.c.webhook_enabled.is_(True))
        .values(webhook_enabled=False, webhook_disabled_reason=reason)
    )
    if not result.rowcount:
        return 0
    audit.record(
        session,
        at=now,
        actor=SYSTEM_ACTOR,
        action="endpoint.disable",
        entity_type="merchant",
        entity_id=merchant_id,
        details={"reason": reason, "automatic": True, **details},
        client=ctx.client_id,
    )
    log.warning("Webhook endpoint of %s disabled: %s", merchant_id, reason)
    return 1


_RECORD_LOG = (
    update(_L)
    .where(_L.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        last_attempt_at=bindparam("b_last", type_=_L.c.last_attempt_at.type),
        next_retry_at=bindparam("b_next", type_=_L.c.next_retry_at.type),
        response_code=bindparam("b_code"),
        response_body=bindparam("b_body"),
        last_error=bindparam("b_error"),
        lease_expires_at=None,
        next_trigger=None,
        next_actor=None,
    )
)


_PG_RECORD_LOG = text(
    """
    UPDATE webhook_logs AS l SET
        status = v.status, attempts = v.attempts, last_attempt_at = v.last_at,
        next_retry_at = v.next_at, response_code = v.code, response_body = v.body,
        last_error = v.error, lease_owner = NULL, lease_expires_at = NULL,
        next_trigger = NULL, next_actor = NULL, updated_at = :now
    FROM unnest(
        CAST(:ids AS varchar[]), CAST(:statuses AS varchar[]), CAST(:attempts AS integer[]),
        CAST(:last_at AS timestamptz[]), CAST(:next_at AS timestamptz[]),
        CAST(:codes AS integer[]), CAST(:bodies AS text[]), CAST(:errors AS text[])
    ) AS v(id, status, attempts, last_at, next_at, code, body, error)
    WHERE l.id = v.id AND l.lease_owner = :owner
    RETURNING l.id
    """
)
