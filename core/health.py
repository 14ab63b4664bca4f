"""Is anything wrong right now? The facts behind ``paydesk health`` and the dashboard's
scheduler tile, read from the database so any process (cron, a monitoring agent, another
copy) can ask.

Each running copy's scheduler calls ``record_task_run`` after every task run; the health
check reads those rows back. A task is late when no copy has run it by its next run time
plus a grace period; it is erroring when its latest run (by any copy) failed.

Thresholds are policy settings (``health_*`` in ``core.policy``). Imports stay light (no
Alembic, no scheduler): ``paydesk health`` is mostly process start and loading SQLAlchemy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.clock import utc
from core.db import Database, explain_connect_error, first_line
from core.migrate import current_revision, head_revision, known_revisions
from core.models import Merchant, Refund, TaskRun, WebhookLog

OUTCOMES = ("ok", "error")
# Rows of copies that stopped running a task are dropped after this long.
FORGET_RUNS_AFTER = timedelta(days=7)
MAX_MESSAGE = 500


# -- task runs ---------------------------------------------------------------------------------


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
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(TaskRun).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[TaskRun.task, TaskRun.client_id],
        set_={k: stmt.excluded[k] for k in values if k not in ("task", "client_id")},
    )
    session.execute(stmt)
    session.execute(delete(TaskRun).where(TaskRun.last_run_at < utc(at) - FORGET_RUNS_AFTER))


@dataclass(frozen=True)
class TaskHealth:
    """One task across every copy that runs it."""

    task: str
    title: str | None
    last_run_at: datetime | None
    outcome: str | None  # of the latest run: "ok" / "error"
    message: str | None
    client_id: str | None  # the copy that ran it last
    next_run_at: datetime | None  # the soonest any copy still plans to run it
    late_by: timedelta | None  # past next_run_at + grace; None when on time

    @property
    def late(self) -> bool:
        return self.late_by is not None

    @property
    def erroring(self) -> bool:
        return self.outcome == "error"

    def sentence(self) -> str | None:
        """What is wrong with the task, or None."""
        name = self.title or self.task
        if self.erroring:
            why = (self.message or "no message").rstrip(".")
            return f"The task {name!r} failed on its last run: {why}."
        if self.late_by is not None:
            return f"The task {name!r} is {age_text(self.late_by)} late; no running copy ran it."
        return None


def task_health(session: Session, now: datetime, grace: timedelta) -> list[TaskHealth]:
    """Each recorded task, by name: its latest run and whether it is late or erroring.

    A task is late when every copy's planned next run lies more than ``grace`` before
    ``now`` (so a copy that stopped does not make it late while another copy runs it).
    """
    now = utc(now)
    by_task: dict[str, list[TaskRun]] = {}
    for row in session.scalars(select(TaskRun).order_by(TaskRun.task, TaskRun.last_run_at)):
        by_task.setdefault(row.task, []).append(row)
    out = []
    for name, rows in by_task.items():
        last = rows[-1]
        planned = [r.next_run_at for r in rows if r.next_run_at is not None]
        # The latest plan of the copies: a live copy keeps pushing it forward.
        next_run = max(planned) if planned else None
        late_by = None
        if next_run is not None and now > next_run + grace:
            late_by = now - next_run
        out.append(
            TaskHealth(
                task=name,
                title=next((r.title for r in reversed(rows) if r.title), None),
                last_run_at=last.last_run_at,
                outcome=last.outcome,
                message=last.message,
                client_id=last.client_id,
                next_run_at=next_run,
                late_by=late_by,
            )
        )
    return out


# -- the health report -------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointState:
    """A merchant's webhook endpoint that is disabled."""

    merchant_id: str
    name: str
    url: str | None
    reason: str | None


@dataclass(frozen=True)
class CopyOnline:
    """A running copy of Paydesk (the app or a worker) seen recently."""

    client_id: str
    host: str
    user: str
    kind: str
    version: str
    last_seen: datetime


