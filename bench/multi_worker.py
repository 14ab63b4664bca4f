"""Webhook deliveries per second with several ``paydesk worker`` processes on one Postgres
database (issue 5).

For each count of workers (default 1, 2 and 4), on a fresh schema: 10 merchant endpoints on
a loopback receiver in its own process (the uvicorn + httptools app of
bench/webhook_dispatch.py, which verifies every signature and counts webhook-ids), then
``paydesk --database URL worker`` started that many times, each as it would run on an
always-on box (its own scheduler, dispatcher, connections and LISTEN). Once every worker's
dispatcher has run, a warm-up batch is delivered and not counted; then N due logs (default
20,000) are committed in one transaction, announced with one notice, and the clock runs
until none is pending.

Printed per run: deliveries/s (commit → every outcome recorded), duplicates (requests the
receiver got beyond one per webhook-id), lost (logs the receiver never got), bad signatures,
attempt rows, how the logs were shared between the workers, and the workers' CPU time per
delivery.

    /work/venv/bin/python bench/multi_worker.py [--logs 20000] [--workers 1,2,4]
        [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook_dispatch import DEFAULT_PG, ReceiverProcess, merchant_ids, seed  # noqa: E402

from core import signing  # noqa: E402
from core.context import Context  # noqa: E402
from core.store.db import Database, open_database  # noqa: E402
from core.store.migrate import upgrade  # noqa: E402
from core.store.models import TaskRun, WebhookAttempt, WebhookLog  # noqa: E402
from core.webhooks.events import NewEvent, enqueue_many  # noqa: E402

WARM_UP = 500  # logs per run delivered before the clock starts (connections, pools, caches)
START_TIMEOUT = 60.0
RUN_TIMEOUT = 600.0
POLL = 0.05


def enqueue(ctx: Context, n: int) -> list[str]:
    """``n`` due logs over the bench merchants in one transaction, with one wake-up notice."""
    mids = merchant_ids()
    with ctx.db.write() as s:
        return enqueue_many(
            s,
            (
                NewEvent(
                    mids[i % len(mids)],
                    "payment.captured",
                    {"payment_id": f"pay_{i:014d}", "amount": 1250 + i, "currency": "INR"},
                    f"pay_{i:014d}",
                )
                for i in range(n)
            ),
            now=datetime.now(UTC),
            origin=ctx.client_id,
        )


def pending(db: Database) -> int:
    with db.read() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(WebhookLog).where(WebhookLog.status == "pending")
            )
            or 0
        )


def wait_until(what: str, condition, workers: list[subprocess.Popen], timeout: float) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not condition():
        dead = [w for w in workers if w.poll() is not None]
        if dead:
            raise SystemExit(f"A worker exited with {dead[0].returncode} while waiting for {what}.")
        if time.monotonic() > end:
            raise SystemExit(f"Waited {timeout:.0f} s for {what} in vain.")
        time.sleep(POLL)


def start_workers(url: str, n: int, log_dir: str) -> list[subprocess.Popen]:  # type: ignore[type-arg]
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    procs = []
    for i in range(n):
        with open(os.path.join(log_dir, f"worker-{i}.log"), "wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "desktop.entry", "--database", url, "worker"],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                )
            )
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:  # type: ignore[type-arg]
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def cpu_seconds(procs: list[subprocess.Popen]) -> float:  # type: ignore[type-arg]
    total = 0.0
    for p in procs:
        t = psutil.Process(p.pid).cpu_times()
        total += t.user + t.system
    return total


def run(
    pg_url: str, n_workers: int, n_logs: int, receiver: ReceiverProcess, secrets: dict[str, str]
) -> float:
    schema = f"bench_mw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    db = open_database(url)
    procs: list[subprocess.Popen] = []  # type: ignore[type-arg]
    try:
        upgrade(db)
        ctx = Context(db=db, client_id="bench-multi-worker")
        seed(ctx, receiver, secrets, 0)  # the merchants and their endpoints
        with tempfile.TemporaryDirectory() as log_dir:
            procs = start_workers(url, n_workers, log_dir)

            def dispatchers_up() -> bool:
                with db.read() as s:
                    ran = s.scalar(
                        select(func.count())
                        .select_from(TaskRun)
                        .where(TaskRun.task == "webhook_dispatch")
                    )
                return (ran or 0) >= n_workers

            wait_until("the workers to start", dispatchers_up, procs, START_TIMEOUT)
            enqueue(ctx, WARM_UP * n_workers)
            wait_until("the warm-up", lambda: pending(db) == 0, procs, RUN_TIMEOUT)
            receiver.reset()

            cpu0 = cpu_seconds(procs)
            ids = enqueue(ctx, n_logs)
            t0 = time.perf_counter()
            wait_until("every delivery", lambda: pending(db) == 0, procs, RUN_TIMEOUT)
            elapsed = time.perf_counter() - t0
            cpu = cpu_seconds(procs) - cpu0
            alive = sum(p.poll() is None for p in procs)
            stop_workers(procs)

        got = receiver.stats(ids=True)
        with db.read() as s:
            statuses = dict(
                s.execute(
                    select(WebhookLog.status, func.count())
                    .where(WebhookLog.id.in_(ids))
                    .group_by(WebhookLog.status)
                ).all()
            )
            per_log = Counter(
                s.scalars(
                    select(WebhookAttempt.webhook_log_id).where(
                        WebhookAttempt.webhook_log_id.in_(ids)
                    )
                )
            )
            by_client = Counter(
                s.scalars(
                    select(WebhookAttempt.client).where(WebhookAttempt.webhook_log_id.in_(ids))
                )
            )
    finally:
        stop_workers(procs)
        db.dispose()
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')

    rate = n_logs / elapsed
    duplicates = got["total"] - got["unique"]
    lost = len(set(ids) - set(got["ids"]))
    twice = sum(1 for k in per_log.values() if k > 1)
    shares = " / ".join(f"{k:,}" for k in sorted(by_client.values(), reverse=True))
    print(
        f"{n_workers} worker{'s' if n_workers > 1 else ' '}  {n_logs:,} deliveries in "
        f"{elapsed:6.2f} s = {rate:6.0f}/s   duplicates {duplicates}  lost {lost}  "
        f"bad signatures {got['bad_signatures']}   logs attempted twice {twice}   "
        f"{cpu / n_logs * 1e6:.0f} µs worker CPU per delivery   "
        f"(shares {shares}; statuses {statuses}; {alive}/{n_workers} workers alive)"
    )
    return rate


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--logs", type=int, default=20_000)
    p.add_argument("--workers", default="1,2,4", help="worker counts to run, comma-separated")
    p.add_argument("--postgres", default=DEFAULT_PG)
    args = p.parse_args()
    counts = [int(x) for x in args.workers.split(",") if x.strip()]

    secrets = {m: signing.new_secret() for m in merchant_ids()}
    receiver = ReceiverProcess(secrets)
    print(
        f"{os.cpu_count()} CPUs; receiver: uvicorn + httptools in its own process; "
        f"{len(secrets)} endpoints; each worker: `paydesk worker` (dispatcher concurrency 16, "
        "8 per endpoint)"
    )
    try:
        rates = {n: run(args.postgres, n, args.logs, receiver, secrets) for n in counts}
    finally:
        receiver.close()
    if 1 in rates:
        print(
            "scaling vs 1 worker: "
            + ", ".join(f"{n}: {rates[n] / rates[1]:.2f}×" for n in rates if n != 1)
        )


if __name__ == "__main__":
    main()
