"""Merchants' webhook endpoints as people see and manage them: each one's URL, whether it is
enabled (and why not), its health over the last 24 hours and its signing secret (masked), and
the admin actions on them (``set_endpoint``, ``enable_endpoint``, ``disable_endpoint``,
``reveal_secret``). ``core.webhooks.deliveries`` re-exports them (its callers name them there).

Every action takes the acting person explicitly, asks ``roles.require``, runs as one
transaction with its audit event, and announces its change (``notify.emit``). Bad input raises
an ``InputError`` with one sentence before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from core.access import audit, roles
from core.context import Context
from core.errors import InputError, NotFound, Refused
from core.store import notify
from core.store.models import Merchant, WebhookAttempt, WebhookLog
from core.webhooks import secrets as merchant_secrets

MAX_URL = 2000


@dataclass(frozen=True)
class Endpoint:
    """A merchant's webhook endpoint; the secret only masked."""

    merchant_id: str
    name: str
    webhook_url: str | None
    webhook_enabled: bool
    disabled_reason: str | None
    secret_masked: str | None
    secret_rotated_at: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    last_success_at: datetime | None


def _endpoint(m: Merchant, mask: str | None) -> Endpoint:
    return Endpoint(
        merchant_id=m.id,
        name=m.name,
        webhook_url=m.webhook_url,
        webhook_enabled=bool(m.webhook_enabled),
        disabled_reason=m.webhook_disabled_reason,
        secret_masked=mask,
        secret_rotated_at=m.webhook_secret_rotated_at,
        consecutive_failures=m.webhook_consecutive_failures or 0,
        failing_since=m.webhook_failing_since,
        last_success_at=m.webhook_last_success_at,
    )


def _merchant(session: Session, merchant_id: str) -> Merchant:
    merchant_id = (merchant_id or "").strip()
    merchant = session.get(Merchant, merchant_id) if merchant_id else None
    if merchant is None:
        raise NotFound(f"There is no merchant {merchant_id or '(empty id)'}.")
    return merchant


def endpoints(session: Session) -> list[Endpoint]:
    """Every merchant's endpoint, by name."""
    masks = merchant_secrets.masks(session)
    return [
        _endpoint(m, masks.get(m.id))
        for m in session.scalars(select(Merchant).order_by(Merchant.name, Merchant.id))
    ]


def _endpoint_of(session: Session, merchant: Merchant) -> Endpoint:
    return _endpoint(merchant, merchant_secrets.masks(session, [merchant.id]).get(merchant.id))


def endpoint(session: Session, merchant_id: str) -> Endpoint:
    """One merchant's endpoint; NotFound for an unknown id."""
    return _endpoint_of(session, _merchant(session, merchant_id))


@dataclass(frozen=True)
class EndpointHealth:
    """Attempts to one endpoint over the last 24 hours."""

    attempts: int
    successes: int

    @property
    def success_rate(self) -> float | None:
        """Share of attempts that succeeded (0..1), or None when there were none."""
        return self.successes / self.attempts if self.attempts else None


def endpoint_health(session: Session, merchant_id: str, now: datetime) -> EndpointHealth:
    """How the endpoint did in the 24 hours before ``now``."""
    ok = case(
        (and_(WebhookAttempt.response_code >= 200, WebhookAttempt.response_code < 300), 1),
        else_=0,
    )
    counts: tuple[int, Any] = session.execute(
        select(func.count(), func.coalesce(func.sum(ok), 0))
        .select_from(WebhookAttempt)
        .join(WebhookLog, WebhookLog.id == WebhookAttempt.webhook_log_id)
        .where(
            WebhookLog.merchant_id == merchant_id,
            WebhookAttempt.started_at >= now - timedelta(hours=24),
        )
    ).one()
    total, good = counts
    return EndpointHealth(int(total), int(good))


def validate_url(url: str | None) -> str:
    """An http(s) URL with a host and no spaces, or InputError with one sentence."""
    text = (url or "").strip()
    if not text:
        raise InputError("Give the webhook URL, like https://example.com/webhooks.")
    if any(ch.isspace() for ch in text):
        raise InputError(f"{text!r} is not a webhook URL: it contains spaces.")
    if len(text) > MAX_URL:
        raise InputError(f"The webhook URL is longer than {MAX_URL} characters.")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 — raises ValueError for a port that is not a number
    except ValueError:
        raise InputError(
            f"{text!r} is not a webhook URL: its host or port cannot be read."
        ) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InputError(f"{text!r} is not a webhook URL: it must start with http:// or https://.")
    if not host:
        raise InputError(f"{text!r} is not a webhook URL: it has no host name.")
    return text


