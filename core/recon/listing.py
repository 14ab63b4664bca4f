"""What the Reconciliation view reads, each in one call that opens and closes its own session:
the first page of a filter with the headline figures, the settlement batches and whether the
person may import; the page after a line; one line's detail (the line, the payment or refund
it matched, its history and what this person may do with it); and the batches again after a
change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from core.access import roles
from core.access.activity import action_title
from core.money import format_money
from core.recon import matching, samples
from core.recon import service as recon
from core.recon.service import BatchSummary, HistoryEntry, LineFilter, LineView, OpenTotals
from core.store.db import Database
from core.store.models import Merchant, Payment, Refund

PAGE_SIZE = 200
# What a person may do with a line, as ``LineDetail.why_not`` names them.
ACTIONS = ("link", "accept", "investigate", "reopen")
READ_ONLY = "Only finance and admin staff can resolve reconciliation lines; you see them read-only."


@dataclass(frozen=True)
class LinesPage:
    filter: LineFilter
    rows: list[LineView]
    totals: OpenTotals  # the headline: open exceptions and the unexplained difference
    may_import: bool  # finance and admin import; support reads
    # Read with the page's setup only (the summary of every batch is the slow read).
    batches: list[BatchSummary] | None = None
    sample_reports: tuple[str, ...] = ()  # the demo's reports waiting in the data folder


def first_page(db: Database, f: LineFilter, actor: str, *, setup: bool = True) -> LinesPage:
    with db.read() as session:
        return LinesPage(
            f,
            recon.lines(session, f, limit=PAGE_SIZE),
            recon.open_totals(session),
            roles.may(session, actor, "recon.resolve"),
            recon.summary(session) if setup else None,
            tuple(p.name for p in samples.sample_reports()) if setup else (),
        )


def page_after(db: Database, f: LineFilter, after: int) -> list[LineView]:
    with db.read() as session:
        return recon.lines(session, f, limit=PAGE_SIZE, after=after)


@dataclass(frozen=True)
class Headline:
    """What a change (an import, a resolution) moves: the batches and the open totals."""

    batches: list[BatchSummary]
    totals: OpenTotals


def headline(db: Database) -> Headline:
    with db.read() as session:
        return Headline(recon.summary(session), recon.open_totals(session))


@dataclass(frozen=True)
class MatchedRecord:
    """The payment or refund a line matched (or was linked to), as Paydesk has it."""

    kind: str  # payment / refund
    id: str
    fields: list[tuple[str, str]]  # (name, value), in the order the detail shows them


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    actor: str
    title: str  # "Accepted the difference", …
    text: str  # the change, the reason and the note, in words


@dataclass(frozen=True)
class LineDetail:
    """One line as its detail pane shows it. ``why_not`` maps each of ``ACTIONS`` to the
    sentence saying why this person may not take it now (None: they may)."""

    line: LineView
    matched: MatchedRecord | None
    history: list[HistoryLine]
    why_not: dict[str, str | None]
    may_resolve: bool


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "—"


def _payment_fields(p: Payment, merchant: str | None) -> list[tuple[str, str]]:
    return [
        ("Id", p.id),
        ("Kind", "payment"),
        ("Amount", format_money(p.amount, p.currency)),
        ("Currency", p.currency),
        ("Status", p.status + ("" if p.captured else ", not captured")),
        ("Order", p.order_id),
        ("Time", _when(p.created_at)),
        ("Merchant", merchant or p.merchant_id),
        ("Refunded", format_money(p.refunded_amount, p.currency)),
    ]


def _refund_fields(r: Refund) -> list[tuple[str, str]]:
    return [
        ("Id", r.id),
        ("Kind", "refund"),
        ("Amount", format_money(r.amount, r.currency)),
        ("Currency", r.currency),
        ("Status", r.status),
        ("Payment", r.payment_id),
        ("Time", _when(r.processed_at or r.created_at)),
        ("Requested by", r.requested_by),
    ]


_RESOLUTION_TITLES = {
    "recon.link": "Linked by hand",
    "recon.accept": "Accepted the difference",
    "recon.investigate": "Marked under investigation",
    "recon.reopen": "Reopened",
}


def _history_line(e: HistoryEntry) -> HistoryLine:
    try:
        details = json.loads(e.details) if e.details else {}
    except ValueError:
        details = {"note": e.details}
    if not isinstance(details, dict):
        details = {"note": str(details)}
    parts = []
    if details.get("state") and details.get("now") and details["state"] != details["now"]:
        parts.append(f"{details['state'].replace('_', ' ')} → {details['now'].replace('_', ' ')}")
    if details.get("linked_id"):
        parts.append(f"to {details['linked_id']}")
    if details.get("reason"):
        parts.append(f"reason {details['reason']}")
    if details.get("resolution") and e.action == "recon.reopen":
        parts.append(f"was {details['resolution']}")
    if details.get("note"):
        parts.append(f"“{details['note']}”")
    title = _RESOLUTION_TITLES.get(e.action) or action_title(e.action)
    return HistoryLine(e.at, e.actor, title, " · ".join(parts))


def why_not(line: LineView, may_resolve: bool) -> dict[str, str | None]:
    """The sentence that keeps each action from this line now, as ``service.resolve`` and
    ``service.reopen`` would refuse it (None: allowed)."""
    if not may_resolve:
        return dict.fromkeys(ACTIONS, READ_ONLY)
    done = line.resolution in ("linked", "accepted")
    resolved = (
        f"Line {line.id} was already resolved ({line.resolution}) by {line.resolved_by}; "
        "reopen it first."
    )
    nothing = f"Line {line.id} is {line.state.replace('_', ' ')}; there is nothing to resolve."
    exception = line.state in matching.EXCEPTIONS
    out: dict[str, str | None] = {}
    if line.batch_id is None:
        out["link"] = f"Line {line.id} is Paydesk's own record; link the settlement line instead."
    else:
        out["link"] = resolved if done else None
    out["accept"] = resolved if done else None if exception else nothing
    out["investigate"] = resolved if done else None if exception else nothing
    out["reopen"] = (
        None
        if line.resolution is not None
        else f"Line {line.id} is not resolved; there is nothing to reopen."
    )
    return out


def line_detail(db: Database, line_id: int, actor: str) -> LineDetail:
    with db.read() as session:
        line = recon.line(session, line_id)
        matched: MatchedRecord | None = None
        target = line.matched_id or line.linked_id
        if target:
            payment = session.get(Payment, target)
            if payment is not None:
                merchant = session.get(Merchant, payment.merchant_id)
                fields = _payment_fields(payment, merchant.name if merchant else None)
                matched = MatchedRecord("payment", payment.id, fields)
            else:
                refund = session.get(Refund, target)
                if refund is not None:
                    matched = MatchedRecord("refund", refund.id, _refund_fields(refund))
        history = [_history_line(e) for e in recon.history(session, line_id)]
        may = roles.may(session, actor, "recon.resolve")
        return LineDetail(line, matched, history, why_not(line, may), may)
