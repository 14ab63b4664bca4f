"""``paydesk demo --payments 1000000`` figures, on SQLite and Postgres. Budget: ≤ 30 s each.

Seeds N payments (default 1,000,000) into a fresh SQLite file and a fresh Postgres schema
with ``core.demo.generator.seed``, as the command does, and prints the seconds per stage, the total,
and payments and rows written per second.

    /work/venv/bin/python bench/demo_seed.py [--payments 1000000] [--only sqlite|postgres]
        [--postgres URL] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.demo import generator as demo
from core.store.db import Database, open_database
from core.store.migrate import upgrade

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="paydesk-bench-") as folder:
        db = open_database(f"sqlite:///{Path(folder) / 'demo.sqlite3'}")
        try:
            upgrade(db)
            yield db
        finally:
            db.dispose()


@contextmanager
def postgres_database(url: str) -> Iterator[Database]:
    schema = f"bench_demo_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    db = open_database(f"{url}{sep}options=-csearch_path%3D{schema}")
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run(name: str, db: Database, payments: int) -> float:
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(f"{stage}:{done}", time.perf_counter() - start)

    summary = demo.seed(db, payments=payments, progress=progress)
    seconds = time.perf_counter() - start
    rows = sum(summary.as_dict().values())
    loaded = marks.get("indexes:0", seconds)
    indexed = marks.get("indexes:1", seconds)
    print(
        f"{name:9s} {seconds:6.1f} s total  (load {loaded:.1f} s, indexes {indexed - loaded:.1f} s, "
        f"commit {seconds - indexed:.1f} s)  {payments / seconds:,.0f} payments/s  "
        f"{rows / seconds:,.0f} rows/s  [{rows:,} rows: {summary.sentence()}]",
        flush=True,
    )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--postgres", default=os.environ.get("PAYDESK_BENCH_POSTGRES", DEFAULT_PG))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(
        f"paydesk demo --payments {args.payments:,}: budget 30 s per database, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    for _ in range(args.runs):
        if args.only in (None, "sqlite"):
            with sqlite_database() as db:
                run("SQLite", db, args.payments)
        if args.only in (None, "postgres"):
            with postgres_database(args.postgres) as db:
                run("Postgres", db, args.payments)
    return 0


if __name__ == "__main__":  # the row generator runs in a child process that imports this
    sys.exit(main())
