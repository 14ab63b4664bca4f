"""Webhook deliveries as people see and handle them: the queries behind the Webhooks view and
the ``webhooks``/``merchants`` commands, and the person-facing actions.

Every action takes the acting person explicitly, asks ``roles.require``, runs as one
transaction with its audit event, and announces its change (``notify.emit``) so that the
dispatcher wakes and open views refresh. Bad input raises an ``InputError`` with one sentence
before anything is written.

Actions: ``retry`` (one or more logs, all or nothing: a new round of the schedule, due now,
history kept; a gateway's logs asked of their gateway), ``bulk_plan`` + ``run_bulk_retry`` /
``bulk_retry`` (what it retries and leaves out, then one set-based UPDATE and the gateway's
logs one call each; ``core.webhooks.retry_plan``), ``send_test_event``. Queries: ``page``
(keyset on created_at, id), ``count_matching``, ``detail`` (payload, attempt timeline, why
Retry is refused). The endpoints (``set_endpoint``, ``enable_endpoint``, ``disable_endpoint``,
``reveal_secret``, ``endpoints``/``endpoint``, ``endpoint_health``) live in
``core.webhooks.endpoints`` and are named here too.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, text, tuple_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from core.access import audit, roles
from core.clock import utc
from core.context import Context
from core.errors import Conflict, InputError, NotFound, Refused
from core.gateway import log_retry
from core.gateway.errors import GatewayError
from core.payments.queries import iso
from core.store import notify
from core.store.models import WEBHOOK_RETRYING, Merchant, WebhookAttempt, WebhookLog
from core.webhooks import retry_plan
from core.webhooks.endpoints import Endpoint as Endpoint
from core.webhooks.endpoints import EndpointHealth as EndpointHealth
from core.webhooks.endpoints import _merchant
from core.webhooks.endpoints import disable_endpoint as disable_endpoint
from core.webhooks.endpoints import enable_endpoint as enable_endpoint
from core.webhooks.endpoints import endpoint as endpoint
from core.webhooks.endpoints import endpoint_health as endpoint_health
from core.webhooks.endpoints import endpoints as endpoints
from core.webhooks.endpoints import reveal_secret as reveal_secret
from core.webhooks.endpoints import set_endpoint as set_endpoint
from core.webhooks.endpoints import validate_url as validate_url
from core.webhooks.events import enqueue
from core.webhooks.retry_plan import BulkOutcome, RetryPlan, plural

if TYPE_CHECKING:
    from core.overview.links import WebhookLink

STATUSES = ("pending", "success", "failed")
# An attempt succeeded when the endpoint answered 2xx; anything else (or no answer) failed.
ATTEMPT_OUTCOMES = ("success", "failure")
# What bulk retry may pick up: a delivered log is never sent again by a filter.
RETRYABLE = ("failed", "pending")
PAGE_SIZE = 200
TEST_EVENT = "test.ping"
# What a test event says (migration 0005's paydesk_enqueue_webhook checks it word for word).
TEST_MESSAGE = "A test event sent from Paydesk."


# -- filters and rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookFilter:
    """What a person narrowed the list to. ``search`` is a log id (``msg_…``) or the id of the
    payment or refund the event is about.

    ``failing``: deliveries failing now, as the dashboard counts them (``failed`` ones plus
    ``pending`` ones whose latest attempt failed). ``attempted_from``/``attempted_to``
    (half-open) and ``attempt_outcome`` (``success``: 2xx, ``failure``: anything else or no
    answer): deliveries with at least one such attempt in that window."""

    status: str | None = None
    merchant_id: str | None = None
    event: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    search: str | None = None
    failing: bool = False
    attempted_from: datetime | None = None
    attempted_to: datetime | None = None
    attempt_outcome: str | None = None

    def validated(self) -> WebhookFilter:
        """The same filter, tidied; InputError for a status or time range that cannot be."""
        if self.status and self.status not in STATUSES:
            raise InputError(
                f"{self.status!r} is not a delivery status; use one of {', '.join(STATUSES)}."
            )
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise InputError("The start of the time range is after its end.")
        if self.attempted_from and self.attempted_to and self.attempted_from > self.attempted_to:
            raise InputError("The start of the attempt time range is after its end.")
        if self.attempt_outcome and self.attempt_outcome not in ATTEMPT_OUTCOMES:
            raise InputError(
                f"{self.attempt_outcome!r} is not an attempt outcome; use success or failure."
            )
        return replace(
            self,
            search=(self.search or "").strip() or None,
            merchant_id=(self.merchant_id or "").strip() or None,
            event=(self.event or "").strip() or None,
        )

    def describe(self) -> dict[str, Any]:
        """The filter as plain values (audit details, CLI output)."""
        return {k: iso(v) if isinstance(v, datetime) else v for k, v in asdict(self).items() if v}

    @property
    def narrows_attempts(self) -> bool:
        """Whether it narrows by attempts (window or outcome), which the view's combos
        cannot show."""
        return bool(self.attempted_from or self.attempted_to or self.attempt_outcome)


def filter_for_link(link: WebhookLink) -> WebhookFilter:
    """The filter that lists exactly what a dashboard ``WebhookLink`` counted."""
    return WebhookFilter(
        status=link.status,
        merchant_id=link.merchant_id,
        failing=link.failing,
        attempted_from=link.attempted_from,
        attempted_to=link.attempted_to,
        attempt_outcome=link.attempt_outcome,
    )


class WebhookRow(NamedTuple):
    """One line of the Webhooks view."""

    id: str
    created_at: datetime
    merchant_id: str
    event: str
    status: str
    attempts: int
    response_code: int | None
    next_retry_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    entity_id: str | None
    gateway: str | None = None  # the connection it was synced from; None: Paydesk's own

    def cursor(self) -> tuple[datetime, str]:
        """The key to pass as ``after`` for the next page."""
        return (self.created_at, self.id)


_COLUMNS = (
    WebhookLog.id,
    WebhookLog.created_at,
    WebhookLog.merchant_id,
    WebhookLog.event,
    WebhookLog.status,
    WebhookLog.attempts,
    WebhookLog.response_code,
    WebhookLog.next_retry_at,
    WebhookLog.last_attempt_at,
    WebhookLog.last_error,
    WebhookLog.entity_id,
    WebhookLog.gateway,
)


def _conditions(f: WebhookFilter) -> list[ColumnElement[bool]]:
    cond: list[ColumnElement[bool]] = []
    if f.status:
        cond.append(WebhookLog.status == f.status)
    if f.merchant_id:
        cond.append(WebhookLog.merchant_id == f.merchant_id)
    if f.event:
        cond.append(WebhookLog.event == f.event)
    if f.created_from:
        cond.append(WebhookLog.created_at >= f.created_from)
    if f.created_to:
        cond.append(WebhookLog.created_at < f.created_to)
    if f.search:
        # Each kind of id has its own index; an OR of both would defeat the keyset order.
        if f.search.startswith("msg_"):
            cond.append(WebhookLog.id == f.search)
        else:
            cond.append(WebhookLog.entity_id == f.search)
    if f.failing:
        # The dashboard's definition, word for word, so the tile and the list agree.
        cond.append(or_(WebhookLog.status == "failed", text(f"({WEBHOOK_RETRYING})")))
    if f.narrows_attempts:
        cond.append(WebhookLog.id.in_(_attempted(f)))
    return cond


def _attempted(f: WebhookFilter) -> Select[Any]:
    """Ids of logs with an attempt in the filter's window and outcome. An IN over the
    attempts' time index reads only that window's attempts, not every log's history."""
    ok = and_(WebhookAttempt.response_code >= 200, WebhookAttempt.response_code < 300)
    cond: list[ColumnElement[bool]] = []
    if f.attempted_from:
        cond.append(WebhookAttempt.started_at >= f.attempted_from)
    if f.attempted_to:
        cond.append(WebhookAttempt.started_at < f.attempted_to)
    if f.attempt_outcome == "success":
        cond.append(ok)
    elif f.attempt_outcome == "failure":
        cond.append(or_(WebhookAttempt.response_code.is_(None), ~ok))
    return select(WebhookAttempt.webhook_log_id).where(*cond)


