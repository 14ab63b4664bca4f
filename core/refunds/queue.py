"""What the refund queue (the Refunds list) reads, each in one call that opens and closes its
own session: who is acting and the names its filter lists offer, the first page of a filter,
the page after a cursor, the refunds a change notice names (and, when the filter may have
gained rows, its first page again), one refund's detail with what the person may do with it,
and the totals a multi-approve confirms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.access import roles
from core.errors import PaydeskError
from core.payments import queries as payments
from core.refunds import queries as rq
from core.refunds import service as rf
from core.refunds.queries import PAGE_SIZE
from core.refunds.records import RefundDetail, RefundFilter, RefundView
from core.store.db import Database

# What the detail pane asks ``why_not`` about.
ACTIONS = ("approve", "reject", "cancel", "retry")


@dataclass(frozen=True)
class QueueSetup:
    """Who is acting and what the filter lists offer, read once and on Refresh."""

    role: str | None
    refusal: str | None  # why this person cannot use Paydesk at all
    merchants: dict[str, str]
    staff: list[str]  # logins in the groups and the staff list's names, sorted

    @property
    def deciding(self) -> bool:
        """Whether the role may approve and reject (the queue then starts on what awaits)."""
        return roles.allowed(self.role, "refund.decide")


@dataclass(frozen=True)
class QueuePage:
    filter: RefundFilter
    rows: list[RefundView]
    setup: QueueSetup | None


@dataclass(frozen=True)
class QueueChanges:
    changed: list[RefundView]  # the named refunds that exist, read again
    first_page: list[RefundView] | None  # the filter's first page, when asked for


@dataclass(frozen=True)
class DetailWithRights:
    detail: RefundDetail
    why_not: dict[str, str | None]  # per action in ACTIONS: the refusal, or None


def _setup(session: Session, actor: str) -> QueueSetup:
    refusal = None
    try:
        roles.require(session, actor, "view")
    except PaydeskError as exc:
        refusal = exc.message
    return QueueSetup(
        role=roles.role_of(session, actor),
        refusal=refusal,
        merchants=payments.merchant_names(session),
        # Shared mode: logins in the groups, and the staff-list names an owner login acts for.
        staff=sorted(
            {m.username for m in roles.list_members(session)}
            | {m.username for m in roles.list_staff(session)}
        ),
    )


def opening_page(db: Database, actor: str, now: datetime) -> QueuePage:
    """The queue as ``actor`` first sees it: finance and admin staff start on the refunds
    awaiting approval, everyone else on all refunds."""
    with db.read() as session:
        setup = _setup(session, actor)
        f = RefundFilter(status="pending_approval" if setup.deciding else None)
        rows = rq.page(session, f, limit=PAGE_SIZE, now=now)
    return QueuePage(f, rows, setup)


def first_page(
    db: Database, f: RefundFilter, now: datetime, *, setup_for: str | None = None
) -> QueuePage:
    """The first page of ``f``; with ``setup_for``, that actor's setup read alongside."""
    with db.read() as session:
        rows = rq.page(session, f, limit=PAGE_SIZE, now=now)
        setup = _setup(session, setup_for) if setup_for is not None else None
    return QueuePage(f, rows, setup)


def page_after(
    db: Database, f: RefundFilter, after: tuple[datetime, str], now: datetime
) -> list[RefundView]:
    with db.read() as session:
        return rq.page(session, f, after=after, limit=PAGE_SIZE, now=now)


def changes(
    db: Database, ids: Sequence[str], f: RefundFilter, now: datetime, *, first_page: bool
) -> QueueChanges:
    with db.read() as session:
        changed = rq.get_many(session, sorted(ids)) if ids else []
        first = rq.page(session, f, limit=PAGE_SIZE, now=now) if first_page else None
    return QueueChanges(changed, first)


def refunds_by_id(db: Database, ids: Sequence[str]) -> list[RefundView]:
    with db.read() as session:
        return rq.get_many(session, list(ids))


def detail_with_rights(db: Database, refund_id: str, actor: str) -> DetailWithRights:
    """One refund's detail and, per action, why ``actor`` may not take it (None: may)."""
    with db.read() as session:
        d = rq.detail(session, refund_id)
        why = {action: rf.why_not(session, actor, d.refund, action) for action in ACTIONS}
    return DetailWithRights(d, why)


def totals_by_currency(db: Database, ids: Sequence[str]) -> dict[str, int]:
    with db.read() as session:
        return rq.totals_by_currency(session, ids)
