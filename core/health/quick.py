"""``paydesk health`` through the database driver alone.

A monitor runs the health check every minute as a new process, and loading SQLAlchemy is most
of such a process's time. When the database answers and is at this Paydesk's schema, this
module reads the same facts as ``core.health.check.check`` with plain DB-API queries (``sqlite3`` or
psycopg) and builds the same report. Anything out of the ordinary (a URL it does not read, a
server that wants a password the URL lacks, an older or newer schema, a failing query) returns
None, and the full check runs: it knows the sentences for those cases.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

from core.access import policy_rules
from core.clock import utc
from core.health.report import (
    GATEWAYS_SQL,
    INTEGRITY_OK,
    CopyOnline,
    EndpointState,
    GatewayState,
    HealthReport,
    TaskRunRow,
    as_utc,
    assemble,
    tasks_from_runs,
)
from core.refunds.awaiting import AWAITING_SQL, Awaiting
from core.store.revisions import single_head

# The defaults of the policy keys the report shows (``core.access.policy.KEYS``; a test keeps the two
# equal). Loading core.access.policy would load SQLAlchemy.
DEFAULT_THRESHOLDS = {
    "health_task_late_seconds": 300,
    "health_webhook_backlog_max": 1000,
    "health_webhook_backlog_minutes": 15,
    "health_refund_wait_hours": 72,
    "health_disabled_endpoints_max": 0,
    "health_round_trip_ms": 1000,
    "health_min_copies_online": 0,
    "pro_rata_auto_approve_days": 14,
    "gateway_sync_interval_seconds": 30,
}
ONLINE_WITHIN = timedelta(seconds=60)  # core.jobs.presence.ONLINE_WITHIN (kept equal by a test)
CONNECT_TIMEOUT = 5
PASSWORD_PARAMS = ("password", "sslpassword")  # core.store.dburl.PASSWORD_PARAMS, shown as ***


@dataclass(frozen=True)
class _Target:
    kind: str  # "sqlite" / "postgres"
    masked: str  # as core.store.dburl renders it for people
    connect: Callable[[], Any]


def _sqlite(raw: str) -> _Target | None:
    database = unquote(raw[len("sqlite:///") :])
    if not database or "?" in database or database == ":memory:":
        return None
    path = Path(database).expanduser()
    if not path.is_file():
        return None  # the full check says so (and must not create it)
    masked = "sqlite:///" + quote(str(path), safe=" +/")
    return _Target("sqlite", masked, lambda: sqlite3.connect(str(path), timeout=CONNECT_TIMEOUT))


def _postgres(raw: str) -> _Target | None:
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        return None
    database = unquote(parts.path.lstrip("/"))
    if not database or parts.fragment:
        return None
    query = parse_qsl(parts.query, keep_blank_values=True)
    user = None if parts.username is None else unquote(parts.username)
    password = None if parts.password is None else unquote(parts.password)
    host = parts.hostname
    masked = "postgresql://"
    if user is not None:
        masked += quote(user, safe=" +") + (":***" if password is not None else "") + "@"
    if host:
        masked += f"[{host}]" if ":" in host else host
    if port is not None:
        masked += f":{port}"
    masked += "/" + quote(database, safe=" +/")
    if query:
        masked += "?" + "&".join(
            f"{quote_plus(k)}={'***' if k.lower() in PASSWORD_PARAMS else quote_plus(v)}"
            for k, v in sorted(query)
        )
    params: dict[str, Any] = dict(query)
    params.update(dbname=database, connect_timeout=CONNECT_TIMEOUT, autocommit=True)
    for name, value in (("user", user), ("password", password), ("host", host), ("port", port)):
        if value is not None:
            params[name] = value

    def connect() -> Any:
        import psycopg

        return psycopg.connect(**params)

    return _Target("postgres", masked, connect)


def _target(url: str) -> _Target | None:
    raw = url.strip()
    scheme = raw.partition("://")[0].lower()
    if scheme == "sqlite":
        return _sqlite(raw)
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        return _postgres(raw)
    return None  # a bare path, another driver: the full check reads those


def _same(t: datetime) -> datetime:
    return t


def _sqlite_time(t: datetime) -> str:
    # What a stored time is compared with: SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def light_check(url: str, now: datetime) -> HealthReport | None:
    """The health report of ``url`` at ``now``, or None when the full check must run."""
    target = _target(url)
    if target is None:
        return None
    try:
        return _read(target, utc(now))
    except Exception:  # anything unusual is the full check's to explain
        return None


def _read(target: _Target, now: datetime) -> HealthReport | None:
    head = single_head()
    if head is None:
        return None
    postgres = target.kind == "postgres"
    mark = "%s" if postgres else "?"
    at = _same if postgres else _sqlite_time
    with closing(target.connect()) as conn:
        cur = conn.cursor()
        start = time.perf_counter()
        cur.execute("SELECT 1").fetchall()
        round_trip_ms = round((time.perf_counter() - start) * 1000, 2)
        revision = cur.execute("SELECT version_num FROM alembic_version").fetchone()
        if revision is None or revision[0] != head:
            return None
        if not postgres and cur.execute("PRAGMA quick_check").fetchall() != [(INTEGRITY_OK,)]:
            return None  # a damaged file: the full check reports what quick_check found

        stored = dict(cur.execute("SELECT key, value FROM policy").fetchall())
        if any(policy_rules.decode(k, v)[1] for k, v in stored.items() if k in policy_rules.RULES):
            return None  # a stored value that cannot be used: the full check reports it
        limits = {
            k: int(json.loads(stored[k])) if k in stored else default
            for k, default in DEFAULT_THRESHOLDS.items()
        }
        grace = timedelta(seconds=limits["health_task_late_seconds"])
        runs = cur.execute(
            "SELECT task, title, last_run_at, outcome, message, client_id, next_run_at "
            "FROM task_runs ORDER BY task, last_run_at"
        ).fetchall()
        # last_run_at and last_seen are NOT NULL: as_utc gives them back as datetimes.
        tasks = tasks_from_runs(
            (
                TaskRunRow(r[0], r[1], cast(datetime, as_utc(r[2])), r[3], r[4], r[5], as_utc(r[6]))
                for r in runs
            ),
            now,
            grace,
        )
        backlog, oldest_due = cur.execute(
            "SELECT count(*), min(next_retry_at) FROM webhook_logs "
            f"WHERE status = 'pending' AND next_retry_at <= {mark}",
            (at(now),),
        ).fetchone()
        waiting = Awaiting.from_row(cur.execute(AWAITING_SQL).fetchone())
        endpoints = [
            EndpointState(*r)
            for r in cur.execute(
                "SELECT id, name, webhook_url, webhook_disabled_reason FROM merchants "
                "WHERE webhook_url IS NOT NULL AND NOT webhook_enabled ORDER BY name, id"
            ).fetchall()
        ]
        copies = [
            CopyOnline(r[0], r[1], r[2], r[3], r[4], cast(datetime, as_utc(r[5])))
            for r in cur.execute(
                'SELECT id, host, "user", kind, version, last_seen FROM clients '
                f"WHERE last_seen >= {mark} ORDER BY last_seen DESC, id",
                (at(now - ONLINE_WITHIN),),
            ).fetchall()
        ]
        gateways = [GatewayState.from_row(r) for r in cur.execute(GATEWAYS_SQL).fetchall()]
    return assemble(
        now=now,
        where=target.masked,
        mode="shared" if postgres else "standalone",
        round_trip_ms=round_trip_ms,
        revision=head,
        app_revision=head,
        limits=limits,
        problems=(),
        tasks=tasks,
        backlog=int(backlog),
        oldest_due=as_utc(oldest_due),
        awaiting=waiting.count,
        oldest_refund=waiting.oldest,
        endpoints=endpoints,
        copies=copies,
        gateways=gateways,
    )
