"""``paydesk health [--json]``: is anything wrong right now? For cron and monitoring agents.

Exit 0 when healthy, 1 when a threshold (policy ``health_*``) is crossed, 2 when the
database cannot be reached. Nothing is written, and the schema is not migrated.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from core import settings
from core.cli.text import say
from core.clock import system_clock
from core.health.quick import light_check
from core.health.report import HealthReport, age_text

if TYPE_CHECKING:
    from core.store.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "health", help="check the database, jobs and queues (exit 0 ok, 1 problem, 2 unreachable)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_health)


def run_health(args: argparse.Namespace) -> int:
    now = system_clock.now()
    # Not core.cli.common: it loads Alembic, which this command does without.
    url = settings.resolve_database_url(args.database, demo=args.demo)
    # The usual case through the driver alone; anything else through the full check.
    report = light_check(url, now) or _full_check(url, now)
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_text(report)
    return report.exit_code


def _full_check(url: str, now: datetime) -> HealthReport:
    from core.errors import DatabaseUnavailable
    from core.health.check import check, unreachable
    from core.store import dburl

    target = dburl.parse(url)
    mode = "standalone" if target.is_sqlite else "shared"
    path = target.sqlite_path
    if path is not None and not path.exists():
        # Opening would create an empty file; a health check must not.
        return unreachable(target.masked(), mode, f"The database file {path} does not exist.", now)
    try:
        db = _open(url)
    except DatabaseUnavailable as exc:
        return unreachable(target.masked(), mode, exc.message, now)
    try:
        return check(db, now)
    finally:
        db.dispose()


def _open(url: str) -> Database:
    """Connect; the keyring is asked only when the server wants a password the URL lacks
    (loading it would cost a fifth of this command's time budget)."""
    from core.errors import DatabaseUnavailable
    from core.store.db import open_database

    try:
        return open_database(url, pool_size=1, use_keyring=False)
    except DatabaseUnavailable as exc:
        if "password" not in exc.message:
            raise
    return open_database(url, pool_size=1)


def _when(report: HealthReport, at: datetime | None) -> str:
    if at is None:
        return "never"
    delta = report.checked_at - at
    if delta.total_seconds() >= 0:
        return f"{age_text(delta)} ago"
    return f"in {age_text(-delta)}"


def _print_text(report: HealthReport) -> None:
    headline = {"healthy": "healthy", "unhealthy": "UNHEALTHY", "unreachable": "UNREACHABLE"}
    say(f"Paydesk health: {headline[report.status]} ({report.database}, {report.mode})")
    if report.reachable:
        say(f"  database   round trip {report.round_trip_ms:.1f} ms")
        say(
            f"  schema     {report.schema_revision or 'none'} (this Paydesk: {report.app_revision})"
        )
        for t in report.tasks:
            state = "LATE" if t.late else ("ERROR" if t.erroring else "ok")
            say(
                f"  task       {t.task}: {state}, last run {_when(report, t.last_run_at)}"
                f" by {t.client_id}, next {_when(report, t.next_run_at)}"
                + (f" — {t.message}" if t.message else "")
            )
        if not report.tasks:
            say("  tasks      no copy has recorded a task run yet")
        age = report.webhook_backlog_age
        say(
            f"  webhooks   {report.webhook_backlog:,} deliveries due"
            + (f", the oldest for {age_text(age)}" if age is not None else "")
        )
        age = report.refund_oldest_age
        say(
            f"  refunds    {report.refunds_awaiting:,} awaiting approval"
            + (f", the oldest for {age_text(age)}" if age is not None else "")
        )
        for e in report.disabled_endpoints:
            say(
                f"  endpoint   {e.name} ({e.merchant_id}) disabled: {e.reason or 'no reason given'}"
            )
        say(f"  copies     {len(report.copies_online)} online")
        for c in report.copies_online:
            say(
                f"             {c.host} ({c.user}, {c.kind} {c.version}),"
                f" seen {_when(report, c.last_seen)}"
            )
    for problem in report.problems:
        say(f"  problem    {problem}")