def build_query(f: WebhookFilter) -> Select[*tuple[Any, ...]]:
    """The filtered query, newest first, without a page bound."""
    return (
        select(*_COLUMNS)
        .where(*_conditions(f.validated()))
        .order_by(WebhookLog.created_at.desc(), WebhookLog.id.desc())
    )


def page(
    session: Session,
    f: WebhookFilter,
    after: tuple[datetime, str] | None = None,
    limit: int = PAGE_SIZE,
) -> list[WebhookRow]:
    """One page of logs, newest first, after the cursor ``after`` (``WebhookRow.cursor()``)."""
    stmt = build_query(f)
    if after is not None:
        stmt = stmt.where(tuple_(WebhookLog.created_at, WebhookLog.id) < tuple_(*after))
    return [WebhookRow._make(r) for r in session.execute(stmt.limit(limit))]


def rows_by_id(session: Session, log_ids: list[str]) -> dict[str, WebhookRow]:
    """Fresh rows for these ids (a view refreshing the rows a change notice named)."""
    if not log_ids:
        return {}
    rows = session.execute(select(*_COLUMNS).where(WebhookLog.id.in_(log_ids)))
    return {r.id: WebhookRow(*r) for r in rows}


def count_matching(session: Session, f: WebhookFilter) -> int:
    """How many logs ``f`` matches; for bulk retry, what it would pick up (see ``bulk_retry``)."""
    f = _bulk_filter(f)
    return int(
        session.scalar(select(func.count()).select_from(WebhookLog).where(*_conditions(f))) or 0
    )


