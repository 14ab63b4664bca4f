"""Matching again when payments or refunds change, in the background.

A late gateway sync can turn ``not_in_paydesk`` into ``matched``; a refund that is processed
turns ``not_captured`` into ``matched``. The task hears the change notices of payments and
refunds (on Postgres, every copy's), gathers their ids, and matches again the lines that name
or matched them. Notices are hints: each poll also matches again the lines still waiting for
a payment or refund to appear or change (``WAITING``), so a lost notice costs one interval.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sqlalchemy import exists, select

from core.access import policy
from core.context import Context
from core.jobs.task import Task
from core.recon import matching
from core.store.notify import Notice

TABLES = ("payments", "refunds")
# Lines that a change elsewhere can settle: the thing they name is missing or not yet final.
WAITING = (matching.NOT_IN_PAYDESK, matching.NOT_CAPTURED)
CHUNK = 5_000  # ids per statement (SQLite binds at most 32,766 values)
POLL_SECONDS = 300.0


class ChangedIds:
    """Ids heard in change notices since the last run (thread-safe: notices arrive on the
    listener's thread, runs on the scheduler's)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._ids.update(ids)

    def take(self) -> list[str]:
        with self._lock:
            ids, self._ids = self._ids, set()
        return sorted(ids)


def match_changed(ctx: Context, ids: list[str]) -> int:
    """Match again the lines about ``ids`` and, on a poll, the lines still waiting. Returns
    the lines looked at; nothing is read beyond one query when no report was imported."""
    L = matching.LINES
    with ctx.db.write() as session:
        if not session.scalar(select(exists().where(L.c.batch_id.is_not(None)))):
            return 0
        now = ctx.clock.now()
        cycle = int(policy.get(session, "recon_settlement_cycle_days"))
        waiting: Iterable[str | None] = session.scalars(
            select(L.c.ref_id)
            .where(L.c.state.in_(WAITING), L.c.ref_id.is_not(None))
            .order_by(L.c.state, L.c.id)
            .limit(CHUNK)
        )
        wanted = sorted(set(ids) | {i for i in waiting if i})
        return sum(
            matching.rematch(session, wanted[i : i + CHUNK], now, cycle)
            for i in range(0, len(wanted), CHUNK)
        )


def rematch_task() -> Task:
    changed = ChangedIds()

    def wake_on(notice: Notice) -> bool:
        if notice.table not in TABLES or not notice.ids:
            return False
        changed.add(notice.ids)
        return True

    def run(ctx: Context) -> str | None:
        looked_at = match_changed(ctx, changed.take())
        return f"Matched {looked_at:,} settlement lines again." if looked_at else None

    return Task(
        "recon_rematch",
        "Reconciliation: match again after changes",
        POLL_SECONDS,
        run,
        initial_delay=30.0,
        wake_on=wake_on,
    )