def set_endpoint(
    ctx: Context, actor: str, merchant_id: str, url: str, rotate_secret: bool = False
) -> Endpoint:
    """Set the merchant's webhook URL (admin). A merchant without a secret gets one; with
    ``rotate_secret`` a new secret signs from now on and the old one keeps signing alongside
    it for ``signing.ROTATION_GRACE``."""
    url = validate_url(url)
    with ctx.db.write() as session:
        roles.require(session, actor, "endpoint.manage")
        merchant = _merchant(session, merchant_id)
        now = ctx.clock.now()
        previous_url = merchant.webhook_url
        # The secret never passes through this process except when it is made.
        rotated = merchant_secrets.ensure(session, merchant.id, rotate=rotate_secret, at=now)
        merchant = _merchant(session, merchant_id)
        merchant.webhook_url = url
        audit.record(
            session,
            at=now,
            actor=actor,
            action="endpoint.set",
            entity_type="merchant",
            entity_id=merchant.id,
            # Never the secret itself: only that it changed.
            details={"url": url, "previous_url": previous_url, "secret_rotated": rotated},
            client=ctx.client_id,
        )
        notify.emit(session, "merchants", [merchant.id], None, ctx.client_id)
        session.flush()
        return _endpoint_of(session, merchant)


def enable_endpoint(ctx: Context, actor: str, merchant_id: str) -> Endpoint:
    """Enable the endpoint (admin): its waiting deliveries are released at once and its
    failure count starts over."""
    with ctx.db.write() as session:
        roles.require(session, actor, "endpoint.manage")
        merchant = _merchant(session, merchant_id)
        if not merchant.webhook_url:
            raise Refused(f"{merchant.name} has no webhook endpoint; set a URL first.")
        now = ctx.clock.now()
        was = bool(merchant.webhook_enabled)
        merchant.webhook_enabled = True
        merchant.webhook_disabled_reason = None
        # A fresh start: otherwise one failure would disable it again at once.
        merchant.webhook_consecutive_failures = 0
        merchant.webhook_failing_since = None
        audit.record(
            session,
            at=now,
            actor=actor,
            action="endpoint.enable",
            entity_type="merchant",
            entity_id=merchant.id,
            details={"was_enabled": was},
            client=ctx.client_id,
        )
        notify.emit(session, "merchants", [merchant.id], None, ctx.client_id)
        # Its waiting logs are work now: wake the dispatchers.
        notify.emit(session, "webhook_logs", (), "pending", ctx.client_id)
        return _endpoint_of(session, merchant)


def disable_endpoint(
    ctx: Context, actor: str, merchant_id: str, reason: str | None = None
) -> Endpoint:
    """Disable the endpoint (admin): new and due deliveries wait, none is lost."""
    with ctx.db.write() as session:
        roles.require(session, actor, "endpoint.manage")
        merchant = _merchant(session, merchant_id)
        now = ctx.clock.now()
        why = (reason or "").strip() or f"Disabled by {actor} on {now:%Y-%m-%d %H:%M} UTC."
        was = bool(merchant.webhook_enabled)
        merchant.webhook_enabled = False
        merchant.webhook_disabled_reason = why
        audit.record(
            session,
            at=now,
            actor=actor,
            action="endpoint.disable",
            entity_type="merchant",
            entity_id=merchant.id,
            details={"reason": why, "was_enabled": was, "automatic": False},
            client=ctx.client_id,
        )
        notify.emit(session, "merchants", [merchant.id], None, ctx.client_id)
        return _endpoint_of(session, merchant)


def reveal_secret(ctx: Context, actor: str, merchant_id: str) -> str:
    """The merchant's signing secret in full (admin; the reveal is audited, on Postgres by the
    database function that alone can read it)."""
    with ctx.db.write() as session:
        roles.require(session, actor, "endpoint.manage")
        merchant = _merchant(session, merchant_id)
        secret = merchant_secrets.reveal(
            session, merchant.id, actor=actor, client=ctx.client_id, at=ctx.clock.now()
        )
        if not secret:
            raise Refused(f"{merchant.name} has no webhook secret yet; set an endpoint first.")
        return secret
