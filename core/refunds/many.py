"""Acting on several refunds at once (approve, reject, cancel, retry): all or none in one
transaction for the command line, or each in its own for the view's multi-approve."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import roles
from core.context import Context
from core.errors import InputError, PaydeskError, Refused
from core.refunds.records import DecisionResult, RefundView
from core.refunds.rows import exceeds, load_payment, payment_refusal
from core.refunds.service import decide, rejection_note, retry_failed, why_not
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
