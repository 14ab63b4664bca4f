"""What a bulk retry would do, worked out before it runs, so that the person reads it first
(the "Retry failed…" dialog and ``paydesk webhooks retry --failed`` both show it) and what
they confirmed is what goes out.

``plan`` takes a filter's conditions (``core.webhooks.deliveries`` builds them) and sorts what
they match into what is retried, Paydesk's own logs made due now and a gateway's logs asked of
their gateway one call each, and what is left out with the reason: a merchant without a
webhook endpoint (retrying would only park the delivery), a log being delivered at this moment
(left to finish), a gateway log this copy cannot send (no retry route, no secret, a removed
connection). Own logs of a disabled endpoint are retried and wait until it is enabled; the plan
says so. ``BulkOutcome`` is what came of running it, in one sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from core.gateway import log_retry
from core.gateway.log_retry import Forwarded, Target
from core.store.models import Merchant, WebhookLog


def plural(n: int, one: str = "delivery", many: str = "deliveries") -> str:
    return f"{n:,} {one if n == 1 else many}"


def has_endpoint() -> ColumnElement[bool]:
    """Merchants with a webhook URL (an empty one is none)."""
    return and_(Merchant.webhook_url.is_not(None), Merchant.webhook_url != "")


def being_sent(now: datetime) -> ColumnElement[bool]:
    """Logs a dispatcher holds a lease on: an attempt is on its way."""
    return and_(WebhookLog.lease_expires_at.is_not(None), WebhookLog.lease_expires_at >= now)


def with_endpoint() -> ColumnElement[bool]:
    """Own logs whose merchant has an endpoint (what a bulk retry may make due)."""
    return WebhookLog.merchant_id.in_(select(Merchant.id).where(has_endpoint()))


@dataclass(frozen=True)
class LeftOut:
    """Logs a bulk retry leaves alone, and the one sentence saying why."""

    count: int
    reason: str


@dataclass(frozen=True)
class RetryPlan:
    """What a bulk retry of one filter would do now."""

    own: int  # Paydesk's own logs that become due now
    gateway: tuple[Target, ...]  # a gateway's logs, asked of it one call each
    left_out: tuple[LeftOut, ...] = ()
    waiting: int = 0  # of ``own``: logs of a disabled endpoint, which wait until it is enabled
    waiting_for: tuple[str, ...] = ()  # the names of those merchants

    @property
    def count(self) -> int:
        """How many logs it retries."""
        return self.own + len(self.gateway)

    @property
    def left_out_count(self) -> int:
        return sum(lo.count for lo in self.left_out)

    @property
    def matched(self) -> int:
        return self.count + self.left_out_count

    def lines(self, what: str = "failed") -> list[str]:
        """The plan for a person, first line first; ``what`` names the status (``failed``)."""
        kind = plural(self.matched, f"{what} delivery", f"{what} deliveries")
        match = "matches" if self.matched == 1 else "match"
        if not self.left_out:
            out = [f"{kind} {match}."]
        elif not self.count:
            out = [f"{kind} {match}, but none can be retried:"]
        else:
            out = [
                f"{kind} {match}; {self.count:,} will be retried, {self.left_out_count:,} left out:"
            ]
        out += [f"{plural(lo.count)} left out: {lo.reason}" for lo in self.left_out]
        if self.gateway:
            names = ", ".join(sorted({t.gateway for t in self.gateway}))
            out.append(
                f"{plural(len(self.gateway))} {'goes' if len(self.gateway) == 1 else 'go'} to "
                f"the gateway ({names}): one request each, {log_retry.MAX_PARALLEL} at a time."
            )
        if self.waiting:
            one = self.waiting == 1
            out.append(
                f"{plural(self.waiting)} of {', '.join(self.waiting_for)} "
                f"{'waits' if one else 'wait'}: the endpoint is disabled; "
                f"{'it goes' if one else 'they go'} out once it is enabled."
            )
        return out

    def details(self) -> dict[str, int]:
        """For the bulk retry's audit event (only what there is)."""
        out: dict[str, int] = {}
        if self.gateway:
            out["gateway"] = len(self.gateway)
        if self.left_out:
            out["left_out"] = self.left_out_count
        return out


