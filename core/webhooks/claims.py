"""Claims of due webhook logs: the lease a dispatcher takes on them, how long it lasts, and
giving it back.

A claim is one ``UPDATE … WHERE id IN (SELECT …) RETURNING`` in the caller's transaction
(Postgres: the subquery locks ``FOR UPDATE SKIP LOCKED``, so copies claim side by side; SQLite:
the transaction is a short ``BEGIN IMMEDIATE``). Each claimed log comes back as an ``Item`` with
what sending it needs: standalone the merchant's active secrets, in shared mode the signatures
the database made for the logs it has just leased (``paydesk_sign_deliveries``, migration 0008).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, or_, select, update
from sqlalchemy.orm import Session

from core.context import Context
from core.store.models import Merchant, WebhookLog
from core.webhooks import secrets as merchant_secrets
from core.webhooks import signing

NOT_SIGNED = "The database did not sign this delivery; it was not sent."
NO_SECRET = "The endpoint has no signing secret; it was not sent."

_L = cast(Table, WebhookLog.__table__)
_M = cast(Table, Merchant.__table__)


@dataclass
class Item:
    """A claimed log, with everything needed to send it."""

    id: str
    merchant_id: str
    body: bytes
    attempts: int  # before this attempt
    round_start: int
    trigger: str
    actor: str | None
    url: str
    secrets: list[str]  # standalone: signed with these as it is sent
    invalid: str | None  # why the payload cannot be sent, if it cannot
    # Shared mode: the database's signatures and when (time.monotonic()) they were made.
    signed: signing.Signed | None = None
    signed_at: float = 0.0


def lease_for(values: dict[str, Any], lease_seconds: float | None) -> timedelta:
    """How long a claim holds its logs: ``lease_seconds`` when the dispatcher was given one."""
    if lease_seconds is not None:
        return timedelta(seconds=lease_seconds)
    # Policy: a shorter lease hands a dead copy's work to the others sooner; it must still
    # cover a claimed log's wait in the queue plus its attempt, or a live copy loses it.
    configured = int(values.get("webhook_lease_seconds") or 0)
    if configured > 0:
        return timedelta(seconds=configured)
    # A claimed log may wait behind a full pool before its own attempt: allow a few.
    return timedelta(seconds=60 + 4 * float(values["webhook_timeout_seconds"]))


def claim_in(
    session: Session,
    ctx: Context,
    owner: str,
    values: dict[str, Any],
    lease_seconds: float | None,
    now: datetime,
    limit: int,
    saturated: list[str],
    only_ids: list[str] | None,
) -> tuple[list[Item], float]:
    """Lease up to ``limit`` due logs to ``owner``, inside ``session``'s transaction, under the
    policy ``values``; returns them with the timeout of their attempts."""
    conn = session.connection()
    timeout = float(values["webhook_timeout_seconds"])
    lease_until = now + lease_for(values, lease_seconds)
    enabled = select(_M.c.id).where(_M.c.webhook_enabled.is_(True), _M.c.webhook_url.is_not(None))
    due = select(_L.c.id).where(
        _L.c.status == "pending",
        _L.c.next_retry_at <= now,
        or_(_L.c.lease_expires_at.is_(None), _L.c.lease_expires_at < now),
        _L.c.merchant_id.in_(enabled),
    )
    if saturated:
        due = due.where(_L.c.merchant_id.not_in(saturated))
    if only_ids is not None:
        due = due.where(_L.c.id.in_(only_ids))
    due = due.order_by(_L.c.next_retry_at).limit(limit)
    if ctx.db.is_postgres:
        due = due.with_for_update(skip_locked=True, of=_L)
    rows = conn.execute(
        update(_L)
        .where(_L.c.id.in_(due))
        .values(lease_owner=owner, lease_expires_at=lease_until)
        .returning(
            _L.c.id,
            _L.c.merchant_id,
            _L.c.payload,
            _L.c.attempts,
            _L.c.round_start,
            _L.c.next_trigger,
            _L.c.next_actor,
        )
    ).all()
    if not rows:
        return [], timeout
    endpoints = {
        r.id: r
        for r in conn.execute(
            select(_M.c.id, _M.c.webhook_url).where(_M.c.id.in_({r.merchant_id for r in rows}))
        )
    }
    problems = {r.id: _why_unsendable(r.payload) for r in rows}
    sendable = [r.id for r in rows if problems[r.id] is None]
    if ctx.db.is_postgres:
        # The database signs: no login reads a secret, and it signs only pending logs this
        # dispatcher leased, with the payload stored in the row (migration 0008).
        signed = merchant_secrets.sign_deliveries(session, sendable, lease_owner=owner, now=now)
        signers = {}
    else:
        signed = {}
        signers = merchant_secrets.for_deliveries(session, sendable)
    signed_at = time.monotonic()
    items = []
    for r in sorted(rows, key=lambda r: r.id):
        ep = endpoints[r.merchant_id]
        invalid = problems[r.id]
        secrets: list[str] = []
        sig: signing.Signed | None = None
        if invalid is None and ctx.db.is_postgres:
            got = signed.get(r.id, NOT_SIGNED)
            if isinstance(got, signing.Signed):
                sig = got
            else:
                invalid = got
        elif invalid is None:
            signer = signers.get(r.id)
            if signer is not None:
                secrets = signing.active_secrets(
                    signer.secret, signer.previous, signer.rotated_at, now
                )
            if not secrets:
                invalid = NO_SECRET
        items.append(
            Item(
                id=r.id,
                merchant_id=r.merchant_id,
                body=r.payload.encode("utf-8"),
                attempts=r.attempts,
                round_start=r.round_start,
                trigger=r.next_trigger or "scheduled",
                actor=r.next_actor,
                url=ep.webhook_url,
                secrets=secrets,
                invalid=invalid,
                signed=sig,
                signed_at=signed_at,
            )
        )
    return items, timeout


def release(ctx: Context, owner: str, items: list[Item]) -> None:
    """Give back leases of logs claimed but not attempted (a stop or a deadline)."""
    with ctx.db.write() as session:
        session.connection().execute(
            update(_L)
            .where(_L.c.id.in_([it.id for it in items]), _L.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )


def _why_unsendable(payload: str) -> str | None:
    """A sentence when this log's payload cannot be sent at all (retrying would not help)."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        return "The payload is not valid JSON; it was not sent."
    if not isinstance(parsed, dict):
        return "The payload is not a JSON object; it was not sent."
    return None
