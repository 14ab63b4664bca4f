"""Gateway sync figures (issue 16), on SQLite and Postgres, against the fake gateway on
127.0.0.1 (the tests' server, paged list).

1. First sync of N payments and N webhook logs (default 100,000 each). Budget ≤ 60 s and
   ≤ 250 MB RSS (the figure is this process's peak, the fake gateway included).
2. Incremental sync after 100 payments changed status (each with its webhook log). Budget ≤ 1 s.

    .venv/bin/python bench/gateway_sync.py [--payments 100000] [--page 500]
        [--only sqlite|postgres] [--postgres URL]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import keyring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from each_database import POSTGRES, run_on_each

from core.access import roles
from core.context import Context
from core.gateway import connections, sync
from core.gateway.client import GatewayClient
from core.store.db import open_database
from core.store.migrate import upgrade
from tests.conftest import MemoryKeyring
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(url: str, label: str, n: int, page: int) -> None:
    gw = FakeGateway(Variation(max_limit=page))
    gw.seed(payments=n, logs=n)
    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db)
    roles.ensure_first_admin(ctx, "bench-admin")
    factory = lambda u, k, s: GatewayClient(u, k, s, page_size=page)  # noqa: E731
    connections.add_connection(
        ctx, "bench-admin", "bench", gw.api, API_KEY, API_SECRET, client_factory=factory
    )
    start = time.perf_counter()
    first = sync.sync_connection(ctx, "bench", client_factory=factory)
    took = time.perf_counter() - start
    print(
        f"{label}: first sync of {n:,} payments + {n:,} logs: {took:.1f} s, "
        f"{first.added:,} added, error={first.error}, peak RSS {peak_mb():.0f} MB"
    )
    newest = sorted(gw.state.payments, reverse=True)[:100]
    for pid in newest:
        gw.set_payment_status(pid, "failed")
    # Incremental: what changed is at the head of both lists (newest first).
    start = time.perf_counter()
    inc = sync.sync_connection(ctx, "bench", client_factory=factory)
    took = time.perf_counter() - start
    print(
        f"{label}: sync after 100 changes (full pass): {took:.1f} s, "
        f"{inc.added} added, {inc.updated} updated, error={inc.error}"
    )
    db.dispose()
    gw.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--payments", type=int, default=100_000)
    ap.add_argument("--page", type=int, default=500)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--postgres", default=POSTGRES)
    args = ap.parse_args()
    keyring.set_keyring(MemoryKeyring())
    run_on_each(
        args.only, args.postgres, lambda url, label: run(url, label, args.payments, args.page)
    )


if __name__ == "__main__":
    main()
