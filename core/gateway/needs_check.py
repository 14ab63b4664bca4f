"""The Refunds view's side of Needs check (``core.gateway.refund_review``): the queue's filter
with a Needs-check choice, its pages, and per refund of a gateway payment what Paydesk knows
about it at the gateway and whether this person may link it or have it sent again.

The Needs-check list is the queue's own query (``core.refunds.queries.build_query``) narrowed
to the ``processing`` refunds whose outcome at the gateway is ``needs_check``, so its other
filters (merchant, requester, search, …) and its keyset paging are those of every other
status. Linking and sending again stay ``refund_review.link`` and ``refund_review.resend``; the
sentences here say ahead of time what those would refuse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import Session

from core.access import roles
from core.errors import PaydeskError
from core.gateway.refund_matching import NEEDS_CHECK, UNKNOWN
from core.gateway.refund_review import NeedsCheck, gateway_state
from core.refunds import queries as rq
from core.refunds import queue
from core.refunds.queue import QueueChanges, QueuePage
from core.refunds.records import RefundFilter, RefundView
from core.refunds.states import RefundStatus
from core.store.db import Database
from core.store.models import Refund

# The Refunds view's actions on a refund in Needs check, as ``review`` names them.
REVIEW_ACTIONS = ("link", "resend")


@dataclass(frozen=True)
class QueueFilter(RefundFilter):
    """The queue's filter with the Needs-check choice (which is not a status: the refunds in
    it are ``processing``; ``status`` is then None)."""

    needs_check: bool = False

    def validated(self) -> QueueFilter:
        f = super().validated()
        assert isinstance(f, QueueFilter)  # ``replace`` keeps the class
        return replace(f, status=None) if f.needs_check else f


def as_queue_filter(f: RefundFilter) -> QueueFilter:
    """``f`` as a ``QueueFilter`` (the queue's opening filter is a plain one)."""
    if isinstance(f, QueueFilter):
        return f
    return QueueFilter(**{name: getattr(f, name) for name in RefundFilter.__dataclass_fields__})


def _query(f: QueueFilter, now: datetime) -> Select[Refund]:
    stmt = rq.build_query(f, now=now)
    if f.needs_check:
        stmt = stmt.where(
            Refund.status == RefundStatus.PROCESSING, Refund.gateway_outcome == NEEDS_CHECK
        )
    return stmt


def _page(
    session: Session, f: QueueFilter, now: datetime, after: tuple[datetime, str] | None = None
) -> list[RefundView]:
    stmt = _query(f.validated(), now)
    if after is not None:
        pair = tuple_(Refund.created_at, Refund.id)
        stmt = stmt.where(pair < tuple_(*after) if f.descending else pair > tuple_(*after))
    return [RefundView.of(r) for r in session.scalars(stmt.limit(rq.PAGE_SIZE))]


def opening_page(db: Database, actor: str, now: datetime) -> QueuePage:
    """``queue.opening_page`` with its filter as a ``QueueFilter``."""
    page = queue.opening_page(db, actor, now)
    return replace(page, filter=as_queue_filter(page.filter))


def first_page(
    db: Database, f: QueueFilter, now: datetime, *, setup_for: str | None = None
) -> QueuePage:
    """The first page of ``f`` (``queue.first_page`` unless it is the Needs-check list)."""
    if not f.needs_check:
        return queue.first_page(db, f, now, setup_for=setup_for)
    page = queue.first_page(db, replace(f, needs_check=False), now, setup_for=setup_for)
    with db.read() as session:
        rows = _page(session, f, now)
    return QueuePage(f, rows, page.setup)


def page_after(
    db: Database, f: QueueFilter, after: tuple[datetime, str], now: datetime
) -> list[RefundView]:
    if not f.needs_check:
        return queue.page_after(db, f, after, now)
    with db.read() as session:
        return _page(session, f, now, after)


def changes(
    db: Database, ids: Sequence[str], f: QueueFilter, now: datetime, *, first_page: bool
) -> QueueChanges:
    """The refunds a notice named read again and, when asked, the first page of ``f``."""
    if not f.needs_check:
        return queue.changes(db, ids, f, now, first_page=first_page)
    with db.read() as session:
        changed = rq.get_many(session, sorted(ids)) if ids else []
        first = _page(session, f, now) if first_page else None
    return QueueChanges(changed, first)


# -- one refund's review ----------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayReview:
    """What Paydesk knows about a gateway refund (``state``: what was sent, when, what the
    look-ups found) and, per action of ``REVIEW_ACTIONS``, why this person may not take it
    (None: they may)."""

    state: NeedsCheck
    why_not: dict[str, str | None]

    @property
    def needs_check(self) -> bool:
        return self.state.outcome == NEEDS_CHECK and self.state.refund.status == "processing"

    @property
    def looked_for(self) -> bool:
        """Sent, the answer lost, and still looked for on each sync (not a person's yet)."""
        return self.state.outcome == UNKNOWN and self.state.refund.status == "processing"


def _role_refusal(session: Session, actor: str) -> str | None:
    try:
        roles.require(session, actor, "refund.decide")
    except PaydeskError as exc:
        return exc.message
    return None


def why_not_review(session: Session, actor: str, state: NeedsCheck, action: str) -> str | None:
    """Why ``actor`` may not ``action`` ("link", "resend") the refund of ``state``, or None.
    The same conditions ``refund_review.link`` and ``refund_review.resend`` refuse on."""
    r = state.refund
    open_outcomes = (UNKNOWN, NEEDS_CHECK) if action == "link" else (NEEDS_CHECK,)
    if r.gateway is None:
        return f"Refund {r.id} is Paydesk's own; only a gateway refund is checked at the gateway."
    refusal = _role_refusal(session, actor)
    if refusal:
        return refusal
    if r.status != RefundStatus.PROCESSING or state.outcome not in open_outcomes:
        if action == "resend" and state.outcome == UNKNOWN and r.status == "processing":
            return (
                f"Paydesk is still looking for refund {r.id} at {r.gateway}; it can be sent "
                "again once it needs a check."
            )
        return f"Refund {r.id} is not waiting for a check."
    return None


def read_review(db: Database, actor: str, refund_id: str) -> GatewayReview | None:
    """``review`` in a read of its own (the Refunds view's detail, in the pool)."""
    with db.read() as session:
        return review(session, actor, refund_id)


def review(session: Session, actor: str, refund_id: str) -> GatewayReview | None:
    """The review of a gateway refund (None for a refund of Paydesk's own payments)."""
    state = gateway_state(session, refund_id)
    if state.refund.gateway is None:
        return None
    why = {action: why_not_review(session, actor, state, action) for action in REVIEW_ACTIONS}
    return GatewayReview(state, why)
