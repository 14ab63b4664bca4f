"""What the Webhooks list reads, each in one call that opens and closes its own session: what
the person may do and the names its filter lists offer, the first page of a filter, the page
after a cursor, the logs a change notice names (and, when the filter may have gained rows, its
first page again), one log's detail, the first endpoint with a problem, the endpoints list, an
endpoint with its health, and how many logs a bulk retry would touch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.access import roles
from core.context import Context
from core.errors import PaydeskError
from core.payments import queries as payments
from core.store.db import Database
from core.webhooks import deliveries
from core.webhooks.deliveries import (
    PAGE_SIZE,
    Endpoint,
    EndpointHealth,
    WebhookDetail,
    WebhookFilter,
    WebhookRow,
)

# rows_by_id reads at most this many ids per statement (an IN list stays small).
ID_CHUNK = 500


@dataclass(frozen=True)
class LogsSetup:
    """What the list needs once: what this person may do and names for the filter lists."""

    may_retry: bool
    may_test: bool
    may_manage: bool
    refusal: str | None  # why this person cannot use Paydesk at all
    merchants: dict[str, str]
    events: list[str]
    # (merchant id, name) of the endpoints a test event can go to
    testable: list[tuple[str, str]]


@dataclass(frozen=True)
class LogsPage:
    filter: WebhookFilter
    rows: list[WebhookRow]
    setup: LogsSetup | None


@dataclass(frozen=True)
class LogsChanges:
    changed: list[WebhookRow]  # the named logs that exist, read again
    first_page: list[WebhookRow] | None  # the filter's first page, when asked for


def _setup(session: Session, actor: str) -> LogsSetup:
    refusal = None
    try:
        roles.require(session, actor, "view")
    except PaydeskError as exc:
        refusal = exc.message
    testable = [
        (e.merchant_id, e.name)
        for e in deliveries.endpoints(session)
        if e.webhook_url and e.webhook_enabled
    ]
    return LogsSetup(
        may_retry=roles.may(session, actor, "webhook.retry"),
        may_test=roles.may(session, actor, "webhook.test"),
        may_manage=roles.may(session, actor, "endpoint.manage"),
        refusal=refusal,
        merchants=payments.merchant_names(session),
        events=deliveries.events(session),
        testable=testable,
    )


def _by_id(session: Session, ids: Sequence[str]) -> list[WebhookRow]:
    wanted = list(ids)
    found: list[WebhookRow] = []
    for start in range(0, len(wanted), ID_CHUNK):
        found.extend(deliveries.rows_by_id(session, wanted[start : start + ID_CHUNK]).values())
    return found


def first_page(db: Database, f: WebhookFilter, *, setup_for: str | None = None) -> LogsPage:
    """The first page of ``f``; with ``setup_for``, that actor's setup read alongside."""
    with db.read() as session:
        rows = deliveries.page(session, f, limit=PAGE_SIZE)
        setup = _setup(session, setup_for) if setup_for is not None else None
    return LogsPage(f, rows, setup)


def page_after(db: Database, f: WebhookFilter, after: tuple[datetime, str]) -> list[WebhookRow]:
    with db.read() as session:
        return deliveries.page(session, f, after=after, limit=PAGE_SIZE)


def changes(db: Database, ids: Sequence[str], f: WebhookFilter, *, first_page: bool) -> LogsChanges:
    with db.read() as session:
        changed = _by_id(session, sorted(ids))
        first = deliveries.page(session, f, limit=PAGE_SIZE) if first_page else None
    return LogsChanges(changed, first)


def logs_by_id(db: Database, ids: Sequence[str]) -> list[WebhookRow]:
    with db.read() as session:
        return _by_id(session, ids)


def retry_and_read(ctx: Context, actor: str, log_id: str) -> list[WebhookRow]:
    """Retry one log (``deliveries.retry``) and read its row as it now stands."""
    deliveries.retry(ctx, actor, [log_id])
    return logs_by_id(ctx.db, [log_id])


def log_detail(db: Database, log_id: str, now: datetime | None) -> WebhookDetail:
    """One log with its attempts and why Retry is refused, if it is (the lease is not
    considered without ``now``)."""
    with db.read() as session:
        return deliveries.detail(session, log_id, now)


def first_problem_endpoint(db: Database) -> str | None:
    """The merchant of the first endpoint that is disabled or failing, disabled ones first,
    then by name (the dashboard's order); None when every endpoint is well."""
    with db.read() as session:
        problems = [
            e
            for e in deliveries.endpoints(session)
            if e.webhook_url
            and (not e.webhook_enabled or e.failing_since or e.consecutive_failures)
        ]
    problems.sort(key=lambda e: (e.webhook_enabled, e.name, e.merchant_id))
    return problems[0].merchant_id if problems else None


def all_endpoints(db: Database) -> list[Endpoint]:
    with db.read() as session:
        return deliveries.endpoints(session)


def endpoint_name(db: Database, merchant_id: str) -> str:
    with db.read() as session:
        return deliveries.endpoint(session, merchant_id).name


def endpoint_with_health(
    db: Database, merchant_id: str, now: datetime
) -> tuple[Endpoint, EndpointHealth]:
    with db.read() as session:
        return (
            deliveries.endpoint(session, merchant_id),
            deliveries.endpoint_health(session, merchant_id, now),
        )


def count_matching(db: Database, f: WebhookFilter) -> int:
    """How many logs ``f`` selects (what a bulk retry would touch)."""
    with db.read() as session:
        return deliveries.count_matching(session, f)