def events(session: Session) -> list[str]:
    """The event names present, for the view's filter."""
    return list(session.scalars(select(WebhookLog.event).distinct().order_by(WebhookLog.event)))


# -- detail ----------------------------------------------------------------------------------


class AttemptRow(NamedTuple):
    number: int
    started_at: datetime
    duration_ms: int | None
    url: str
    response_code: int | None
    response_body: str | None
    error: str | None
    trigger: str
    actor: str | None
    client: str | None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.response_code is not None
            and 200 <= self.response_code < 300
        )

    @property
    def summary(self) -> str:
        """The response code with its meaning, or the error sentence."""
        if self.error:
            return self.error
        return f"HTTP {self.response_code}"


@dataclass(frozen=True)
class WebhookDetail:
    """One log as the detail pane shows it."""

    row: WebhookRow
    payload: str  # the exact bytes sent, as text
    merchant_name: str
    webhook_url: str | None
    endpoint_enabled: bool
    response_body: str | None
    round_start: int
    attempts: list[AttemptRow]
    retry_refusal: str | None  # why Retry is disabled, or None when it is allowed

    @property
    def payload_pretty(self) -> str:
        """The payload formatted for reading (the original text if it is not JSON)."""
        try:
            return json.dumps(
                json.loads(self.payload), indent=2, sort_keys=True, ensure_ascii=False
            )
        except ValueError:
            return self.payload


def detail(session: Session, log_id: str, now: datetime | None = None) -> WebhookDetail:
    """A log with its payload and its attempts, oldest first. NotFound for an unknown id."""
    log = session.get(WebhookLog, log_id.strip())
    if log is None:
        raise NotFound(f"There is no webhook log {log_id.strip()}.")
    merchant = session.get(Merchant, log.merchant_id)
    attempts = [
        AttemptRow._make(r)
        for r in session.execute(
            select(
                WebhookAttempt.number,
                WebhookAttempt.started_at,
                WebhookAttempt.duration_ms,
                WebhookAttempt.url,
                WebhookAttempt.response_code,
                WebhookAttempt.response_body,
                WebhookAttempt.error,
                WebhookAttempt.trigger,
                WebhookAttempt.actor,
                WebhookAttempt.client,
            )
            .where(WebhookAttempt.webhook_log_id == log.id)
            .order_by(WebhookAttempt.number, WebhookAttempt.id)
        )
    ]
    row = WebhookRow(*(getattr(log, c.key) for c in _COLUMNS))
    return WebhookDetail(
        row=row,
        payload=log.payload,
        merchant_name=merchant.name if merchant else log.merchant_id,
        webhook_url=merchant.webhook_url if merchant else None,
        endpoint_enabled=bool(merchant and merchant.webhook_enabled),
        response_body=log.response_body,
        round_start=log.round_start,
        attempts=attempts,
        retry_refusal=retry_refusal(log, merchant, now, session),
    )


def retry_refusal(
    log: WebhookLog, merchant: Merchant | None, now: datetime | None, session: Session
) -> str | None:
    """Why this log cannot be retried now, in one sentence; None when it can. A gateway's log
    is retried by its gateway (core.gateway.log_retry), never by Paydesk's endpoint rules."""
    if log.status == "success":
        when = f" on {log.last_attempt_at:%Y-%m-%d %H:%M} UTC" if log.last_attempt_at else ""
        return f"{log.id} was delivered{when}; there is nothing to retry."
    if log.gateway is not None:
        return log_retry.refusal(session, log)
    if now is not None and log.lease_expires_at is not None and utc(log.lease_expires_at) > now:
        return f"{log.id} is being delivered right now; look again in a moment."
    if merchant is None or not merchant.webhook_url:
        who = merchant.name if merchant is not None else f"Merchant {log.merchant_id}"
        return f"{who} has no webhook endpoint; an admin can set one."
    if not merchant.webhook_enabled:
        return (
            f"The endpoint of {merchant.name} is disabled; enable it first "
            "(its deliveries wait until then)."
        )
    return None


