"""Each copy's record of its task runs, in the ``task_runs`` table: what ``paydesk health``
and other copies' Jobs views read. The scheduler writes it; readers need no scheduler."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from core.clock import utc
from core.store.models import TaskRun

OUTCOMES = ("ok", "error")
# Rows of copies that stopped running a task are dropped after this long.
FORGET_RUNS_AFTER = timedelta(days=7)
MAX_MESSAGE = 500


def record_task_run(
    session: Session,
    *,
    task: str,
    client_id: str,
    at: datetime,
    outcome: str,
    message: str | None = None,
    next_run_at: datetime | None = None,
    title: str | None = None,
    interval: float | None = None,
    duration: float | None = None,
) -> None:
    """Record that ``client_id`` ran ``task`` at ``at`` with ``outcome`` ("ok" or "error").

    ``message`` is the run's short outcome text or error sentence, ``next_run_at`` when
    this copy runs it next (None: not scheduled again), ``interval`` and ``duration`` in
    seconds. One row per task and copy, replaced on each run; rows of copies that stopped
    a week ago are dropped. The caller commits (use ``db.write()``).
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    values: dict[str, Any] = {
        "task": task[:64],
        "client_id": client_id[:64],
        "title": None if title is None else title[:200],
        "interval_seconds": interval,
        "last_run_at": utc(at),
        "duration_ms": None if duration is None else round(duration * 1000),
        "outcome": outcome,
        "message": None if message is None else message[:MAX_MESSAGE],
        "next_run_at": None if next_run_at is None else utc(next_run_at),
    }
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(TaskRun).values(**values)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(TaskRun).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[TaskRun.task, TaskRun.client_id],
        set_={k: stmt.excluded[k] for k in values if k not in ("task", "client_id")},
    )
    session.execute(stmt)
    session.execute(delete(TaskRun).where(TaskRun.last_run_at < utc(at) - FORGET_RUNS_AFTER))
