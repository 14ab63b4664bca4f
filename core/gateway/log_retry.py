"""Retrying a gateway's own webhook logs. The gateway delivers them, not Paydesk's dispatcher, so
a retry asks the gateway to deliver one again (``POST /webhooks/{id}/retry``) and changes
nothing locally: the log's new status arrives with the next sync.

``refusal`` says why a gateway log cannot be retried from this copy (the detail pane disables
Retry with that sentence); ``check`` sorts logs into those that can go (with their connections'
routes, read once) and those that cannot, before anything is sent; ``forward`` sends one
request per log, at most ``MAX_PARALLEL`` at a time, each worker with its own client, reporting
progress and starting no further call once cancelled; ``record`` writes one ``webhook.retry``
audit event per log the gateway accepted; ``forward_audited`` does both and raises one sentence
for any it did not accept.
"""

from __future__ import annotations

import threading
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
    not_sent: list[str] = field(default_factory=list)  # left when a Cancel came
    cancelled: bool = False

    def details(self) -> dict[str, Any]:
        """For the bulk retry's audit event."""
        out: dict[str, Any] = {"forwarded": len(self.sent)}
        if self.not_sent:
            out["cancelled_before_sending"] = len(self.not_sent)
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


@dataclass(frozen=True)
class Route:
    """Where and how to reach one connection's gateway: read once, before anything is sent,
    so a keyring that changes meanwhile cannot make half of an action go."""

    url: str
    key: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Checked:
    """Gateway logs sorted before anything is sent: those that can go (with the routes of
    their connections) and those that cannot, grouped by the sentence saying why."""

    sendable: list[Target]
    routes: dict[str, Route]
    refused: dict[str, list[Target]]

    def first_refusal(self) -> str | None:
        return next(iter(self.refused), None)


def check(session: Session, found: Sequence[Target]) -> Checked:
    """Which of ``found`` this copy can send (route, secret, the gateway's own id) and why
    the others cannot; reads each connection once and sends nothing."""
    routes: dict[str, Route] = {}
    refused: dict[str, list[Target]] = {}
    why_not: dict[str, str | None] = {}
    sendable: list[Target] = []
    for t in found:
        if t.gateway not in why_not:
            row = session.get(GatewayConnection, t.gateway)
            why = connection_refusal(row, t.gateway)
            secret = secrets.read(t.gateway) if why is None else None
            if why is None and row is not None and secret:
                routes[t.gateway] = Route(row.url, row.api_key, secret)
            else:
                why = why or f"This copy does not hold the secret of {t.gateway}."
            why_not[t.gateway] = why
        why = why_not[t.gateway]
        if why is None and not t.gateway_log_id:
            why = f"{t.log_id} carries no id of {t.gateway}'s log; it cannot be retried there."
        if why is None:
            sendable.append(t)
        else:
            refused.setdefault(why, []).append(t)
    return Checked(sendable, routes, refused)


# (done, total): called from the sending threads after each call.
Progress = Callable[[int, int], None]


def _send(
    client_factory: ClientFactory,
    route: Route,
    cancel: threading.Event | None,
    tick: Callable[[], None],
    chunk: list[Target],
) -> list[tuple[Target, str | PaydeskError | None]]:
    """One worker's share, in order; None for a log not sent because of a Cancel."""
    out: list[tuple[Target, str | PaydeskError | None]] = []
    with client_factory(route.url, route.key, route.secret) as client:
        for t in chunk:
            if cancel is not None and cancel.is_set():
                out.append((t, None))
                continue
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
            tick()
    return out


def forward(
    ctx: Context,
    found: Sequence[Target],
    *,
    client_factory: ClientFactory = _default_client,
    checked: Checked | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Forwarded:
    """Ask each log's gateway to deliver it again: one call per log, ``MAX_PARALLEL`` at once.
    Logs of a connection that cannot be used (``connection_refusal``) are not sent; with
    ``checked`` (``check``'s answer, read before anything else was done) its routes are used
    as they were then. ``progress(done, total)`` follows the calls; once ``cancel`` is set no
    further call starts (those already on the wire finish) and the rest are ``not_sent``."""
    result = Forwarded(targets={t.log_id: t for t in found})
    if checked is None:
        with ctx.db.read() as session:
            checked = check(session, found)
    wanted = set(result.targets)
    for why, group in checked.refused.items():
        for t in group:
            if t.log_id in wanted:
                result.errors[t.log_id] = Refused(why)
    sendable = [t for t in checked.sendable if t.log_id in wanted]
    total = len(sendable)
    lock = threading.Lock()
    done = [0]

    def tick() -> None:
        with lock:
            done[0] += 1
            n = done[0]
        if progress is not None:
            progress(n, total)

    by_name: dict[str, list[Target]] = {}
    for t in sendable:
        by_name.setdefault(t.gateway, []).append(t)
    for name, group in by_name.items():
        route = checked.routes[name]
        chunks = [group[i::MAX_PARALLEL] for i in range(MAX_PARALLEL) if group[i::MAX_PARALLEL]]
        with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
            send = partial(_send, client_factory, route, cancel, tick)
            for answers in pool.map(send, chunks):
                for t, outcome in answers:
                    if outcome is None:
                        result.not_sent.append(t.log_id)
                    elif isinstance(outcome, str):
                        result.sent[t.log_id] = outcome
                    else:
                        result.errors[t.log_id] = outcome
    result.cancelled = bool(result.not_sent)
    return result


def record(ctx: Context, actor: str, result: Forwarded, *, bulk: bool = False) -> None:
    """One ``webhook.retry`` audit event for each log the gateway accepted: what was asked
    and what it answered (``bulk``: as part of a bulk retry)."""
    if not result.sent:
        return
    with ctx.db.write() as session:
        now = ctx.clock.now()
        for log_id, status in result.sent.items():
            t = result.targets[log_id]
            details: dict[str, Any] = {
                "previous_status": t.previous_status,
                "gateway": t.gateway,
                "gateway_log_id": t.gateway_log_id,
                "request": f"POST /webhooks/{t.gateway_log_id}/retry",
                "gateway_status": status,
            }
            if bulk:
                details["bulk"] = True
            audit.record(
                session,
                at=now,
                actor=actor,
                action="webhook.retry",
                entity_type="webhook_log",
                entity_id=log_id,
                details=details,
                client=ctx.client_id,
            )


def forward_audited(
    ctx: Context,
    actor: str,
    found: Sequence[Target],
    *,
    client_factory: ClientFactory = _default_client,
    checked: Checked | None = None,
) -> Forwarded:
    """``forward``, then one ``webhook.retry`` audit event for each log the gateway accepted
    (what was asked and what it answered); raises if any was not accepted."""
    result = forward(ctx, found, client_factory=client_factory, checked=checked)
    record(ctx, actor, result)
    result.raise_if_failed()
    return result