@dataclass(frozen=True)
class HealthReport:
    """Everything ``paydesk health`` checks. ``problems`` lists each crossed threshold as one
    sentence; ``exit_code`` is 0 (healthy), 1 (a problem) or 2 (database unreachable)."""

    checked_at: datetime
    database: str
    mode: str
    reachable: bool
    round_trip_ms: float | None = None
    schema_revision: str | None = None
    app_revision: str | None = None
    tasks: tuple[TaskHealth, ...] = ()
    webhook_backlog: int = 0
    webhook_backlog_oldest_due: datetime | None = None
    refunds_awaiting: int = 0
    refund_oldest_requested_at: datetime | None = None
    disabled_endpoints: tuple[EndpointState, ...] = ()
    copies_online: tuple[CopyOnline, ...] = ()
    thresholds: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.reachable and not self.problems

    @property
    def exit_code(self) -> int:
        if not self.reachable:
            return 2
        return 0 if not self.problems else 1

    @property
    def status(self) -> str:
        if not self.reachable:
            return "unreachable"
        return "healthy" if not self.problems else "unhealthy"

    @property
    def webhook_backlog_age(self) -> timedelta | None:
        if self.webhook_backlog_oldest_due is None:
            return None
        return max(self.checked_at - self.webhook_backlog_oldest_due, timedelta(0))

    @property
    def refund_oldest_age(self) -> timedelta | None:
        if self.refund_oldest_requested_at is None:
            return None
        return max(self.checked_at - self.refund_oldest_requested_at, timedelta(0))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 UTC, ages in seconds)."""

        def iso(dt: datetime | None) -> str | None:
            return None if dt is None else utc(dt).isoformat().replace("+00:00", "Z")

        def secs(td: timedelta | None) -> float | None:
            return None if td is None else round(td.total_seconds(), 3)

        return {
            "status": self.status,
            "healthy": self.healthy,
            "checked_at": iso(self.checked_at),
            "problems": list(self.problems),
            "database": {
                "target": self.database,
                "mode": self.mode,
                "reachable": self.reachable,
                "round_trip_ms": self.round_trip_ms,
            },
            "schema": {
                "database": self.schema_revision,
                "app": self.app_revision,
                "current": self.reachable and self.schema_revision == self.app_revision,
            },
            "tasks": [
                {
                    "task": t.task,
                    "title": t.title,
                    "last_run_at": iso(t.last_run_at),
                    "outcome": t.outcome,
                    "message": t.message,
                    "client_id": t.client_id,
                    "next_run_at": iso(t.next_run_at),
                    "late": t.late,
                    "late_seconds": secs(t.late_by),
                }
                for t in self.tasks
            ],
            "webhooks": {
                "due": self.webhook_backlog,
                "oldest_due_at": iso(self.webhook_backlog_oldest_due),
                "oldest_age_seconds": secs(self.webhook_backlog_age),
            },
            "refunds": {
                "awaiting_approval": self.refunds_awaiting,
                "oldest_requested_at": iso(self.refund_oldest_requested_at),
                "oldest_age_seconds": secs(self.refund_oldest_age),
            },
            "disabled_endpoints": [
                {"merchant_id": e.merchant_id, "name": e.name, "url": e.url, "reason": e.reason}
                for e in self.disabled_endpoints
            ],
            "copies_online": [
                {
                    "client_id": c.client_id,
                    "host": c.host,
                    "user": c.user,
                    "kind": c.kind,
                    "version": c.version,
                    "last_seen": iso(c.last_seen),
                }
                for c in self.copies_online
            ],
            "thresholds": dict(self.thresholds),
        }


def unreachable(database: str, mode: str, sentence: str, now: datetime) -> HealthReport:
    """The report when the database cannot be reached (exit code 2)."""
    return HealthReport(
        checked_at=utc(now), database=database, mode=mode, reachable=False, problems=(sentence,)
    )


def age_text(td: timedelta) -> str:
    """``3 d 4 h`` / ``2 h 5 min`` / ``40 s``: how long, for a sentence."""
    seconds = int(td.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _thresholds(session: Session) -> dict[str, int]:
    from core import policy

    values = policy.get_all(session)
    return {k: int(v) for k, v in values.items() if k.startswith("health_")} | {
        "pro_rata_auto_approve_days": int(values["pro_rata_auto_approve_days"])
    }


def check(db: Database, now: datetime, *, app_revision: str | None = None) -> HealthReport:
    """Check the database ``db`` at ``now`` against the policy's thresholds.

    Raises nothing for a failing check: every problem is a sentence in the report. A
    database that cannot be reached gives a report with ``reachable=False`` (exit code 2).
    ``app_revision`` is the schema this Paydesk expects (default: the migrations' head).
    """
    now = utc(now)
    mode = "shared" if db.is_postgres else "standalone"
    where = db.target.masked()
    try:
        with db.engine.connect() as conn:
            start = time.perf_counter()
            conn.execute(text("SELECT 1"))
            round_trip_ms = round((time.perf_counter() - start) * 1000, 2)
            conn.rollback()
            revision = current_revision(conn)
    except DBAPIError as exc:
        return unreachable(where, mode, explain_connect_error(exc, db.target), now)
    if app_revision is None:
        app_revision = head_revision()

    problems: list[str] = []
    if revision is None:
        problems.append("The database is not set up for Paydesk yet; run `paydesk db upgrade`.")
        return HealthReport(
            checked_at=now,
            database=where,
            mode=mode,
            reachable=True,
            round_trip_ms=round_trip_ms,
            app_revision=app_revision,
            problems=tuple(problems),
        )
    if revision != app_revision:
        if revision in known_revisions():
            advice = "run `paydesk db upgrade`"
        else:
            advice = "it was set up by a newer Paydesk; update this one"
        problems.append(
            f"The database schema is {revision} but this Paydesk expects {app_revision}; {advice}."
        )

    facts: dict[str, Any] = {}

    def run(name: str, fn: Any) -> None:
        # One failing check (a table an older schema lacks) must not hide the others.
        try:
            with db.read() as session:
                facts[name] = fn(session)
        except DBAPIError as exc:
            problems.append(f"Checking {name} failed: {first_line(str(exc.orig or exc))}.")

    run("thresholds", _thresholds)
    limits: dict[str, int] = facts.get("thresholds") or _default_thresholds()
    grace = timedelta(seconds=limits["health_task_late_seconds"])
    run("tasks", lambda s: task_health(s, now, grace))
    run("webhooks", lambda s: _webhook_backlog(s, now))
    run("refunds", _refunds_awaiting)
    run("endpoints", _disabled_endpoints)
    run("copies", lambda s: _copies_online(s, now))

    tasks: list[TaskHealth] = facts.get("tasks", [])
    backlog, oldest_due = facts.get("webhooks", (0, None))
    awaiting, oldest_refund = facts.get("refunds", (0, None))
    endpoints: list[EndpointState] = facts.get("endpoints", [])
    copies: list[CopyOnline] = facts.get("copies", [])

    limit = limits["health_round_trip_ms"]
    if limit and round_trip_ms > limit:
        problems.append(f"A database round trip took {round_trip_ms:.0f} ms, more than {limit} ms.")
    problems.extend(s for s in (t.sentence() for t in tasks) if s)
    limit = limits["health_webhook_backlog_max"]
    if limit and backlog > limit:
        problems.append(f"{backlog:,} webhook deliveries are due, more than {limit:,}.")
    limit = limits["health_webhook_backlog_minutes"]
    if limit and oldest_due is not None and now - oldest_due > timedelta(minutes=limit):
        problems.append(
            f"The oldest due webhook delivery has waited {age_text(now - oldest_due)}, "
            f"more than {limit} min."
        )
    limit = limits["health_refund_wait_hours"]
    if limit and oldest_refund is not None and now - oldest_refund > timedelta(hours=limit):
        problems.append(
            f"The oldest refund awaiting approval was requested {age_text(now - oldest_refund)} "
            f"ago, more than {limit} h."
        )
    limit = limits["health_disabled_endpoints_max"]
    if len(endpoints) > limit:
        names = ", ".join(e.name for e in endpoints[:5]) + (", ..." if len(endpoints) > 5 else "")
        problems.append(
            f"{len(endpoints)} webhook endpoint{'s are' if len(endpoints) != 1 else ' is'} "
            f"disabled ({names}), more than {limit}."
        )
    limit = limits["health_min_copies_online"]
    if mode == "shared" and limit and len(copies) < limit:
        online = (
            "1 copy of Paydesk is" if len(copies) == 1 else f"{len(copies)} copies of Paydesk are"
        )
        problems.append(f"{online} online, fewer than {limit}.")

    return HealthReport(
        checked_at=now,
        database=where,
        mode=mode,
        reachable=True,
        round_trip_ms=round_trip_ms,
        schema_revision=revision,
        app_revision=app_revision,
        tasks=tuple(tasks),
        webhook_backlog=backlog,
        webhook_backlog_oldest_due=oldest_due,
        refunds_awaiting=awaiting,
        refund_oldest_requested_at=oldest_refund,
        disabled_endpoints=tuple(endpoints),
        copies_online=tuple(copies),
        thresholds=limits,
        problems=tuple(problems),
    )


def _default_thresholds() -> dict[str, int]:
    from core import policy

    return {k: int(p.default) for k, p in policy.KEYS.items() if k.startswith("health_")} | {
        "pro_rata_auto_approve_days": int(policy.KEYS["pro_rata_auto_approve_days"].default)
    }


def _webhook_backlog(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """Deliveries whose next attempt is due: how many, and the oldest due time."""
    n, oldest = session.execute(
        select(func.count(), func.min(WebhookLog.next_retry_at)).where(
            WebhookLog.status == "pending", WebhookLog.next_retry_at <= now
        )
    ).one()
    return int(n), _aware(oldest)


def _refunds_awaiting(session: Session) -> tuple[int, datetime | None]:
    n, oldest = session.execute(
        select(func.count(), func.min(Refund.created_at)).where(Refund.status == "pending_approval")
    ).one()
    return int(n), _aware(oldest)


def _disabled_endpoints(session: Session) -> list[EndpointState]:
    # A merchant without an endpoint has nothing to deliver to: not a disabled endpoint.
    rows = session.execute(
        select(Merchant.id, Merchant.name, Merchant.webhook_url, Merchant.webhook_disabled_reason)
        .where(Merchant.webhook_url.is_not(None), Merchant.webhook_enabled.is_(False))
        .order_by(Merchant.name, Merchant.id)
    )
    return [EndpointState(*r) for r in rows]


def _copies_online(session: Session, now: datetime) -> list[CopyOnline]:
    from core.presence import online_clients

    return [
        CopyOnline(c.id, c.host, c.user, c.kind, c.version, c.last_seen)
        for c in online_clients(session, now)
    ]


def _aware(value: Any) -> datetime | None:
    # Aggregates (min) come back without the column type: naive text on SQLite.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value)
