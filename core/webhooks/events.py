"""Adding webhook events to the durable queue (the webhook_logs table).

Services call ``enqueue`` inside their own transaction, so an event exists exactly when
the change it reports is committed (a processed refund and its ``refund.processed`` log).

On Postgres no login may INSERT into webhook_logs (migration 0005): a delivery is created by
``paydesk_enqueue_webhook``, a security-definer function that checks the payload against what
Paydesk itself would send (a ``test.ping`` says exactly what Paydesk's says; a
``refund.processed`` matches its processed refund, once) and refuses anything else. On SQLite
the row is inserted directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from core import ids
from core.errors import InputError
from core.store import notify
from core.store.models import WebhookLog


def build_payload(log_id: str, event: str, created_at: datetime, data: dict[str, Any]) -> str:
    """The exact JSON text sent to the receiver (compact; stable across retries)."""
    body = {
        "id": log_id,
        "event": event,
        "created_at": int(created_at.timestamp()),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)


def enqueue(
    session: Session,
    *,
    merchant_id: str,
    event: str,
    data: dict[str, Any],
    entity_id: str | None,
    now: datetime,
    origin: str | None = None,
    next_trigger: str | None = None,
    next_actor: str | None = None,
) -> WebhookLog:
    """Insert a pending, due-now webhook log and announce it (wakes the dispatcher).

    ``data`` must be a JSON object (a dict); anything else is refused before it is stored.
    """
    if not isinstance(data, dict):
        raise InputError("A webhook payload must be a JSON object.")
    log_id = ids.new_id("webhook")
    log = WebhookLog(
        id=log_id,
        merchant_id=merchant_id,
        event=event,
        payload=build_payload(log_id, event, now, data),
        entity_id=entity_id,
        status="pending",
        attempts=0,
        round_start=0,
        next_trigger=next_trigger,
        next_actor=next_actor,
        next_retry_at=now,
        created_at=now,
        updated_at=now,
    )
    if _postgres(session):
        # Not added to the session: the database function writes the row.
        session.execute(_ENQUEUE, _row_params(log))
    else:
        session.add(log)
    notify.emit(session, "webhook_logs", [log_id], "pending", origin)
    return log


_ENQUEUE = text(
    "SELECT paydesk_enqueue_webhook(:id, :merchant_id, :event, :payload, :entity_id, "
    ":created_at, :next_trigger, :next_actor)"
)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _row_params(log: WebhookLog) -> dict[str, Any]:
    return {
        "id": log.id,
        "merchant_id": log.merchant_id,
        "event": log.event,
        "payload": log.payload,
        "entity_id": log.entity_id,
        "created_at": log.created_at,
        "next_trigger": log.next_trigger,
        "next_actor": log.next_actor,
    }


class NewEvent(NamedTuple):
    merchant_id: str
    event: str
    data: dict[str, Any]
    entity_id: str | None


def enqueue_many(
    session: Session, events: Iterable[NewEvent], *, now: datetime, origin: str | None = None
) -> list[str]:
    """``enqueue`` for a batch (refund processing): the same rows, inserted with one statement
    and announced with one notice. Returns the new log ids."""
    rows: list[dict[str, Any]] = []
    for e in events:
        log_id = ids.new_id("webhook")
        rows.append(
            {
                "id": log_id,
                "merchant_id": e.merchant_id,
                "event": e.event,
                "payload": build_payload(log_id, e.event, now, e.data),
                "entity_id": e.entity_id,
                "status": "pending",
                "attempts": 0,
                "next_retry_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows and _postgres(session):
        keys = ("id", "merchant_id", "event", "payload", "entity_id", "created_at")
        params = [
            {**{k: r[k] for k in keys}, "next_trigger": None, "next_actor": None} for r in rows
        ]
        session.execute(_ENQUEUE, params)
    elif rows:
        session.execute(insert(WebhookLog), rows)
        notify.emit(session, "webhook_logs", [r["id"] for r in rows], "pending", origin)
    return [r["id"] for r in rows]
