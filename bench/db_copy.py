"""`paydesk db copy` speed: a standalone SQLite file with N payments (default 1,000,000) copied
into a fresh Postgres schema. Prints seconds and rows per second (budget: 1M payments ≤ 60 s).

    python bench/db_copy.py [--payments N] [--postgres URL] [--keep FILE] [--back]

The SQLite file is seeded with `paydesk demo` when that command exists, otherwise with a
plain bulk insert (merchants, payments, and a share of refunds, webhook logs and attempts).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.store.db import open_database
from core.store.dbcopy import copy_database
from core.store.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "PAYDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CURRENCIES = ("INR", "INR", "INR", "USD", "EUR", "JPY")
METHODS = ("upi", "card", "netbanking", "wallet")
# The command line without the GUI launcher.
PAYDESK = [
    sys.executable,
    "-c",
    "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))",
]


def demo_command_exists() -> bool:
    done = subprocess.run(
        [*PAYDESK, "demo", "--help"],
        capture_output=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return done.returncode == 0


def seed_with_demo(path: Path, payments: int) -> None:
    subprocess.run(
        [
            *PAYDESK,
            "--database",
            f"sqlite:///{path}",
            "demo",
            "--payments",
            str(payments),
        ],
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )


def seed_by_bulk_insert(path: Path, payments: int) -> None:
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)

    def ts(i: int) -> str:
        return (start + timedelta(seconds=i * 17)).strftime("%Y-%m-%d %H:%M:%S.%f")

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    merchants = [f"mer_{i:04d}" for i in range(20)]
    conn.executemany(
        "INSERT INTO merchants (id, name, email, webhook_url, webhook_secret, webhook_enabled,"
        " webhook_consecutive_failures, created_at) VALUES (?, ?, ?, ?, ?, 1, 0, ?)",
        [
            (
                m,
                f"Merchant {i}",
                f"ops{i}@m{i}.example",
                f"https://m{i}.example/hook",
                "whsec_x",
                ts(0),
            )
            for i, m in enumerate(merchants)
        ],
    )
    chunk = 50_000
    for base in range(0, payments, chunk):
        rows = []
        for i in range(base, min(base + chunk, payments)):
            method = METHODS[i % 4]
            status = "success" if i % 10 else "failed"
            rows.append(
                (
                    f"pay_{i:012d}",
                    merchants[i % 20],
                    f"order_{i}",
                    rng.randrange(100, 5_000_000),
                    CURRENCIES[i % 6],
                    method,
                    status,
                    1 if status == "success" else 0,
                    f"cust{i}@mail.example" if method != "upi" else None,
                    f"cust{i}@okbank" if method == "upi" else None,
                    f"{i % 10000:04d}" if method == "card" else None,
                    None if status == "success" else "BAD_REQUEST_ERROR",
                    None if status == "success" else "Payment declined by the bank",
                    ts(i),
                    ts(i),
                )
            )
        conn.executemany(
            "INSERT INTO payments (id, merchant_id, order_id, amount, currency, method, status,"
            " captured, customer_email, customer_vpa, card_last4, error_code, error_description,"
            " refunded_amount, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            rows,
        )
    conn.commit()
    conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--payments", type=int, default=1_000_000)
    ap.add_argument("--postgres", default=POSTGRES_URL)
    ap.add_argument("--keep", type=Path, help="reuse or keep the seeded SQLite file here")
    ap.add_argument("--back", action="store_true", help="also time Postgres -> a new SQLite file")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "standalone.sqlite3"
        if not path.exists():
            t0 = time.perf_counter()
            how = "paydesk demo" if demo_command_exists() else "bulk insert"
            if how == "paydesk demo":
                seed_with_demo(path, args.payments)
            else:
                seed_by_bulk_insert(path, args.payments)
            print(
                f"seeded {args.payments:,} payments with {how} in {time.perf_counter() - t0:.1f} s"
            )

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in args.postgres else "?"
        target = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
        try:
            t0 = time.perf_counter()
            report = copy_database(f"sqlite:///{path}", target)
            seconds = time.perf_counter() - t0
            if args.back:
                t0 = time.perf_counter()
                copy_database(target, f"sqlite:///{Path(tmp) / 'back.sqlite3'}")
                back_seconds = time.perf_counter() - t0
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    pay = report.table("payments").rows
    print(f"SQLite -> Postgres: {report.rows:,} rows ({pay:,} payments) in {seconds:.1f} s")
    print(f"  {report.rows / seconds:,.0f} rows/s; budget for 1,000,000 payments: 60 s")
    if args.back:
        print(f"Postgres -> SQLite: {report.rows:,} rows in {back_seconds:.1f} s")
    for t in report.tables:
        print(f"  {t.name:<18} {t.rows:>10,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
