"""Acting on several refunds at once (approve, reject, cancel, retry): all or none in one
transaction, or each in its own; and what a multi-approve will approve, worked out before it
is confirmed (``ApprovalPlan``), so what the person confirmed is what is approved."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import roles
from core.context import Context
from core.errors import InputError, PaydeskError, Refused
from core.money import format_money
from core.refunds.queries import get_many
from core.refunds.records import DecisionResult, RefundView
from core.refunds.rows import exceeds, load_payment, payment_refusal
from core.refunds.service import decide, rejection_note, retry_failed, why_not
from core.refunds.states import RefundStatus
from core.store.db import Database
from core.store.models import Refund

# What each multi-refund action needs of the person, and the word for it done.
_MANY = {
    "approve": ("refund.decide", "approved"),
    "reject": ("refund.decide", "rejected"),
    "cancel": ("view", "cancelled"),
    "retry": ("refund.decide", "retried"),
}


def decide_many(
    ctx: Context,
    actor: str,
    action: str,
    refund_ids: Sequence[str],
    *,
    note: str | None = None,
    all_or_none: bool = True,
) -> list[DecisionResult]:
    """``action`` ("approve", "reject" with ``note``, "cancel", "retry") on each of
    ``refund_ids`` (repeats once), returning the results in order.

    ``all_or_none`` (the command line): every refund is checked first (it exists, its state
    allows the action, four eyes, the person's role, for a retry what its payment has left);
    when any cannot be acted on, Refused names each of them and nothing changes. Otherwise all
    are acted on in one transaction. A single refund is refused with its own sentence, as the
    one-refund services do.

    Without it (the view's multi-approve) each refund is acted on in its own transaction: one
    refusal does not stop the others, and the results say which were done and why not."""
    if action not in _MANY:
        raise ValueError(f"unknown refund action {action!r}")
    ids = list(dict.fromkeys(i.strip() for i in refund_ids if i and i.strip()))
    if not ids:
        raise InputError("Name at least one refund.")
    if action == "reject":
        note = rejection_note(note)
    done = f"{_MANY[action][1].capitalize()}."
    if not all_or_none:
        results: list[DecisionResult] = []
        for refund_id in ids:
            try:
                view = _act(ctx, actor, action, refund_id, note)
            except PaydeskError as exc:
                results.append(DecisionResult(refund_id, False, exc.message))
            else:
                results.append(DecisionResult(refund_id, True, done, view))
        return results
    with ctx.db.write() as session:
        if len(ids) > 1:
            roles.require(session, actor, _MANY[action][0])
            problems = _problems(session, actor, action, ids)
            if problems:
                raise Refused(
                    f"Nothing was {_MANY[action][1]} ({len(problems)} of {len(ids)} refunds "
                    f"cannot be): {'; '.join(p.rstrip('.') for p in problems)}."
                )
        views = [_act(ctx, actor, action, refund_id, note, session) for refund_id in ids]
    return [DecisionResult(v.id, True, done, v) for v in views]


def _act(
    ctx: Context,
    actor: str,
    action: str,
    refund_id: str,
    note: str | None,
    session: Session | None = None,
) -> RefundView:
    if action == "retry":
        return retry_failed(ctx, actor, refund_id, session)
    status = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}[action]
    return decide(
        ctx,
        actor,
        refund_id,
        action=action,
        status=status,
        note=note if action == "reject" else None,
        expected_version=None,
        session=session,
    )


def _problems(session: Session, actor: str, action: str, ids: Sequence[str]) -> list[str]:
    """Why each of ``ids`` cannot be acted on, one sentence naming it per refund."""
    found = {
        r.id: r
        for r in session.scalars(
            select(Refund).where(Refund.id.in_(ids)).execution_options(populate_existing=True)
        )
    }
    problems: list[str] = []
    planned: dict[str, int] = {}  # retries: what they add back to each payment
    for refund_id in ids:
        refund = found.get(refund_id)
        if refund is None:
            problems.append(f"There is no refund {refund_id}.")
            continue
        why = why_not(session, actor, refund, action)
        if why is None and action == "retry":
            payment = load_payment(session, refund.payment_id)
            left = payment.amount - payment.refunded_amount - planned.get(payment.id, 0)
            refusal = payment_refusal(payment)
            if refusal is None and refund.amount > left:
                refusal = exceeds(refund.amount, left, payment)
            why = f"refund {refund_id}: {refusal}" if refusal else None
            planned[payment.id] = planned.get(payment.id, 0) + refund.amount
        if why:
            problems.append(why)
    return problems


def approve_many(
    ctx: Context, actor: str, refund_ids: Sequence[str], *, all_or_none: bool = False
) -> list[DecisionResult]:
    """Approve several refunds (``decide_many``): by default each in its own transaction (the
    view's multi-approve, which reports each), with ``all_or_none`` all or none."""
    return decide_many(ctx, actor, "approve", refund_ids, all_or_none=all_or_none)


# -- what a multi-approve will approve -------------------------------------------------------

# Why a chosen refund is left out of a multi-approve, in the order a confirmation lists them.
LEFT_OUT_WHY = {
    "decided": "already decided",
    "own": "requested by you (someone else must approve them)",
    "gone": "no longer there",
}


@dataclass(frozen=True)
class ApprovalPlan:
    """What approving a chosen set of refunds will do, worked out before it is done: the
    refunds it approves (``approve``, in the order chosen), their total per currency, and the
    chosen ones it leaves out with why (``left_out``: refund id → a key of ``LEFT_OUT_WHY``).
    ``refusal``: why this person cannot approve at all (their role)."""

    chosen: int
    approve: tuple[RefundView, ...]
    totals: dict[str, int]
    left_out: dict[str, str]
    refusal: str | None = None

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.approve]

    def left_out_counts(self) -> list[tuple[str, int]]:
        """(why, how many) for each reason that leaves some out, in ``LEFT_OUT_WHY`` order."""
        counts = Counter(self.left_out.values())
        return [(LEFT_OUT_WHY[key], counts[key]) for key in LEFT_OUT_WHY if counts[key]]

    def left_out_text(self) -> str:
        """``Leaves out 3: 2 already decided, 1 requested by you (…).``; "" when none."""
        if not self.left_out:
            return ""
        parts = ", ".join(f"{n} {why}" for why, n in self.left_out_counts())
        return f"Leaves out {len(self.left_out)} of the {self.chosen} selected: {parts}."

    def total_lines(self) -> list[str]:
        """``₹257.00 in INR`` per currency, by currency code."""
        return [f"{format_money(t, cur)} in {cur}" for cur, t in sorted(self.totals.items())]


def plan_approval(
    actor: str, chosen: Sequence[RefundView], *, found: Sequence[RefundView] | None = None
) -> ApprovalPlan:
    """The plan of ``actor`` approving ``chosen`` as those rows stand (``found``: the same
    refunds read again, when they were; a chosen refund not among them is gone). Four eyes
    and the state as ``service.why_not`` has them: a refund not awaiting approval is already
    decided, one ``actor`` requested needs someone else."""
    fresh = {r.id: r for r in (found if found is not None else chosen)}
    approve: list[RefundView] = []
    left_out: dict[str, str] = {}
    totals: dict[str, int] = {}
    unique = list({r.id: r for r in chosen}.values())
    for row in unique:
        r = fresh.get(row.id)
        if r is None:
            left_out[row.id] = "gone"
        elif r.status != RefundStatus.PENDING_APPROVAL:
            left_out[r.id] = "decided"
        elif r.requested_by == actor:
            left_out[r.id] = "own"
        else:
            approve.append(r)
            totals[r.currency] = totals.get(r.currency, 0) + r.amount
    return ApprovalPlan(len(unique), tuple(approve), totals, left_out)


def approval_plan(db: Database, actor: str, refund_ids: Sequence[str]) -> ApprovalPlan:
    """``plan_approval`` of the refunds as they are in the database now (the confirmation a
    multi-approve shows), with ``refusal`` set when ``actor`` may not approve at all."""
    ids = list(dict.fromkeys(refund_ids))
    with db.read() as session:
        found = get_many(session, ids)
        try:
            roles.require(session, actor, "refund.decide")
        except PaydeskError as exc:
            refusal: str | None = exc.message
        else:
            refusal = None
    by_id = {r.id: r for r in found}
    chosen = [by_id[i] for i in ids if i in by_id]
    plan = plan_approval(actor, chosen, found=found)
    gone = {i: "gone" for i in ids if i not in by_id}
    return replace(plan, chosen=len(ids), left_out={**plan.left_out, **gone}, refusal=refusal)


def approve_planned(ctx: Context, actor: str, plan: ApprovalPlan) -> list[DecisionResult]:
    """Approve exactly the refunds ``plan`` confirmed, all or none: when any of them changed
    since (someone else decided it), Refused names it and nothing is approved."""
    if not plan.approve:
        raise Refused("None of the selected refunds can be approved.")
    return decide_many(ctx, actor, "approve", plan.ids, all_or_none=True)