# -- retries ---------------------------------------------------------------------------------


def _checked_logs(session: Session, ids: list[str], now: datetime) -> dict[str, WebhookLog]:
    """The named logs, each checked: NotFound for an unknown id, Refused (Conflict for one
    being delivered) with the first reason one of them cannot be retried."""
    logs = {
        log.id: log for log in session.scalars(select(WebhookLog).where(WebhookLog.id.in_(ids)))
    }
    missing = [i for i in ids if i not in logs]
    if missing:
        raise NotFound(f"There is no webhook log {', '.join(missing)}.")
    merchant_ids = {log.merchant_id for log in logs.values()}
    merchants = {
        m.id: m for m in session.scalars(select(Merchant).where(Merchant.id.in_(merchant_ids)))
    }
    for log_id in ids:
        log = logs[log_id]
        refusal = retry_refusal(log, merchants.get(log.merchant_id), now, session)
        if refusal:
            kind = Conflict if "right now" in refusal else Refused
            raise kind(refusal)
    return logs


def retry(ctx: Context, actor: str, log_ids: list[str]) -> list[str]:
    """Start a new round for each log: pending, due now, attempt history kept, the next
    attempt marked as a manual retry by ``actor``; returns the ids.

    All or nothing: every log is checked first (role, endpoint, and for a gateway's log its
    retry route, the secret this copy holds and the gateway's own id), so a refusal changes
    nothing and sends nothing. Then a gateway's logs are asked of their gateway, and only when
    each was accepted are Paydesk's own committed; a gateway that does not accept one leaves
    the own logs as they were (what it did accept is audited and said)."""
    ids = list(dict.fromkeys(i.strip() for i in log_ids if i and i.strip()))
    if not ids:
        raise InputError("Name at least one webhook log to retry.")
    with ctx.db.read() as session:
        roles.require(session, actor, "webhook.retry")
        logs = _checked_logs(session, ids, ctx.clock.now())
        at_gateway = [
            log_retry.Target(i, g.gateway or "", g.gateway_log_id or "", g.status)
            for i, g in ((i, logs[i]) for i in ids if logs[i].gateway is not None)
        ]
        checked = log_retry.check(session, at_gateway)
        own = [i for i in ids if logs[i].gateway is None]
    if checked.refused:
        raise Refused(checked.first_refusal() or "")
    if at_gateway:
        forwarded = log_retry.forward(ctx, at_gateway, checked=checked)
        log_retry.record(ctx, actor, forwarded)
        if forwarded.errors:
            if own or len(at_gateway) > 1:
                sent = len(forwarded.sent)
                first = str(next(iter(forwarded.errors.values()))).rstrip(".")
                raise GatewayError(
                    f"{first}. Nothing else was retried"
                    + (f" except {plural(sent)} the gateway accepted." if sent else ".")
                )
            forwarded.raise_if_failed()
    if own:
        with ctx.db.write() as session:
            roles.require(session, actor, "webhook.retry")
            now = ctx.clock.now()
            logs = _checked_logs(session, own, now)
            for log_id in own:
                log = logs[log_id]
                previous = log.status
                log.status = "pending"
                log.next_retry_at = now
                log.round_start = log.attempts
                log.next_trigger = "manual"
                log.next_actor = actor
                log.lease_owner = None
                log.lease_expires_at = None
                log.updated_at = now
                audit.record(
                    session,
                    at=now,
                    actor=actor,
                    action="webhook.retry",
                    entity_type="webhook_log",
                    entity_id=log_id,
                    details={"previous_status": previous, "attempts": log.attempts},
                    client=ctx.client_id,
                )
            notify.emit(session, "webhook_logs", own, "pending", ctx.client_id)
    return ids


def _bulk_filter(f: WebhookFilter) -> WebhookFilter:
    f = f.validated()
    if f.status is None:
        # Failing deliveries are failed or pending ones already: nothing to narrow.
        return f if f.failing else replace(f, status="failed")
    if f.status not in RETRYABLE:
        raise InputError("Only failed or pending deliveries can be retried.")
    return f


def bulk_plan(session: Session, f: WebhookFilter, now: datetime) -> RetryPlan:
    """What ``bulk_retry`` of ``f`` would do now: what it retries, what it leaves out and why
    (``core.webhooks.retry_plan``). Shown before it runs, by the dialog and the command."""
    return retry_plan.plan(session, _conditions(_bulk_filter(f)), now)


