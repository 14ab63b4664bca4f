"""Dashboard and health check timings over a large data set, on SQLite and Postgres.

Seeds 1,000,000 payments (and about 237,000 webhook logs with their attempts) through
``core.demo.generator`` once per database (kept for later runs; ``--reseed`` starts over), then prints:

- the seed time (the rollup triggers fire during the bulk load),
- on Postgres, the dashboard again after ``rollups.compact`` folded the triggers' delta rows,
- ``dashboard.load`` for each range in Asia/Kolkata (a half-hour offset) and
  America/New_York (daylight saving), median of ``--runs`` runs,
- ``paydesk health --json`` wall time including process start, median of ``--runs`` runs.

Budgets (DESIGN.md / issue 6): dashboard ≤ 300 ms, health ≤ 500 ms.

    /work/venv/bin/python bench/dashboard.py [--payments N] [--runs 7] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import text

from core.demo import generator as demo
from core.jobs.runs import record_task_run
from core.overview import dashboard, rollups
from core.store.db import Database, open_database
from core.store.migrate import upgrade

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_dashboard"
SQLITE = Path("/tmp/paydesk-bench/dashboard.sqlite3")
PAYDESK = Path(sys.executable).with_name("paydesk")
ZONES = ("Asia/Kolkata", "America/New_York")


def sqlite_url(reseed: bool) -> str:
    SQLITE.parent.mkdir(parents=True, exist_ok=True)
    if reseed:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{SQLITE}"


def postgres_url(reseed: bool) -> str:
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        if reseed:
            conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
    return f"{POSTGRES}?options=-csearch_path%3D{SCHEMA}"


def seed(db: Database, payments: int) -> datetime:
    """Seed once; returns the ``now`` the data was generated for."""
    with db.read() as session:
        count = session.execute(text("SELECT count(*) FROM payments")).scalar_one()
        oldest = session.execute(text("SELECT max(created_at) FROM payments")).scalar()
    if count:
        print(f"  reusing {count:,} payments")
        latest = datetime.fromisoformat(str(oldest)) if isinstance(oldest, str) else oldest
        return (latest if latest.tzinfo else latest.replace(tzinfo=UTC)).astimezone(UTC)
    now = datetime.now(UTC).replace(microsecond=0)
    start = time.perf_counter()
    summary = demo.seed(db, payments=payments, now=now)
    print(f"  seeded in {time.perf_counter() - start:.1f} s: {summary.sentence()}")
    with db.write() as session:
        for i, task in enumerate(("heartbeat", "webhook_dispatch", "refund_processing")):
            record_task_run(
                session,
                task=task,
                client_id="bench-1",
                at=now - timedelta(seconds=10 + i),
                outcome="ok",
                next_run_at=now + timedelta(seconds=5),
                interval=15.0,
            )
    if db.is_postgres:
        # What autovacuum does on a live server; without it the planner guesses blind.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return now


def time_dashboard(db: Database, now: datetime, runs: int) -> None:
    for zone in ZONES:
        tz = ZoneInfo(zone)
        for name in dashboard.RANGES:
            samples = []
            for _ in range(runs):
                with db.read() as session:
                    start = time.perf_counter()
                    board = dashboard.load(session, now=now, range=name, tz=tz)
                    samples.append(time.perf_counter() - start)
            print(
                f"  dashboard.load {name:>5} {zone:<17} median {statistics.median(samples) * 1000:6.1f} ms"
                f"  (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f};"
                f" {board.payments_today.count:,} payments today)"
            )


def time_health(url: str, runs: int) -> None:
    samples = []
    code = None
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [str(PAYDESK), "--database", url, "health", "--json"], capture_output=True, check=False
        )
        samples.append(time.perf_counter() - start)
        code = done.returncode
    print(
        f"  paydesk health --json  median {statistics.median(samples) * 1000:6.1f} ms"
        f"  (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f}; exit {code})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--reseed", action="store_true", help="drop the kept data and seed again")
    args = parser.parse_args()
    for kind in ("sqlite", "postgres"):
        if args.only and kind != args.only:
            continue
        url = sqlite_url(args.reseed) if kind == "sqlite" else postgres_url(args.reseed)
        print(f"{kind}:")
        db = open_database(url)
        try:
            upgrade(db)
            now = seed(db, args.payments)
            with db.read() as session:
                counts = {
                    t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in (
                        "payments",
                        "webhook_logs",
                        "webhook_attempts",
                        *rollups.ROLLUP_TABLES,
                    )
                }
            print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
            time_dashboard(db, now, args.runs)
            if db.is_postgres and counts["refund_rollup"] > 0:
                # The triggers append delta rows; the hourly compaction task folds them.
                start = time.perf_counter()
                removed = rollups.compact(db)
                print(
                    f"  rollups.compact: {removed:,} rows folded in "
                    f"{time.perf_counter() - start:.2f} s"
                )
                if removed:
                    time_dashboard(db, now, args.runs)
            time_health(url, args.runs)
        finally:
            db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
