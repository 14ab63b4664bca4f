"""Gateway refunds figure (issue 16): approval → refund POST at the gateway, with the scheduler
running (the processing task wakes on the approval notice). Budget ≤ 2 s median.

The fake gateway of the tests on 127.0.0.1 records when each refund POST arrives; a finance
person approves N refunds of gateway payments one at a time, spaced; the figure is the time
from each approval's commit to its POST at the gateway.

    .venv/bin/python bench/gateway_refunds.py [--refunds 30] [--spacing 0.5]
        [--only sqlite|postgres] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import keyring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from each_database import POSTGRES, run_on_each

from core.access import policy, roles
from core.context import Context
from core.gateway import connections, sync
from core.jobs.scheduler import Scheduler
from core.refunds import processing
from core.refunds import service as rf
from core.store.db import open_database
from core.store.migrate import upgrade
from tests.conftest import MemoryKeyring
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation


def run(url: str, label: str, n: int, spacing: float) -> None:
    gw = FakeGateway(Variation())
    gw.seed(payments=n)
    arrived: dict[str, float] = {}
    serve = gw._serve

    def timed(h: BaseHTTPRequestHandler, body: bytes) -> None:
        if h.command == "POST" and h.path.endswith("/refunds") and "probe" not in h.path:
            key = json.loads(body or b"{}").get("idempotency_key")
            arrived.setdefault(str(key), time.time())
        return serve(h, body)

    gw._serve = timed  # type: ignore[method-assign]
    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db, client_id="bench-copy")
    roles.ensure_first_admin(ctx, "root")
    roles.set_staff_role(ctx, "root", "sam", "support")
    roles.set_staff_role(ctx, "root", "fran", "finance")
    connections.add_connection(ctx, "root", "bench", gw.api, API_KEY, API_SECRET)
    sync.sync_connection(ctx, "bench")
    policy.set_value(ctx, "root", "refund_approval_threshold", "")
    pending = [
        rf.request_refund(ctx, "sam", pid, amount=100, reason="requested_by_customer").id
        for pid in sorted(gw.state.payments)
    ]
    scheduler = Scheduler(ctx, [processing.processing_task()])
    scheduler.start()
    approved: dict[str, float] = {}
    try:
        time.sleep(1.0)
        for rid in pending:
            rf.approve(ctx, "fran", rid)
            approved[rid] = time.time()
            time.sleep(spacing)
        deadline = time.time() + 30
        while len(arrived) < n and time.time() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    took = [arrived[r] - approved[r] for r in pending if r in arrived]
    print(
        f"{label}: approval → refund POST at the gateway, {len(took)}/{n} arrived: "
        f"median {statistics.median(took):.2f} s, max {max(took):.2f} s"
    )
    db.dispose()
    gw.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refunds", type=int, default=30)
    ap.add_argument("--spacing", type=float, default=0.5)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--postgres", default=POSTGRES)
    args = ap.parse_args()
    keyring.set_keyring(MemoryKeyring())
    run_on_each(
        args.only, args.postgres, lambda url, label: run(url, label, args.refunds, args.spacing)
    )


if __name__ == "__main__":
    main()
