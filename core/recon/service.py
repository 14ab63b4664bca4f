"""What people do with reconciliation: list lines, see each batch's summary and the
difference, resolve an exception (link, accept, investigate), reopen it, match again, export.

Reading is for every role; importing, resolving and matching again are finance's and admin's
(``recon.resolve``), each resolution audited in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from core.access import audit, policy, roles
from core.context import Context
from core.errors import Conflict, InputError, NotFound, Refused
from core.money import format_money
from core.payments import export
from core.recon import matching
from core.store.models import AuditEvent, Payment, Refund, SettlementBatch, SettlementLine

LINES = cast(Table, SettlementLine.__table__)
REASONS = ("fee", "rounding", "fx", "chargeback", "other")
RESOLUTIONS = ("linked", "accepted", "investigating")
MAX_NOTE = 2_000
# Open: an exception nobody resolved, or one under investigation.
_OPEN = and_(
    LINES.c.state.in_(matching.EXCEPTIONS),
    or_(LINES.c.resolution.is_(None), LINES.c.resolution == "investigating"),
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class LineView:
    id: int
    batch_id: str | None
    line_id: str
    kind: str
    raw_type: str
    currency: str
    amount: int
    fee: int
    tax: int
    net: int
    occurred_at: datetime | None
    state: str
    matched_type: str | None
    matched_id: str | None
    expected: int
    expected_currency: str | None
    difference: int
    order_id: str | None
    resolution: str | None
    resolution_reason: str | None
    resolution_note: str | None
    linked_id: str | None
    resolved_by: str | None
    resolved_at: datetime | None

    def cursor(self) -> int:
        """The keyset position (lists are oldest first, by line id)."""
        return self.id

    @property
    def open(self) -> bool:
        return self.state in matching.EXCEPTIONS and self.resolution in (None, "investigating")

    def money(self, amount: int) -> str:
        return format_money(amount, self.currency)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["occurred_at"] = _iso(self.occurred_at)
        data["resolved_at"] = _iso(self.resolved_at)
        data["open"] = self.open
        return data


_VIEW_COLUMNS = [LINES.c[name] for name in LineView.__dataclass_fields__]


def _view(row: Any) -> LineView:
    return LineView(*row)


@dataclass(frozen=True)
class LineFilter:
    batch_id: str | None = None
    state: str | None = None
    open_only: bool = False
    search: str | None = None

    def validated(self) -> LineFilter:
        if self.state is not None and self.state not in matching.STATES:
            raise InputError(
                f"{self.state!r} is not a state; use one of {', '.join(matching.STATES)}."
            )
        return self

    def where(self) -> list[Any]:
        cond: list[Any] = []
        if self.batch_id:
            cond.append(LINES.c.batch_id == self.batch_id)
        if self.state:
            cond.append(LINES.c.state == self.state)
        if self.open_only:
            cond.append(_OPEN)
        if self.search:
            q = self.search.strip()
            cond.append(
                or_(
                    LINES.c.line_id == q,
                    LINES.c.ref_id == q,
                    LINES.c.matched_id == q,
                    LINES.c.order_id == q,
                )
            )
        return cond


def lines(
    session: Session, f: LineFilter, *, limit: int = 100, after: int | None = None
) -> list[LineView]:
    """Lines the filter selects, oldest first, a page after line id ``after``."""
    cond = f.where()
    if after is not None:
        cond.append(LINES.c.id > after)
    rows = session.execute(select(*_VIEW_COLUMNS).where(*cond).order_by(LINES.c.id).limit(limit))
    return [_view(r) for r in rows]


def line(session: Session, line_id: int) -> LineView:
    row = session.execute(select(*_VIEW_COLUMNS).where(LINES.c.id == line_id)).one_or_none()
    if row is None:
        raise NotFound(f"There is no reconciliation line {line_id}.")
    return _view(row)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    details: str | None


def history(session: Session, line_id: int) -> list[HistoryEntry]:
    """The line's resolutions and reopenings, oldest first."""
    rows = session.execute(
        select(AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.details)
        .where(AuditEvent.entity_type == "settlement_line", AuditEvent.entity_id == str(line_id))
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [HistoryEntry(*r) for r in rows]


# -- summaries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSummary:
    """One settlement batch in one currency. ``difference`` = ``net_reported`` −
    ``net_expected``: money the processor's figures and Paydesk's records do not agree on;
    ``unexplained`` is the part of it no resolution accounts for. Missing-from-settlement
    lines belong to no batch (``batch_id`` None)."""

    batch_id: str | None
    currency: str
    utr: str | None
    settled_at: datetime | None
    lines: int
    gross: int
    refunds: int
    fees: int
    tax: int
    adjustments: int
    net_reported: int
    net_expected: int
    difference: int
    unexplained: int
    open_exceptions: int

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["settled_at"] = _iso(self.settled_at)
        return data


def summary(session: Session, batch_id: str | None = None) -> list[BatchSummary]:
    """Per batch and currency, newest settlement first; the missing lines last."""
    kind = LINES.c.kind
    amount_of = lambda k: func.coalesce(func.sum(case((kind == k, LINES.c.amount), else_=0)), 0)  # noqa: E731
    open_case = case((_OPEN, 1), else_=0)
    unexplained = case(
        (
            or_(LINES.c.resolution.is_(None), LINES.c.resolution == "investigating"),
            LINES.c.difference,
        ),
        else_=0,
    )
    q = (
        select(
            LINES.c.batch_id,
            LINES.c.currency,
            SettlementBatch.utr,
            SettlementBatch.settled_at,
            func.count(),
            amount_of("payment"),
            amount_of("refund"),
            func.coalesce(func.sum(LINES.c.fee), 0),
            func.coalesce(func.sum(LINES.c.tax), 0),
            func.coalesce(func.sum(case((kind == "adjustment", LINES.c.net), else_=0)), 0),
            func.coalesce(func.sum(LINES.c.net), 0),
            func.coalesce(func.sum(LINES.c.difference), 0),
            func.coalesce(func.sum(unexplained), 0),
            func.coalesce(func.sum(open_case), 0),
        )
        .select_from(
            LINES.outerjoin(SettlementBatch.__table__, SettlementBatch.id == LINES.c.batch_id)
        )
        .group_by(
            LINES.c.batch_id, LINES.c.currency, SettlementBatch.utr, SettlementBatch.settled_at
        )
    )
    if batch_id is not None:
        q = q.where(LINES.c.batch_id == batch_id)
    out = []
    for r in session.execute(q):
        net, diff = int(r[10]), int(r[11])
        out.append(
            BatchSummary(
                batch_id=r[0],
                currency=r[1],
                utr=r[2],
                settled_at=r[3],
                lines=int(r[4]),
                gross=int(r[5]),
                refunds=int(r[6]),
                fees=int(r[7]),
                tax=int(r[8]),
                adjustments=int(r[9]),
                net_reported=net,
                net_expected=net - diff,
                difference=diff,
                unexplained=int(r[12]),
                open_exceptions=int(r[13]),
            )
        )
    if batch_id is not None and not out:
        raise NotFound(f"There is no settlement batch {batch_id}.")
    out.sort(
        key=lambda b: (
            b.batch_id is None,
            -(b.settled_at.timestamp() if b.settled_at else 0.0),
            b.batch_id or "",
            b.currency,
        )
    )
    return out


@dataclass(frozen=True)
class OpenTotals:
    """For the Overview's tile: open exceptions and the unexplained difference per currency."""

    open_exceptions: int
    unexplained: dict[str, int]


def open_totals(session: Session) -> OpenTotals:
    rows = session.execute(
        select(LINES.c.currency, func.count(), func.coalesce(func.sum(LINES.c.difference), 0))
        .where(_OPEN)
        .group_by(LINES.c.currency)
    ).all()
    return OpenTotals(sum(int(r[1]) for r in rows), {r[0]: int(r[2]) for r in rows if r[2]})


def any_imported(session: Session) -> bool:
    """Whether any settlement report was imported (lines in a batch)."""
    return bool(session.scalar(select(exists().where(LINES.c.batch_id.is_not(None)))))


# -- resolving ---------------------------------------------------------------------------------


def _note(note: str | None, *, required: bool) -> str | None:
    text = (note or "").strip()
    if not text:
        if required:
            raise InputError("Say why with a note (--note TEXT).")
        return None
    if len(text) > MAX_NOTE:
        raise InputError(f"A note is at most {MAX_NOTE:,} characters.")
    return text


def _locked(session: Session, line_id: int) -> SettlementLine:
    found = session.get(SettlementLine, line_id, with_for_update=True)
    if found is None:
        raise NotFound(f"There is no reconciliation line {line_id}.")
    return found


def _cycle(session: Session) -> int:
    return int(policy.get(session, "recon_settlement_cycle_days"))


def resolve(
    ctx: Context,
    actor: str,
    line_id: int,
    *,
    link: str | None = None,
    accept: str | None = None,
    investigate: bool = False,
    note: str | None = None,
) -> LineView:
    """Resolve one exception (finance, admin; audited): ``link`` it to a payment or refund by
    hand (the line is matched against it), ``accept`` its difference with a reason code, or
    mark it under investigation (a note is required)."""
    chosen = [x for x in (link, accept, investigate or None) if x]
    if len(chosen) != 1:
        raise InputError("Resolve with one of --link ID, --accept REASON or --investigate.")
    if accept is not None and accept not in REASONS:
        raise InputError(f"{accept!r} is not a reason; use one of {', '.join(REASONS)}.")
    text = _note(note, required=investigate)
    with ctx.db.write() as session:
        roles.require(session, actor, "recon.resolve")
        row = _locked(session, line_id)
        if row.state not in matching.EXCEPTIONS and not link:
            raise Refused(
                f"Line {line_id} is {row.state.replace('_', ' ')}; there is nothing to resolve."
            )
        if row.resolution in ("linked", "accepted"):
            raise Conflict(
                f"Line {line_id} was already resolved ({row.resolution}) by {row.resolved_by} at "
                f"{row.resolved_at:%Y-%m-%d %H:%M} UTC; reopen it first."
            )
        now = ctx.clock.now()
        before = row.state
        touched = [i for i in (row.matched_id,) if i]
        if link:
            link = link.strip()
            if row.batch_id is None:
                raise Refused(
                    f"Line {line_id} is Paydesk's own record; link the settlement line instead."
                )
            if session.get(Payment, link) is None and session.get(Refund, link) is None:
                raise NotFound(f"There is no payment or refund {link}.")
            row.resolution, row.linked_id, row.resolution_reason = "linked", link, None
            [outcome] = matching.match_chunk(session, [row], [link])
            for k, v in outcome.values().items():
                setattr(row, k, v)
            touched.append(link)
        elif accept:
            row.resolution, row.resolution_reason = "accepted", accept
        else:
            row.resolution, row.resolution_reason = "investigating", None
        row.resolution_note, row.resolved_by, row.resolved_at = text, actor, now
        session.flush()
        if link:
            matching.refresh_missing(session, now, _cycle(session), touched)
        audit.record(
            session,
            at=now,
            actor=actor,
            action=f"recon.{'link' if link else 'accept' if accept else 'investigate'}",
            entity_type="settlement_line",
            entity_id=str(line_id),
            details={
                "state": before,
                "now": row.state,
                "linked_id": link,
                "reason": accept,
                "note": text,
                "difference": row.difference,
            },
            client=ctx.client_id,
        )
        session.flush()
        return line(session, line_id)


def reopen(ctx: Context, actor: str, line_id: int, *, note: str | None = None) -> LineView:
    """Take back a resolution (finance, admin; audited); a linked line is matched again by its
    own ids."""
    text = _note(note, required=False)
    with ctx.db.write() as session:
        roles.require(session, actor, "recon.resolve")
        row = _locked(session, line_id)
        if row.resolution is None:
            raise Refused(f"Line {line_id} is not resolved; there is nothing to reopen.")
        now = ctx.clock.now()
        previous = {
            "resolution": row.resolution,
            "reason": row.resolution_reason,
            "linked_id": row.linked_id,
        }
        linked = row.linked_id
        row.resolution = row.resolution_reason = row.resolution_note = None
        row.linked_id = row.resolved_by = row.resolved_at = None
        session.flush()
        if linked:
            matching.rematch(session, [i for i in (linked, row.ref_id) if i], now, _cycle(session))
        audit.record(
            session,
            at=now,
            actor=actor,
            action="recon.reopen",
            entity_type="settlement_line",
            entity_id=str(line_id),
            details={**previous, "note": text},
            client=ctx.client_id,
        )
        session.flush()
        session.expire_all()
        return line(session, line_id)


def match_again(ctx: Context, actor: str, entity_ids: list[str] | None = None) -> int:
    """Match lines again (finance, admin): those naming ``entity_ids`` (after a payment or
    refund changed), or every line. Returns the lines matched."""
    with ctx.db.write() as session:
        roles.require(session, actor, "recon.resolve")
        now = ctx.clock.now()
        if entity_ids:
            return matching.rematch(session, entity_ids, now, _cycle(session))
        return matching.rematch_all(session, now, _cycle(session))


# -- export ------------------------------------------------------------------------------------


def _major(amount: int, currency: str) -> object:
    from core.money import to_decimal

    return to_decimal(amount, currency)


EXPORT_COLUMNS: list[export.Column[LineView]] = [
    export.Column("line", lambda r: r.id),
    export.Column("batch", lambda r: r.batch_id),
    export.Column("line_id", lambda r: r.line_id),
    export.Column("kind", lambda r: r.kind),
    export.Column("type", lambda r: r.raw_type),
    export.Column("state", lambda r: r.state),
    export.Column("open", lambda r: "yes" if r.open else "no"),
    export.Column("currency", lambda r: r.currency),
    export.Column("amount", lambda r: _major(r.amount, r.currency)),
    export.Column("fee", lambda r: _major(r.fee, r.currency)),
    export.Column("tax", lambda r: _major(r.tax, r.currency)),
    export.Column("net", lambda r: _major(r.net, r.currency)),
    export.Column("matched", lambda r: r.matched_id),
    export.Column("expected", lambda r: _major(r.expected, r.expected_currency or r.currency)),
    export.Column("difference", lambda r: _major(r.difference, r.currency)),
    export.Column("difference_minor", lambda r: r.difference),
    export.Column("occurred_at", lambda r: _iso(r.occurred_at)),
    export.Column("resolution", lambda r: r.resolution),
    export.Column("reason", lambda r: r.resolution_reason),
    export.Column("note", lambda r: r.resolution_note),
    export.Column("resolved_by", lambda r: r.resolved_by),
]


def export_lines(
    ctx: Context, f: LineFilter, target: Path, *, progress: export.Progress | None = None
) -> int:
    """``paydesk export recon``: the lines the filter selects, as CSV, page by page."""
    target = export.check_target(target)
    pages: Iterator[list[LineView]] = export.keyset_pages(
        ctx.db, lambda s, after: lines(s, f, limit=export.PAGE_ROWS, after=after), lambda r: r.id
    )
    return export.export_rows(target, EXPORT_COLUMNS, pages, progress=progress)
