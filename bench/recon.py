"""Reconciliation speed: import and match an N-line ``razorpay`` settlement report (default
1,000,000) against N payments, on SQLite and on Postgres. Prints the import-and-match time and
the importing process's peak RSS (budget ≤ 60 s, ≤ 300 MB), the time to match again after one
payment changes (≤ 100 ms) and to open the exceptions list (≤ 40 ms).

    python bench/recon.py [--lines N] [--db sqlite|postgres|both] [--postgres URL]

The payments are bulk-inserted (99.9 % successful); the report settles every successful payment
(a 2 % fee, of which 18 % tax) in daily batches, with a few hundred discrepancies planted. Each
import runs in a fresh process, so its RSS is the import's own.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.context import Context  # noqa: E402
from core.recon.formats import RAZORPAY_COLUMNS  # noqa: E402
from core.store.db import open_database  # noqa: E402
from core.store.migrate import upgrade  # noqa: E402

ACTOR = "bench"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _ctx(url: str) -> Context:
    from core.clock import FrozenClock

    db = open_database(url, use_keyring=False)
    return Context(db=db, clock=FrozenClock(NOW), client_id="bench")


def seed_payments(ctx: Context, count: int) -> None:
    """``count`` payments over the 60 days before NOW: 99.9 % successful and captured (the
    report then has about ``count`` lines)."""
    import random
    from datetime import timedelta

    from sqlalchemy import insert

    from core.store.models import Merchant, Payment

    rng = random.Random(7)
    with ctx.db.write() as s:
        s.add(Merchant(id="mer_bench", name="Bench", email="b@example.com", created_at=NOW))
    table = Payment.__table__
    for start in range(0, count, 20_000):
        rows = []
        for n in range(start, min(count, start + 20_000)):
            at = NOW - timedelta(seconds=rng.randrange(60 * 86_400))
            ok = rng.random() < 0.999
            rows.append(
                {
                    "id": f"pay_bench{n:09d}",
                    "merchant_id": "mer_bench",
                    "order_id": f"order_{n}",
                    "amount": rng.randrange(100, 5_000_000),
                    "currency": "INR",
                    "method": "upi",
                    "status": "success" if ok else "failed",
                    "captured": ok,
                    "refunded_amount": 0,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        with ctx.db.write() as s:
            s.execute(insert(table), rows)


def prepare(url: str, lines: int, report: Path) -> None:
    from sqlalchemy import select

    from core.access import roles
    from core.store.models import Payment

    ctx = _ctx(url)
    upgrade(ctx.db)
    roles.ensure_first_admin(ctx, ACTOR)
    started = time.perf_counter()
    seed_payments(ctx, lines)
    print(f"  seeded {lines:,} payments in {time.perf_counter() - started:.1f} s")
    written = 0
    with report.open("w", newline="", encoding="utf-8") as fh, ctx.db.read() as s:
        out = csv.writer(fh)
        out.writerow(RAZORPAY_COLUMNS)
        base = dict.fromkeys(RAZORPAY_COLUMNS, "")
        rows = s.execute(
            select(
                Payment.id, Payment.amount, Payment.currency, Payment.created_at, Payment.order_id
            )
            .where(Payment.status == "success")
            .order_by(Payment.created_at)
            .execution_options(yield_per=20_000)
        )
        for n, (pid, amount, currency, created, order) in enumerate(rows):
            if n % 5000 == 1:
                amount -= 1  # an amount mismatch
            if n % 9973 == 2:
                pid, order = f"pay_unknown{n:07d}", ""  # not in Paydesk
            if n % 7919 == 3:
                continue  # missing from settlement
            fee = amount * 2 // 100
            day = created.strftime("%Y%m%d")
            row = base | {
                "entity_id": pid,
                "type": "payment",
                "amount": amount,
                "currency": currency,
                "fee": fee,
                "tax": fee * 18 // 118,
                "credit": amount - fee,
                "debit": 0,
                "settled": 1,
                "created_at": int(created.timestamp()),
                "settled_at": int(created.timestamp()) + 2 * 86_400,
                "settlement_id": f"setl_{day}",
                "settlement_utr": f"UTR{day}",
                "order_id": order,
            }
            out.writerow(row.values())
            written += 1
            if written >= lines:
                break
    print(f"  wrote {written:,} report lines ({report.stat().st_size / 1e6:.0f} MB)")
    ctx.db.dispose()


def run_import(url: str, report: Path) -> None:
    """In its own process: import, then print one JSON line of figures."""
    from sqlalchemy import select, update

    from core.recon import importer
    from core.recon import service as recon
    from core.store.models import Payment

    ctx = _ctx(url)
    started = time.perf_counter()
    result = importer.import_report(ctx, ACTOR, report)
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with ctx.db.read() as s:
        pid = s.scalar(select(Payment.id).where(Payment.status == "success").limit(1))
    with ctx.db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(amount=Payment.amount + 1))
    again = []
    for _ in range(5):
        t = time.perf_counter()
        recon.match_again(ctx, ACTOR, [pid])
        again.append((time.perf_counter() - t) * 1000)
    opens = []
    for _ in range(5):
        t = time.perf_counter()
        with ctx.db.read() as s:
            rows = recon.lines(s, recon.LineFilter(open_only=True), limit=100)
        opens.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    with ctx.db.read() as s:
        batches = recon.summary(s)
    summary_ms = (time.perf_counter() - t) * 1000
    print(
        json.dumps(
            {
                "lines": result.lines,
                "added": result.added,
                "states": result.states,
                "seconds": seconds,
                "rss_mb": rss,
                "rematch_ms": sorted(again)[len(again) // 2],
                "open_list_ms": sorted(opens)[len(opens) // 2],
                "open_rows": len(rows),
                "summary_ms": summary_ms,
                "batches": len(batches),
            }
        )
    )
    ctx.db.dispose()


def bench(name: str, url: str, lines: int, folder: Path) -> None:
    print(f"{name}:")
    report = folder / f"settlement-{name}.csv"
    prepare(url, lines, report)
    out = subprocess.run(
        [sys.executable, __file__, "--import-only", url, str(report)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"  import + match {figures['lines']:,} lines: {figures['seconds']:.1f} s, "
        f"peak RSS {figures['rss_mb']:.0f} MB (budget 60 s, 300 MB)"
    )
    print(f"  states: {figures['states']}")
    print(
        f"  match again after one payment changed: {figures['rematch_ms']:.1f} ms (budget 100 ms)"
    )
    print(
        f"  open exceptions list, first {figures['open_rows']} rows: "
        f"{figures['open_list_ms']:.1f} ms (budget 40 ms)"
    )
    print(f"  summary of {figures['batches']} batches: {figures['summary_ms']:.0f} ms")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--import-only":
        run_import(sys.argv[2], Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PAYDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.db in ("sqlite", "both"):
            bench("sqlite", f"sqlite:///{folder / 'bench.sqlite3'}", args.lines, folder)
        if args.db in ("postgres", "both"):
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            sep = "&" if "?" in args.postgres else "?"
            try:
                bench(
                    "postgres",
                    f"{args.postgres}{sep}options=-csearch_path%3D{schema}",
                    args.lines,
                    folder,
                )
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
