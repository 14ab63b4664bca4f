"""The audit log as the Activity view reads it: filtered, newest first, one keyset page at a time.

Pages are ordered by ``(at, id)`` descending, which the ``ix_audit_events_at`` index serves, so
the next page costs the same at the top of the log as a million events down. Events are never
changed after they are written, so a cursor stays valid while new events arrive above it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from core.clock import utc
from core.errors import InputError
from core.store.db import Database
from core.store.models import AuditEvent

PAGE_SIZE = 200
# The filter lists offer at most this many distinct actors or actions.
MAX_CHOICES = 500

# What each action is called where a person reads it; unknown actions show as written.
ACTION_TITLES: dict[str, str] = {
    "refund.request": "Refund requested",
    "refund.approve": "Refund approved",
    "refund.auto_approve": "Refund auto-approved",
    "refund.reject": "Refund rejected",
    "refund.cancel": "Refund cancelled",
    "refund.retry": "Refund retried",
    "refund.process": "Refund processed",
    "refund.fail": "Refund failed",
    "webhook.retry": "Webhook retried",
    "webhook.bulk_retry": "Webhooks bulk-retried",
    "webhook.test": "Test event sent",
    "endpoint.set": "Endpoint changed",
    "endpoint.enable": "Endpoint enabled",
    "endpoint.disable": "Endpoint disabled",
    "endpoint.reveal_secret": "Signing secret revealed",
    "policy.set": "Policy changed",
    "staff.first_admin": "First admin",
    "staff.set_role": "Staff role set",
    "database.copied_in": "Database copied in",
}
GROUP_TITLES: dict[str, str] = {
    "refund": "Refunds",
    "webhook": "Webhooks",
    "endpoint": "Endpoints",
    "policy": "Policy",
    "staff": "Staff",
    "database": "Database",
}


@dataclass(frozen=True)
class ActivityRow:
    """One audit event, detached from the session (safe to hand to another thread)."""

    id: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str | None
    details: dict[str, Any]
    client: str | None

    def cursor(self) -> tuple[datetime, int]:
        """The keyset position of this event, for ``page(after=...)``."""
        return (self.at, self.id)

    @property
    def group(self) -> str:
        """What the action is about: ``refund`` for ``refund.approve``."""
        return self.action.split(".", 1)[0]

    @property
    def title(self) -> str:
        return action_title(self.action)

    def summary(self) -> str:
        """The event's details in one line: amount, decision note, failure, policy value…"""
        d = self.details
        parts: list[str] = []
        if d.get("amount_text"):
            parts.append(str(d["amount_text"]))
        if self.action == "refund.request":
            parts.extend(str(d[k]).replace("_", " ") for k in ("kind", "reason") if d.get(k))
            if d.get("approval"):
                parts.append(str(d["approval"]))
        if d.get("payment_id"):
            parts.append(f"payment {d['payment_id']}")
        if d.get("pending_days"):
            parts.append(f"pending over {d['pending_days']} days")
        for key in ("note", "failure_reason", "previous_failure", "reason"):
            if d.get(key) and not (self.action == "refund.request" and key == "reason"):
                parts.append(str(d[key]))
        if self.action == "policy.set":
            parts.append(f"{self.entity_id} = {d.get('value')!s} (was {d.get('previous')!s})")
        elif self.action in ("staff.set_role", "staff.first_admin"):
            parts.append(f"{self.entity_id}: {d.get('role')}")
        elif self.action == "endpoint.set" and d.get("url"):
            parts.append(str(d["url"]) + (" · secret rotated" if d.get("secret_rotated") else ""))
        elif self.action == "webhook.bulk_retry":
            parts.append(f"{d.get('count', 0):,} deliveries · {d.get('filter', '')}".rstrip(" ·"))
        elif self.action == "webhook.test" and d.get("url"):
            parts.append(str(d["url"]))
        return " · ".join(p for p in parts if p)


