"""The health report and the sentences of its problems: plain data, no database code, so the
quick path of ``paydesk health`` (``core.health_light``) and the full one (``core.health``)
build the same report from the same facts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from core.clock import utc


class TaskRunRow(NamedTuple):
    """One row of ``task_runs`` (one task in one copy)."""

    task: str
    title: str | None
    last_run_at: datetime
    outcome: str
    message: str | None
    client_id: str
    next_run_at: datetime | None


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


def tasks_from_runs(
    runs: Iterable[TaskRunRow], now: datetime, grace: timedelta
) -> list[TaskHealth]:
    """Each task of ``runs`` (ordered by task, then last run): its latest run and whether it
    is late or erroring. A task is late when every copy's planned next run lies more than
    ``grace`` before ``now`` (so a copy that stopped does not make it late while another
    copy runs it)."""
    now = utc(now)
    by_task: dict[str, list[TaskRunRow]] = {}
    for row in runs:
        by_task.setdefault(row.task, []).append(row)
    out = []
    for name, rows in by_task.items():
        last = rows[-1]
        planned = [utc(r.next_run_at) for r in rows if r.next_run_at is not None]
        # The latest plan of the copies: a live copy keeps pushing it forward.
        next_run = max(planned) if planned else None
        late_by = None
        if next_run is not None and now > next_run + grace:
            late_by = now - next_run
        out.append(
            TaskHealth(
                task=name,
                title=next((r.title for r in reversed(rows) if r.title), None),
                last_run_at=utc(last.last_run_at),
                outcome=last.outcome,
                message=last.message,
                client_id=last.client_id,
                next_run_at=next_run,
                late_by=late_by,
            )
        )
    return out


# -- the report -------------------------------------------------------------------------


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


def as_utc(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime: aggregates (min) and plain DB-API reads of
    SQLite come back as naive UTC text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value)


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


def assemble(
    *,
    now: datetime,
    where: str,
    mode: str,
    round_trip_ms: float,
    revision: str,
    app_revision: str,
    limits: dict[str, int],
    problems: Sequence[str],
    tasks: Sequence[TaskHealth],
    backlog: int,
    oldest_due: datetime | None,
    awaiting: int,
    oldest_refund: datetime | None,
    endpoints: Sequence[EndpointState],
    copies: Sequence[CopyOnline],
) -> HealthReport:
    """The report of a reachable database from what was read, with a sentence for each
    threshold crossed (after ``problems``, the ones found while reading)."""
    problems = list(problems)
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