def read_bulk_plan(ctx: Context, f: WebhookFilter) -> RetryPlan:
    """``bulk_plan`` of ``f`` as of now, in a read of its own (the dialog runs it in the pool,
    the command before it acts)."""
    with ctx.db.read() as session:
        return bulk_plan(session, f, ctx.clock.now())


def bulk_retry(ctx: Context, actor: str, f: WebhookFilter) -> int:
    """``run_bulk_retry`` and how many it retried; raises one sentence, after recording the
    rest, when some gateway logs were asked for and not accepted."""
    outcome = run_bulk_retry(ctx, actor, f)
    outcome.raise_if_failed()
    return outcome.retried


def run_bulk_retry(
    ctx: Context,
    actor: str,
    f: WebhookFilter,
    *,
    progress: log_retry.Progress | None = None,
    cancel: threading.Event | None = None,
) -> BulkOutcome:
    """Retry what ``bulk_plan`` of ``f`` says (status failed unless it says pending, or
    ``failing``): Paydesk's own logs in ONE set-based UPDATE with its audit event (a new
    round, due now), leaving out merchants without an endpoint and logs being delivered at
    this moment; then a gateway's logs, one call each, ``log_retry.MAX_PARALLEL`` at a time,
    ``progress(done, total)`` after each, no further call once ``cancel`` is set. Nothing is
    written when nothing is retried."""
    f = _bulk_filter(f)
    with ctx.db.read() as session:
        roles.require(session, actor, "webhook.retry")
        plan = retry_plan.plan(session, _conditions(f), ctx.clock.now())
        checked = log_retry.check(session, plan.gateway)
    with ctx.db.write() as session:
        roles.require(session, actor, "webhook.retry")
        now = ctx.clock.now()
        result = session.execute(
            update(WebhookLog)
            .where(
                *_conditions(f),
                WebhookLog.gateway.is_(None),
                retry_plan.with_endpoint(),
                or_(WebhookLog.lease_expires_at.is_(None), WebhookLog.lease_expires_at < now),
            )
            .values(
                status="pending",
                next_retry_at=now,
                round_start=WebhookLog.attempts,
                next_trigger="manual",
                next_actor=actor,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        own = int(cast(CursorResult[Any], result).rowcount or 0)
        if own == 0 and not plan.gateway:
            session.rollback()
            return BulkOutcome(plan, 0)
        audit.record(
            session,
            at=now,
            actor=actor,
            action="webhook.bulk_retry",
            entity_type="webhook_log",
            entity_id=None,
            details={
                "filter": f.describe(),
                "count": own + len(plan.gateway),
                **({"own": own} if plan.gateway else {}),
                **plan.details(),
            },
            client=ctx.client_id,
        )
        # Too many ids for one notice: "webhook logs changed" wakes dispatchers and views.
        if own:
            notify.emit(session, "webhook_logs", (), "pending", ctx.client_id)
    forwarded = log_retry.forward(
        ctx, plan.gateway, checked=checked, progress=progress, cancel=cancel
    )
    log_retry.record(ctx, actor, forwarded, bulk=True)
    return BulkOutcome(plan, own, forwarded)


def send_test_event(ctx: Context, actor: str, merchant_id: str) -> str:
    """Queue a ``test.ping`` for the merchant's endpoint; returns the new log's id. The
    dispatcher sends it at once (it is woken by the notice)."""
    with ctx.db.write() as session:
        roles.require(session, actor, "webhook.test")
        merchant = _merchant(session, merchant_id)
        if not merchant.webhook_url:
            raise Refused(f"{merchant.name} has no webhook endpoint; an admin can set one.")
        if not merchant.webhook_enabled:
            raise Refused(f"The endpoint of {merchant.name} is disabled; enable it first.")
        now = ctx.clock.now()
        log = enqueue(
            session,
            merchant_id=merchant.id,
            event=TEST_EVENT,
            data={"merchant_id": merchant.id, "message": TEST_MESSAGE},
            entity_id=None,
            now=now,
            origin=ctx.client_id,
            next_trigger="test",
            next_actor=actor,
        )
        audit.record(
            session,
            at=now,
            actor=actor,
            action="webhook.test",
            entity_type="merchant",
            entity_id=merchant.id,
            details={"log_id": log.id, "url": merchant.webhook_url},
            client=ctx.client_id,
        )
        return log.id
