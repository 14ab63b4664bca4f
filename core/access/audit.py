"""The append-only audit log. Every person-facing action writes one event in its own transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.store.models import AuditEvent


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | None,
    details: dict[str, Any] | None = None,
    client: str | None = None,
) -> AuditEvent:
    """Add one audit event to ``session`` (committed, or not, with the action itself)."""
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        details=json.dumps(details, sort_keys=True, default=str) if details else None,
        client=client,
    )
    session.add(event)
    return event


def record_many(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity_type: str,
    events: Iterable[tuple[str | None, dict[str, Any] | None]],
    client: str | None = None,
) -> int:
    """One event per ``(entity_id, details)`` with one INSERT (batch jobs); returns the count."""
    rows = [
        {
            "at": at,
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "details": json.dumps(details, sort_keys=True, default=str) if details else None,
            "client": client,
        }
        for entity_id, details in events
    ]
    if rows:
        session.execute(insert(AuditEvent), rows)
    return len(rows)