def _no_endpoint(names: list[str]) -> str:
    """``Shop B has no webhook endpoint; …`` for one merchant, a short list for several."""
    if len(names) == 1:
        return f"{names[0]} has no webhook endpoint; an admin can set one."
    if len(names) <= 3:
        who = ", ".join(names[:-1]) + f" and {names[-1]}"
    else:
        who = ", ".join(names[:3]) + f" and {len(names) - 3:,} other merchants"
    return f"{who} have no webhook endpoint; an admin can set them."


def plan(session: Session, conditions: Sequence[ColumnElement[bool]], now: datetime) -> RetryPlan:
    """Sort what ``conditions`` match into what a bulk retry does and what it leaves out."""
    leased = func.coalesce(func.sum(case((being_sent(now), 1), else_=0)), 0)
    rows: list[tuple[str, int, int]] = [
        (str(r[0]), int(r[1]), int(r[2] or 0))
        for r in session.execute(
            select(WebhookLog.merchant_id, func.count(), leased)
            .where(*conditions, WebhookLog.gateway.is_(None))
            .group_by(WebhookLog.merchant_id)
        )
    ]
    merchants = {
        m.id: m
        for m in session.scalars(select(Merchant).where(Merchant.id.in_([r[0] for r in rows])))
    }
    own = waiting = in_flight = 0
    waiting_for: list[str] = []
    left_out: list[LeftOut] = []
    no_endpoint: list[tuple[str, int]] = []  # (merchant's name, its logs), by name
    names = {mid: m.name for mid, m in merchants.items()}
    for merchant_id, total, held in sorted(rows, key=lambda r: names.get(r[0], r[0]).lower()):
        m = merchants.get(merchant_id)
        if m is None or not m.webhook_url:
            no_endpoint.append((m.name if m is not None else f"Merchant {merchant_id}", total))
            continue
        in_flight += held
        sendable = total - held
        own += sendable
        if not m.webhook_enabled and sendable:
            waiting += sendable
            waiting_for.append(m.name)
    if no_endpoint:
        left_out.append(
            LeftOut(sum(n for _name, n in no_endpoint), _no_endpoint([w for w, _n in no_endpoint]))
        )
    if in_flight:
        left_out.append(LeftOut(in_flight, "being delivered right now, so left to finish."))
    checked = log_retry.check(session, log_retry.targets(session, conditions))
    for why, group in checked.refused.items():
        left_out.append(LeftOut(len(group), why))
    return RetryPlan(
        own=own,
        gateway=tuple(checked.sendable),
        left_out=tuple(left_out),
        waiting=waiting,
        waiting_for=tuple(waiting_for),
    )


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk retry did: Paydesk's own logs made due, and what the gateways were asked."""

    plan: RetryPlan
    own: int
    forwarded: Forwarded = field(default_factory=Forwarded)

    @property
    def sent(self) -> int:
        return len(self.forwarded.sent)

    @property
    def retried(self) -> int:
        return self.own + self.sent

    @property
    def cancelled(self) -> bool:
        return self.forwarded.cancelled

    def sentence(self) -> str:
        """One or two sentences for the person who ran it."""
        f = self.forwarded
        asked = len(f.targets)
        if not asked:
            if not self.own:
                return "Nothing was retried: the matching deliveries changed meanwhile."
            return f"Retried {plural(self.own)}; they are being sent now."
        if f.cancelled:
            said = (
                f"Stopped: {self.sent:,} of {asked:,} gateway retries were sent before Cancel; "
                f"{len(f.not_sent):,} were not sent."
            )
            if self.own:
                said += f" {plural(self.own)} of Paydesk's own are due now."
        elif not self.retried:
            said = "Nothing was retried."
        else:
            parts = []
            if self.own:
                parts.append(f"{plural(self.own)} of Paydesk's own are due now")
            if self.sent:
                logs = "its log" if self.sent == 1 else "its logs"
                parts.append(
                    f"the gateway accepted {plural(self.sent, 'request', 'requests')} "
                    f"to send {logs} again"
                )
            said = f"Retried {plural(self.retried)}: {', and '.join(parts)}."
        if f.errors:
            first = str(next(iter(f.errors.values()))).rstrip(".")
            said += f" {plural(len(f.errors))} at the gateway were not retried: {first}."
        return said

    def raise_if_failed(self) -> None:
        """Raise one sentence when some gateway logs were asked for and not accepted."""
        if self.forwarded.errors:
            self.forwarded.raise_if_failed(self.retried)
