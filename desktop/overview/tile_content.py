"""What each Overview tile says, from a ``Dashboard``: its figure, its two lines (each line and
the tile open the filtered view behind them) and why it would be red; ``TILES`` lists them in
the order the grid shows them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from core import money
from core.health.check import age_text
from core.overview import dashboard
from core.overview.dashboard import Dashboard, Link
from desktop.overview.formatting import count_text, percent_text, plural, points_text
from desktop.overview.tiles import TILE_LINES, TileContent, TileLine


def _per_currency(
    totals: tuple[dashboard.CurrencyTotal, ...], describe: Callable[[int], str], rest: Link
) -> tuple[TileLine, ...]:
    """A line per currency (each opens that currency); past two, the second line sums up the
    rest and opens them all."""

    def line(t: dashboard.CurrencyTotal) -> TileLine:
        return TileLine(
            f"{money.format_money(t.amount, t.currency)} · {describe(t.count)}", link=t.link
        )

    if len(totals) <= TILE_LINES:
        return tuple(line(t) for t in totals)
    others = ", ".join(t.currency for t in totals[1:])
    return (line(totals[0]), TileLine(f"+ {len(totals) - 1} more currencies: {others}", link=rest))


def payments_today_content(board: Dashboard) -> TileContent:
    t = board.payments_today
    lines = _per_currency(t.volume, lambda n: f"{count_text(n)} successful", t.link)
    return TileContent(
        value=count_text(t.count),
        lines=lines or (TileLine("No payments yet today"),),
        link=t.link,
    )


def success_rate_content(board: Dashboard) -> TileContent:
    t = board.success_rate
    failed = t.today.failed
    badge = None
    if t.change is not None:
        status = "success" if t.change > 0.0005 else "failed" if t.change < -0.0005 else "cancelled"
        badge = (points_text(t.change), status)
    first = (
        TileLine(f"Last 7 days: {percent_text(t.last_7_days.rate)}")
        if t.last_7_days.rate is not None
        else TileLine("No decided payments in the last 7 days")
    )
    if t.today.rate is None:
        second = TileLine("No payments decided yet today")
    else:
        second = TileLine(
            f"{plural(failed, 'failed payment')} today",
            tone="failed" if failed else None,
            link=t.link,
        )
    return TileContent(
        value=percent_text(t.today.rate), lines=(first, second), badge=badge, link=t.link
    )


def refunds_awaiting_content(board: Dashboard) -> TileContent:
    t = board.refunds_awaiting
    rule = (
        f"Overdue after {plural(t.auto_approve_days, 'day')} (auto-approve age)"
        if t.auto_approve_days
        else "Auto-approval is off"
    )
    if not t.count or t.oldest_age is None:
        lines = (TileLine("Nothing waiting for a decision"), TileLine(rule))
    else:
        lines = (
            TileLine(
                f"Oldest waiting {age_text(t.oldest_age)}", tone="failed" if t.overdue else None
            ),
            TileLine(rule),
        )
    return TileContent(
        value=count_text(t.count),
        lines=lines,
        value_tone="failed" if t.overdue else None,
        badge=("Overdue", "failed") if t.overdue else None,
        alert=t.overdue,
        link=t.link,
    )


def refunds_processed_content(board: Dashboard) -> TileContent:
    t = board.refunds_processed
    lines = _per_currency(t.by_currency, lambda n: plural(n, "refund"), t.link)
    return TileContent(
        value=count_text(t.count),
        lines=lines or (TileLine("None processed yet today"),),
        link=t.link,
    )


def webhooks_failing_content(board: Dashboard) -> TileContent:
    t = board.webhooks_failing
    disabled = [e for e in t.endpoints if not e.enabled]
    failing = [e for e in t.endpoints if e.enabled]
    parts = []
    if disabled:
        parts.append(f"{plural(len(disabled), 'endpoint')} disabled")
    if failing:
        parts.append(f"{count_text(len(failing))} failing")
    endpoints = (
        TileLine(" · ".join(parts), tone="failed" if disabled else "pending", link=t.endpoints_link)
        if parts
        else TileLine("Every endpoint is answering")
    )
    tooltip = "\n".join(
        f"{e.name}: {'disabled' + (f' ({e.disabled_reason})' if e.disabled_reason else '') if not e.enabled else plural(e.consecutive_failures, 'failure') + ' in a row'}"
        for e in t.endpoints
    )
    return TileContent(
        value=count_text(t.failing),
        lines=(
            TileLine(
                f"{count_text(t.failed)} failed · {count_text(t.retrying)} retrying", link=t.link
            ),
            endpoints,
        ),
        value_tone="failed" if t.failed else "pending" if t.retrying else None,
        alert=bool(t.failed or disabled),
        link=t.link,
        tooltip=WEBHOOKS_EXPLAIN + ("\n\n" + tooltip if tooltip else ""),
    )


def recon_content(board: Dashboard) -> TileContent:
    t = board.recon
    if not t.imported:
        return TileContent(
            value="—",
            lines=(TileLine("No settlement report imported"), TileLine("Import one to match it")),
            link=t.link,
        )
    if not t.open_exceptions:
        return TileContent(
            value="0",
            value_tone="success",
            lines=(TileLine("Every settled line is explained"),),
            link=t.link,
        )
    differences = [
        f"{'+' if amount > 0 else '−'}{money.format_money(abs(amount), currency)}"
        for currency, amount in t.unexplained
    ]
    shown = " · ".join(differences[:2]) + (" · …" if len(differences) > 2 else "")
    return TileContent(
        value=count_text(t.open_exceptions),
        value_tone="failed",
        lines=(
            TileLine(f"{plural(t.open_exceptions, 'open exception')}", link=t.link),
            TileLine(
                f"Unexplained: {shown}" if differences else "No difference left unexplained",
                tone="failed" if differences else None,
                link=t.link,
            ),
        ),
        alert=bool(differences),
        link=t.link,
    )


def scheduler_content(board: Dashboard) -> TileContent:
    t = board.scheduler
    if not t.tasks:
        return TileContent(
            value="No runs yet",
            lines=(TileLine("No running copy has recorded a task run"),),
            link=t.link,
        )
    if t.ok:
        last = max((x.last_run_at for x in t.tasks if x.last_run_at), default=None)
        if last is None:
            ago = "not run yet"
        elif board.now - last < timedelta(minutes=1):
            ago = "last run just now"
        else:
            ago = f"last run {age_text(board.now - last)} ago"
        return TileContent(
            value="Healthy",
            value_tone="success",
            lines=(TileLine(f"{plural(len(t.tasks), 'task')} on time"), TileLine(ago.capitalize())),
            link=t.link,
        )
    problems = [x for x in t.tasks if x.erroring or x.late]
    parts = []
    if t.erroring:
        parts.append(f"{count_text(len(t.erroring))} failing")
    if t.late:
        parts.append(f"{count_text(len(t.late))} late")
    first = problems[0]
    return TileContent(
        value=" · ".join(parts),
        value_tone="failed",
        lines=(
            TileLine(
                first.sentence() or first.task,
                tone="failed",
                link=dashboard.JobsLink(task=first.task),
            ),
            TileLine(f"{plural(len(t.tasks), 'task')} in all"),
        ),
        badge=("Attention", "failed"),
        alert=True,
        link=t.link,
        tooltip="\n".join(x.sentence() or "" for x in problems),
    )


PAYMENTS_EXPLAIN = (
    "Payments created today (since local midnight), any status.\n"
    "Volume: the successful ones, per currency. Click a currency to open it."
)
RATE_EXPLAIN = (
    "Successful ÷ (successful + failed) today, against the seven days before today.\n"
    "Pending payments are not decided yet and are left out."
)
AWAITING_EXPLAIN = (
    "Refunds waiting for a finance decision. Red when the oldest has waited longer than\n"
    "the policy's auto-approve age."
)
PROCESSED_EXPLAIN = "Refunds processed today (since local midnight), per currency."
WEBHOOKS_EXPLAIN = (
    "Webhook deliveries failing now: failed ones, plus pending ones whose latest attempt\n"
    "failed and that are being retried. Below: endpoints that are disabled or failing."
)
RECON_EXPLAIN = (
    "Settlement lines that need a person (mismatches, lines Paydesk does not know, payments no\n"
    "settlement covered) and the difference they leave between settled and expected money."
)
SCHEDULER_EXPLAIN = (
    "The scheduler's tasks on every running copy: late, or failed on their last run."
)

TILES: tuple[tuple[str, str, str, str, Callable[[Dashboard], TileContent]], ...] = (
    ("payments_today", "payments", "Payments today", PAYMENTS_EXPLAIN, payments_today_content),
    ("success_rate", "trend", "Success rate today", RATE_EXPLAIN, success_rate_content),
    (
        "refunds_awaiting",
        "hourglass",
        "Refunds awaiting approval",
        AWAITING_EXPLAIN,
        refunds_awaiting_content,
    ),
    (
        "refunds_processed",
        "approve",
        "Refunds processed today",
        PROCESSED_EXPLAIN,
        refunds_processed_content,
    ),
    (
        "webhooks_failing",
        "delivery",
        "Webhook deliveries failing",
        WEBHOOKS_EXPLAIN,
        webhooks_failing_content,
    ),
    ("recon", "trend", "Reconciliation exceptions", RECON_EXPLAIN, recon_content),
    ("scheduler", "jobs", "Scheduler", SCHEDULER_EXPLAIN, scheduler_content),
)