@dataclass(frozen=True)
class ActivityFilter:
    """What a person narrowed the log to. ``action`` is one action (``refund.approve``) or, ending
    in a dot, a whole group (``refund.``). ``since`` is inclusive, ``until`` exclusive.
    ``entity_id`` narrows to the events about one refund, payment or endpoint."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    entity_id: str | None = None

    def validated(self) -> ActivityFilter:
        actor = (self.actor or "").strip() or None
        action = (self.action or "").strip() or None
        entity_id = (self.entity_id or "").strip() or None
        since = utc(self.since) if self.since is not None else None
        until = utc(self.until) if self.until is not None else None
        if since is not None and until is not None and since >= until:
            raise InputError("The start of the time range is not before its end.")
        return replace(
            self, actor=actor, action=action, since=since, until=until, entity_id=entity_id
        )


def action_title(action: str) -> str:
    """``Refund approved`` for ``refund.approve``; an unknown action as written."""
    return ACTION_TITLES.get(action, action)


def _row(e: AuditEvent) -> ActivityRow:
    try:
        details = json.loads(e.details) if e.details else {}
    except ValueError:  # written by hand or by an older copy: show it rather than fail
        details = {"text": e.details}
    if not isinstance(details, dict):
        details = {"value": details}
    return ActivityRow(
        id=e.id,
        at=utc(e.at),
        actor=e.actor,
        action=e.action,
        entity_type=e.entity_type,
        entity_id=e.entity_id,
        details=details,
        client=e.client,
    )


def page(
    session: Session,
    f: ActivityFilter,
    after: tuple[datetime, int] | None = None,
    limit: int = PAGE_SIZE,
) -> list[ActivityRow]:
    """One page of audit events matching ``f``, newest first, after ``after`` (from
    ``ActivityRow.cursor``; None for the first page)."""
    f = f.validated()
    if limit <= 0:
        raise InputError("A page needs at least one row.")
    stmt = select(AuditEvent)
    if f.actor:
        stmt = stmt.where(AuditEvent.actor == f.actor)
    if f.action:
        if f.action.endswith("."):
            stmt = stmt.where(AuditEvent.action.startswith(f.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == f.action)
    if f.entity_id:
        stmt = stmt.where(AuditEvent.entity_id == f.entity_id)
    if f.since is not None:
        stmt = stmt.where(AuditEvent.at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AuditEvent.at < f.until)
    if after is not None:
        stmt = stmt.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(utc(after[0]), after[1]))
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    return [_row(e) for e in session.scalars(stmt)]


def actors(session: Session) -> list[str]:
    """The people (and service actors) that appear in the log, alphabetically."""
    stmt = select(AuditEvent.actor).distinct().order_by(AuditEvent.actor).limit(MAX_CHOICES)
    return list(session.scalars(stmt))


def actions(session: Session) -> list[str]:
    """The actions that appear in the log, alphabetically."""
    stmt = select(AuditEvent.action).distinct().order_by(AuditEvent.action).limit(MAX_CHOICES)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class LogPage:
    """A first page of the log, with the filter lists' choices when they were asked for."""

    filter: ActivityFilter
    rows: list[ActivityRow]
    actors: list[str] | None
    actions: list[str] | None


def first_page(db: Database, f: ActivityFilter, *, choices: bool) -> LogPage:
    """The first page of ``f`` in a session of its own; with ``choices``, the actors and
    actions the filter lists offer."""
    with db.read() as session:
        rows = page(session, f)
        found_actors = actors(session) if choices else None
        found_actions = actions(session) if choices else None
    return LogPage(f, rows, found_actors, found_actions)


def page_after(db: Database, f: ActivityFilter, after: tuple[datetime, int]) -> list[ActivityRow]:
    """The page of ``f`` after ``after`` (``ActivityRow.cursor``), in a session of its own."""
    with db.read() as session:
        return page(session, f, after=after)
