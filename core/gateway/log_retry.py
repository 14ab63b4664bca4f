"""Retrying a gateway's own webhook logs. The gateway delivers them, not Paydesk's dispatcher, so
a retry asks the gateway to deliver one again (``POST /webhooks/{id}/retry``) and changes
nothing locally: the log's new status arrives with the next sync.

``refusal`` says why a gateway log cannot be retried from this copy (the detail pane disables
Retry with that sentence); ``forward`` sends one request per log, at most ``MAX_PARALLEL`` at a
time, each worker with its own client; ``forward_audited`` also records one ``webhook.retry``
audit event per log the gateway accepted and raises one sentence for any it did not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from core.access import audit
from core.context import Context
from core.errors import PaydeskError, Refused
from core.gateway import secrets
from core.gateway.capabilities import Capabilities
from core.gateway.client import GatewayClient
from core.gateway.errors import GatewayError, GatewayServerError
from core.store.models import GatewayConnection, WebhookLog

# Requests in flight at once: enough to get through a bulk retry, few enough not to flood the
# gateway's API (it rate-limits merchants).
MAX_PARALLEL = 4

# Opens a client for a connection (url, API key, secret); tests may pass their own.
ClientFactory = Callable[[str, str, str], GatewayClient]


def _default_client(url: str, key: str, secret: str) -> GatewayClient:
    return GatewayClient(url, key, secret)


@dataclass(frozen=True)
class Target:
    """One gateway log to retry: Paydesk's id and the gateway's own."""

    log_id: str
    gateway: str
    gateway_log_id: str
    previous_status: str = ""


@dataclass
class Forwarded:
    """What came of asking the gateways: accepted logs with the status each gateway reports,
    and the ones not sent (refused here) or not accepted (an error), each with its reason."""

    sent: dict[str, str] = field(default_factory=dict)
    errors: dict[str, PaydeskError] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        """For the bulk retry's audit event."""
        out: dict[str, Any] = {"forwarded": len(self.sent)}
        if self.errors:
            out["not_forwarded"] = len(self.errors)
            out["reason"] = str(next(iter(self.errors.values())))
        return out

    def raise_if_failed(self, retried: int | None = None) -> None:
        """Raise the one error when one log was asked for; otherwise one sentence counting
        what did not go, with the first reason."""
        if not self.errors:
            return
        first = next(iter(self.errors.values()))
        if len(self.targets) == 1 and retried is None:
            raise first
        done = f"{retried:,} webhook logs were retried; " if retried is not None else ""
        raise GatewayError(
            f"{done}{len(self.errors):,} gateway logs were not: {str(first).rstrip('.')}."
        )


def connection_refusal(row: GatewayConnection | None, name: str) -> str | None:
    """Why logs of this connection cannot be retried from this copy; None when they can."""
    if row is None or row.removed:
        return (
            f"The gateway connection {name} was removed; its logs can no longer be retried "
            "from Paydesk."
        )
    if not Capabilities.from_json(row.capabilities).retry_route:
        return (
            f"The gateway of {name} has no retry route (POST /webhooks/{{id}}/retry); "
            "it retries its deliveries on its own schedule."
        )
    if not secrets.read(name):
        return (
            f"This copy does not hold the secret of {name}; store it in the keyring "
            f"(gateways add) or set {secrets.env_var(name)} to retry its logs."
        )
    return None


def refusal(session: Session, log: WebhookLog) -> str | None:
    """Why this gateway log cannot be retried; None when it can (or it is Paydesk's own)."""
    if log.gateway is None:
        return None
    if not log.gateway_log_id:
        return f"{log.id} carries no id of {log.gateway}'s log; it cannot be retried there."
    return connection_refusal(session.get(GatewayConnection, log.gateway), log.gateway)


def targets(session: Session, conditions: Sequence[ColumnElement[bool]]) -> list[Target]:
    """The gateway logs a filter's conditions match (what bulk retry forwards)."""
    rows = session.execute(
        select(WebhookLog.id, WebhookLog.gateway, WebhookLog.gateway_log_id, WebhookLog.status)
        .where(*conditions, WebhookLog.gateway.is_not(None))
        .order_by(WebhookLog.created_at, WebhookLog.id)
    )
    return [Target(r[0], r[1] or "", r[2] or "", r[3]) for r in rows]


def _send(
    client_factory: ClientFactory, url: str, key: str, secret: str, chunk: list[Target]
) -> list[tuple[Target, str | PaydeskError]]:
    out: list[tuple[Target, str | PaydeskError]] = []
    with client_factory(url, key, secret) as client:
        for t in chunk:
            try:
                out.append((t, client.retry_webhook(t.gateway_log_id)))
            except GatewayServerError as exc:
                # The client's sentence promises a later try; a manual retry gets none.
                said = str(exc).replace("; Paydesk tries again later.", "")
                out.append(
                    (t, GatewayServerError(f"{said.rstrip('.')}; {t.log_id} was not retried."))
                )
            except PaydeskError as exc:
                out.append((t, exc))
    return out


def forward(
    ctx: Context, found: Sequence[Target], *, client_factory: ClientFactory = _default_client
) -> Forwarded:
    """Ask each log's gateway to deliver it again: one call per log, ``MAX_PARALLEL`` at once.
    Logs of a connection that cannot be used (``connection_refusal``) are not sent."""
    result = Forwarded(targets={t.log_id: t for t in found})
    by_name: dict[str, list[Target]] = {}
    for t in found:
        by_name.setdefault(t.gateway, []).append(t)
    for name, group in by_name.items():
        with ctx.db.read() as session:
            row = session.get(GatewayConnection, name)
            why = connection_refusal(row, name)
            url, key = (row.url, row.api_key) if row is not None else ("", "")
        secret = secrets.read(name) if why is None else None
        if why is not None or not secret:
            for t in group:
                result.errors[t.log_id] = Refused(
                    why or f"This copy does not hold the secret of {name}."
                )
            continue
        missing = [t for t in group if not t.gateway_log_id]
        for t in missing:
            result.errors[t.log_id] = Refused(f"{t.log_id} carries no id of {name}'s log.")
        group = [t for t in group if t.gateway_log_id]
        chunks = [group[i::MAX_PARALLEL] for i in range(MAX_PARALLEL) if group[i::MAX_PARALLEL]]
        with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
            for done in pool.map(partial(_send, client_factory, url, key, secret), chunks):
                for t, outcome in done:
                    if isinstance(outcome, str):
                        result.sent[t.log_id] = outcome
                    else:
                        result.errors[t.log_id] = outcome
    return result


def forward_audited(
    ctx: Context,
    actor: str,
    found: Sequence[Target],
    *,
    client_factory: ClientFactory = _default_client,
) -> Forwarded:
    """``forward``, then one ``webhook.retry`` audit event for each log the gateway accepted
    (what was asked and what it answered); raises if any was not accepted."""
    result = forward(ctx, found, client_factory=client_factory)
    if result.sent:
        with ctx.db.write() as session:
            now = ctx.clock.now()
            for log_id, status in result.sent.items():
                t = result.targets[log_id]
                audit.record(
                    session,
                    at=now,
                    actor=actor,
                    action="webhook.retry",
                    entity_type="webhook_log",
                    entity_id=log_id,
                    details={
                        "previous_status": t.previous_status,
                        "gateway": t.gateway,
                        "gateway_log_id": t.gateway_log_id,
                        "request": f"POST /webhooks/{t.gateway_log_id}/retry",
                        "gateway_status": status,
                    },
                    client=ctx.client_id,
                )
    result.raise_if_failed()
    return result
