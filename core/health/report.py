"""The health report and the sentences of its problems: plain data, no database code, so the
quick path of ``paydesk health`` (``core.health.quick``) and the full one (``core.health.check``)
build the same report from the same facts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from core.clock import (
    as_utc,
    utc,
)


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


# A connection is stale when it has not synced for this many of its intervals.
STALE_INTERVALS = 5
GATEWAYS_SQL = (
    "SELECT name, added_at, last_sync_at, last_sync_outcome, last_error "
    "FROM gateway_connections WHERE NOT removed ORDER BY name"
)


@dataclass(frozen=True)
class GatewayState:
    """A gateway connection Paydesk syncs (``core.gateway``): when it last synced."""

    name: str
    added_at: datetime
    last_sync_at: datetime | None
    outcome: str | None  # of the last sync: ok / partial / error
    last_error: str | None

    @staticmethod
    def from_row(row: Sequence[Any]) -> GatewayState:
        name, added_at, last_sync_at, outcome, last_error = row
        # added_at is NOT NULL: as_utc gives it back as a datetime.
        added = cast(datetime, as_utc(added_at))
        return GatewayState(str(name), added, as_utc(last_sync_at), outcome, last_error)

    def stale_for(self, now: datetime, interval: timedelta) -> timedelta | None:
        """How long it has gone without syncing, when that is ``STALE_INTERVALS`` intervals
        or more (a connection never synced counts from when it was added)."""
        since = now - (self.last_sync_at or self.added_at)
        return since if since >= interval * STALE_INTERVALS else None


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
    gateways: tuple[GatewayState, ...] = ()
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
            "gateways": [
                {
                    "name": g.name,
                    "last_sync_at": iso(g.last_sync_at),
                    "last_sync_outcome": g.outcome,
                    "last_error": g.last_error,
                }
                for g in self.gateways
            ],
            "thresholds": dict(self.thresholds),
        }


# What ``PRAGMA quick_check`` answers for an SQLite file with nothing wrong in it.
INTEGRITY_OK = "ok"


def integrity_problem(rows: Iterable[str]) -> str | None:
    """The problem sentence for what ``PRAGMA quick_check`` answered (one text per row), or
    None when it found nothing wrong."""
    lines = [
        line.strip()
        for row in rows
        for line in str(row).splitlines()
        if line.strip() and not line.startswith("***")
    ]
    if not lines or lines == [INTEGRITY_OK]:
        return None
    more = f", and {len(lines) - 1:,} more" if len(lines) > 1 else ""
    return (
        f"The database file is damaged (PRAGMA quick_check: {lines[0].rstrip('.')}{more}); "
        "stop Paydesk on this file and restore the latest backup."
    )


def unreachable(database: str, mode: str, sentence: str, now: datetime) -> HealthReport:
    """The report when the database cannot be reached (exit code 2)."""
    return HealthReport(
        checked_at=utc(now), database=database, mode=mode, reachable=False, problems=(sentence,)
    )


def reached(
    database: str,
    mode: str,
    now: datetime,
    round_trip_ms: float,
    app_revision: str,
    problems: Sequence[str],
) -> HealthReport:
    """The report of a database that answered, with only what the first round trip found:
    the whole report for one not set up for Paydesk, the base ``assemble`` adds to."""
    return HealthReport(
        checked_at=now,
        database=database,
        mode=mode,
        reachable=True,
        round_trip_ms=round_trip_ms,
        app_revision=app_revision,
        problems=tuple(problems),
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
    gateways: Sequence[GatewayState] = (),
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
    interval = timedelta(seconds=limits.get("gateway_sync_interval_seconds", 30))
    for g in gateways:
        stale = g.stale_for(now, interval)
        if stale is not None:
            never = "has never synced" if g.last_sync_at is None else "has not synced"
            why = f"; the last sync failed: {g.last_error.rstrip('.')}" if g.last_error else ""
            problems.append(
                f"The gateway connection {g.name} {never} for {age_text(stale)}, "
                f"{STALE_INTERVALS} or more sync intervals{why}."
            )

    return replace(
        reached(where, mode, now, round_trip_ms, app_revision, problems),
        schema_revision=revision,
        tasks=tuple(tasks),
        webhook_backlog=backlog,
        webhook_backlog_oldest_due=oldest_due,
        refunds_awaiting=awaiting,
        refund_oldest_requested_at=oldest_refund,
        disabled_endpoints=tuple(endpoints),
        copies_online=tuple(copies),
        gateways=tuple(gateways),
        thresholds=limits,
    )
