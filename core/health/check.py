"""Is anything wrong right now? The facts behind ``paydesk health`` and the dashboard's
scheduler tile, read from the database so any process (cron, a monitoring agent, another
copy) can ask.

Each running copy's scheduler calls ``record_task_run`` after every task run; the health
check reads those rows back. A task is late when no copy has run it by its next run time
plus a grace period; it is erroring when its latest run (by any copy) failed.

Thresholds are policy settings (``health_*`` in ``core.access.policy``). Imports stay light (no
Alembic, no scheduler): ``paydesk health`` is mostly process start and loading SQLAlchemy.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.clock import utc
from core.health.report import (  # noqa: F401 - the report's names are used from here too
    GATEWAYS_SQL,
    CopyOnline,
    EndpointState,
    GatewayState,
    HealthReport,
    TaskHealth,
    TaskRunRow,
    age_text,
    as_utc,
    assemble,
    integrity_problem,
    reached,
    tasks_from_runs,
    unreachable,
)
from core.refunds.awaiting import awaiting_approval
from core.store.db import Database, explain_connect_error, first_line
from core.store.migrate import current_revision, head_revision, known_revisions
from core.store.models import Merchant, TaskRun, WebhookLog


def task_health(session: Session, now: datetime, grace: timedelta) -> list[TaskHealth]:
    """Each recorded task, by name: its latest run and whether it is late or erroring
    (``core.health.report.tasks_from_runs``)."""
    rows = session.execute(
        select(
            TaskRun.task,
            TaskRun.title,
            TaskRun.last_run_at,
            TaskRun.outcome,
            TaskRun.message,
            TaskRun.client_id,
            TaskRun.next_run_at,
        ).order_by(TaskRun.task, TaskRun.last_run_at)
    )
    return tasks_from_runs((TaskRunRow(*r) for r in rows), now, grace)


# Policy values the report uses besides the health_ thresholds.
ALSO_SHOWN = ("pro_rata_auto_approve_days", "gateway_sync_interval_seconds")


def _thresholds(session: Session) -> dict[str, int]:
    from core.access import policy

    values = policy.get_all(session)
    return {k: int(v) for k, v in values.items() if k.startswith("health_")} | {
        k: int(values[k]) for k in ALSO_SHOWN
    }


def _policy_problems(session: Session) -> list[str]:
    """A sentence for each stored policy value that cannot be used (its default is)."""
    from core.access import policy

    return [p.sentence() for p in policy.problems(session)]


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
            # Every page of an SQLite file is read: a damaged one is a problem to report even
            # when none of the checks below happens to touch it.
            integrity = (
                None
                if db.is_postgres
                else integrity_problem(r[0] for r in conn.exec_driver_sql("PRAGMA quick_check"))
            )
    except DBAPIError as exc:
        return unreachable(where, mode, explain_connect_error(exc, db.target), now)
    if app_revision is None:
        app_revision = head_revision()

    problems: list[str] = [integrity] if integrity else []
    if revision is None:
        problems.append("The database is not set up for Paydesk yet; run `paydesk db upgrade`.")
        return reached(where, mode, now, round_trip_ms, app_revision, problems)
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
    run("policy", _policy_problems)
    problems.extend(facts.get("policy", []))
    limits: dict[str, int] = facts.get("thresholds") or _default_thresholds()
    grace = timedelta(seconds=limits["health_task_late_seconds"])
    run("tasks", lambda s: task_health(s, now, grace))
    run("webhooks", lambda s: _webhook_backlog(s, now))
    run("refunds", _refunds_awaiting)
    run("endpoints", _disabled_endpoints)
    run("copies", lambda s: _copies_online(s, now))
    run("gateways", _gateways)

    tasks: list[TaskHealth] = facts.get("tasks", [])
    backlog, oldest_due = facts.get("webhooks", (0, None))
    awaiting, oldest_refund = facts.get("refunds", (0, None))
    endpoints: list[EndpointState] = facts.get("endpoints", [])
    copies: list[CopyOnline] = facts.get("copies", [])
    gateways: list[GatewayState] = facts.get("gateways", [])

    return assemble(
        now=now,
        where=where,
        mode=mode,
        round_trip_ms=round_trip_ms,
        revision=revision,
        app_revision=app_revision,
        limits=limits,
        problems=problems,
        tasks=tasks,
        backlog=backlog,
        oldest_due=oldest_due,
        awaiting=awaiting,
        oldest_refund=oldest_refund,
        endpoints=endpoints,
        copies=copies,
        gateways=gateways,
    )


def _default_thresholds() -> dict[str, int]:
    from core.access import policy

    return {k: int(p.default) for k, p in policy.KEYS.items() if k.startswith("health_")} | {
        k: int(policy.KEYS[k].default) for k in ALSO_SHOWN
    }


def _webhook_backlog(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """Deliveries whose next attempt is due: how many, and the oldest due time."""
    n, oldest = session.execute(
        select(func.count(), func.min(WebhookLog.next_retry_at)).where(
            WebhookLog.status == "pending", WebhookLog.next_retry_at <= now
        )
    ).one()
    return int(n), as_utc(oldest)


def _refunds_awaiting(session: Session) -> tuple[int, datetime | None]:
    waiting = awaiting_approval(session)
    return waiting.count, waiting.oldest


def _disabled_endpoints(session: Session) -> list[EndpointState]:
    # A merchant without an endpoint has nothing to deliver to: not a disabled endpoint.
    rows = session.execute(
        select(Merchant.id, Merchant.name, Merchant.webhook_url, Merchant.webhook_disabled_reason)
        .where(Merchant.webhook_url.is_not(None), Merchant.webhook_enabled.is_(False))
        .order_by(Merchant.name, Merchant.id)
    )
    return [EndpointState(*r) for r in rows]


def _gateways(session: Session) -> list[GatewayState]:
    return [GatewayState.from_row(r) for r in session.execute(text(GATEWAYS_SQL))]


def _copies_online(session: Session, now: datetime) -> list[CopyOnline]:
    from core.jobs.presence import online_clients

    return [
        CopyOnline(c.id, c.host, c.user, c.kind, c.version, c.last_seen)
        for c in online_clients(session, now)
    ]
