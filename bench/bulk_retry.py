"""Bulk retry figures (issue 4), on SQLite and Postgres.

N failed webhook logs (default 100,000) among as many delivered ones, over 10 merchants;
then ``count_matching`` and ``bulk_retry`` (one set-based UPDATE, audited) for every failed
log, as support would run it from the "Retry failed…" dialog. Budget: ≤ 5 s.

    /work/venv/bin/python bench/bulk_retry.py [--logs 100000] [--only sqlite|postgres]
        [--postgres URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.access import roles
from core.context import Context
from core.store.db import open_database
from core.store.migrate import upgrade
from core.store.models import Merchant, WebhookLog
from core.webhooks import deliveries as webhooks
from core.webhooks.events import build_payload

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
MERCHANTS = [f"mer_bulk{i:08d}" for i in range(10)]


def seed(ctx: Context, n_failed: int) -> None:
    roles.ensure_first_admin(ctx, "root")
    roles.set_staff_role(ctx, "root", "sam", "support")
    now = datetime.now(UTC)
    with ctx.db.write() as s:
        s.execute(
            insert(Merchant),
            [
                dict(
                    id=m,
                    name=f"Bulk {i}",
                    email=f"{m}@example.com",
                    webhook_url=f"https://hooks{i}.example/paydesk",
                    webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    webhook_enabled=True,
                    webhook_consecutive_failures=0,
                    created_at=now,
                )
                for i, m in enumerate(MERCHANTS)
            ],
        )
    rows = []
    for i in range(2 * n_failed):
        failed = i % 2 == 0
        log_id = f"msg_{uuid.uuid4().hex[:14]}"
        created = now - timedelta(seconds=2 * n_failed - i)
        rows.append(
            dict(
                id=log_id,
                merchant_id=MERCHANTS[i % len(MERCHANTS)],
                event="payment.captured" if i % 3 else "refund.processed",
                payload=build_payload(
                    log_id, "payment.captured", created, {"payment_id": f"pay_{i}"}
                ),
                entity_id=f"pay_{i:014d}",
                status="failed" if failed else "success",
                attempts=5 if failed else 1,
                round_start=0,
                response_code=500 if failed else 200,
                last_error="HTTP 500 Internal Server Error" if failed else None,
                last_attempt_at=created,
                created_at=created,
                updated_at=created,
            )
        )
        if len(rows) == 10_000:
            with ctx.db.write() as s:
                s.execute(insert(WebhookLog), rows)
            rows = []
    if rows:
        with ctx.db.write() as s:
            s.execute(insert(WebhookLog), rows)


def run(url: str, label: str, n: int) -> None:
    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db, client_id=f"bench-{label}")
    t0 = time.perf_counter()
    seed(ctx, n)
    seeded = time.perf_counter() - t0
    f = webhooks.WebhookFilter(status="failed")
    t0 = time.perf_counter()
    with db.read() as s:
        count = webhooks.count_matching(s, f)
    counted = time.perf_counter() - t0
    t0 = time.perf_counter()
    retried = webhooks.bulk_retry(ctx, "sam", f)
    took = time.perf_counter() - t0
    with db.read() as s:
        pending = s.scalar(
            select(func.count()).select_from(WebhookLog).where(WebhookLog.status == "pending")
        )
    ok = retried == count == n == pending
    print(
        f"{label:8} {n:,} failed of {2 * n:,} logs (seeded in {seeded:.1f} s): "
        f"count {counted * 1000:.0f} ms, bulk retry {took:.2f} s "
        f"({'within' if took <= 5 else 'OVER'} the 5 s budget; "
        f"{retried:,} retried, {pending:,} pending{'' if ok else ' — MISMATCH'})"
    )
    db.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--logs", type=int, default=100_000)
    p.add_argument("--only", choices=("sqlite", "postgres"))
    p.add_argument("--postgres", default=DEFAULT_PG)
    args = p.parse_args()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bulk.sqlite3", "sqlite", args.logs)
    if args.only in (None, "postgres"):
        schema = f"bench_bulk_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in args.postgres else "?"
            run(f"{args.postgres}{sep}options=-csearch_path%3D{schema}", "postgres", args.logs)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as c:
                c.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
